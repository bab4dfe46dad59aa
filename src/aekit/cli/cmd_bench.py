"""`aekit bench`: the fixed table of experiments (aekit.bench.ROWS) as a Markdown table."""

from __future__ import annotations

import sys
from pathlib import Path


def add_parser(sub) -> list[str]:
    p = sub.add_parser(
        "bench",
        help="run the benchmark table (PCA, linear, deep, conv, denoising, sparse AEs, VAE) "
        "and write a Markdown table",
        description="Train every row of aekit.bench.ROWS, measure it on the test split, and "
        "compare with PCA and the published numbers.",
    )
    p.add_argument("--data", default="mnist", help="mnist or fashion-mnist (default: mnist)")
    p.add_argument("--data-dir", help="folder with the IDX files, e.g. ../shared/datasets/mnist")
    p.add_argument(
        "--quick",
        action="store_true",
        help="5,000 training images and 1-3 epochs per row: unconverged smoke runs, labelled so",
    )
    p.add_argument("--only", help="rows whose model name contains this text (e.g. PCA, deep)")
    p.add_argument("--out", help="Markdown file to write (default: bench-DATA[-quick].md)")
    p.add_argument("--runs", default="runs/bench", help="where the rows' run folders go")
    return ["bench"]


def run(args) -> int:
    from aekit.bench import ROWS, header_lines, markdown_table, run_bench
    from aekit.errors import ConfigError

    rows = [r for r in ROWS if not args.only or args.only.lower() in r.name.lower()]
    if not rows:
        names = sorted({r.name for r in ROWS})
        raise ConfigError(f"--only {args.only!r} matches no row; rows: {', '.join(names)}")

    def show(r: dict) -> None:
        sse = r.get("sse_per_image")
        print(
            f"{r['model']} ({r['latent']}): {sse:.2f} squared error per test image", file=sys.stderr
        )

    results = run_bench(rows, args.data, args.data_dir, args.quick, args.runs, on_row=show)
    text = "\n".join(header_lines(args.data, args.quick)) + "\n\n" + markdown_table(results) + "\n"
    out = Path(args.out or f"bench-{args.data}{'-quick' if args.quick else ''}.md")
    out.write_text(text)
    print(text, end="")
    print(f"written: {out}")
    return 0
