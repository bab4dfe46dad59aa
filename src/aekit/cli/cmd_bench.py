"""`aekit bench`: the fixed table of experiments (aekit.bench.ROWS) as a Markdown table, or
with ``--task oneclass`` the one-class anomaly benchmark (aekit.oneclass)."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path

from aekit.run import atomic_write_text, file_in_the_way


def add_parser(sub) -> list[str]:
    p = sub.add_parser(
        "bench",
        help="run the benchmark table (PCA, linear, deep, conv, denoising, sparse AEs, VAE) "
        "and write a Markdown table",
        description="Train every row of aekit.bench.ROWS, measure it on the test split, and "
        "compare with PCA and the published numbers.",
    )
    p.add_argument(
        "--task",
        choices=["reconstruction", "oneclass"],
        default="reconstruction",
        help="reconstruction: the model table (default); oneclass: train on one class, AUROC "
        "on the test set (Ruff et al. 2018)",
    )
    p.add_argument(
        "--data",
        "--dataset",
        default="mnist",
        choices=["mnist", "fashion-mnist"],
        help="the 28x28 sets the rows and the published numbers are for (default: mnist)",
    )
    p.add_argument("--data-dir", help="folder with the IDX files, e.g. ../shared/datasets/mnist")
    p.add_argument(
        "--quick",
        action="store_true",
        help="5,000 training images and 1-3 epochs per row: unconverged smoke runs, labelled so",
    )
    p.add_argument("--only", help="rows whose model name contains this text (e.g. PCA, deep)")
    p.add_argument("--out", help="Markdown file to write (default: bench-DATA[-quick].md)")
    p.add_argument("--runs", default="runs/bench", help="where the rows' run folders go")
    g = p.add_argument_group("--task oneclass")
    g.add_argument("--classes", help="normal classes, e.g. 0,1 (default: all)")
    g.add_argument("--seeds", type=int, default=3, help="seeds per class (default: 3)")
    g.add_argument("--epochs", type=int, help="epochs of aekit's model (default: its own)")
    g.add_argument("--peers", help="side-by-side detectors, comma-separated, or none")
    g.add_argument("--no-vae", action="store_true", help="skip the VAE's likelihood scores")
    return ["bench"]


def out_path(given: str | None, default: str) -> Path:
    """The Markdown file to write, checked (and its folder made) before hours of training."""
    from aekit.errors import ConfigError

    out = Path(given or default)
    if out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a folder; name a file, e.g. {out / default}")
    if (in_way := file_in_the_way(out.parent)) is not None:
        raise ConfigError(f"--out {str(out)!r}: {str(in_way)!r} is a file, not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)  # as `aekit train --out` makes its folder
    if not os.access(out.parent, os.W_OK):
        raise ConfigError(f"--out {str(out)!r}: cannot write in {str(out.parent)!r}")
    return out


def run(args) -> int:
    if args.task == "oneclass":
        return run_oneclass(args)
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

    out = out_path(args.out, f"bench-{args.data}{'-quick' if args.quick else ''}.md")
    results = run_bench(rows, args.data, args.data_dir, args.quick, args.runs, on_row=show)
    text = "\n".join(header_lines(args.data, args.quick)) + "\n\n" + markdown_table(results) + "\n"
    atomic_write_text(out, text)
    print(text, end="")
    print(f"written: {out}")
    return 0


def run_oneclass(args) -> int:
    from aekit.errors import ConfigError
    from aekit.oneclass import PEERS, OneClassConfig, markdown_table, run_oneclass

    cfg = OneClassConfig()
    try:
        classes = [int(c) for c in args.classes.split(",")] if args.classes else None
    except ValueError:
        raise ConfigError(
            f"--classes {args.classes!r}: give class ids, e.g. --classes 0,1"
        ) from None
    if classes and not all(0 <= c <= 9 for c in classes):  # before any download
        raise ConfigError(f"--classes {args.classes!r}: {args.data} has the classes 0 to 9")
    if args.seeds < 1 or (args.epochs is not None and args.epochs < 1):
        raise ConfigError("--seeds and --epochs must be at least 1, e.g. --seeds 1 --epochs 2")
    if args.epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=args.epochs)
    if args.no_vae:
        cfg = dataclasses.replace(cfg, vae=None)
    if args.peers is not None:
        peers = () if args.peers == "none" else tuple(p.strip() for p in args.peers.split(","))
        if set(peers) - set(PEERS):
            raise ConfigError(f"--peers {args.peers!r}: choose from {', '.join(PEERS)} or none")
        cfg = dataclasses.replace(cfg, peers=peers)

    def show(rows: list[dict]) -> None:
        r0 = rows[0]
        cells = ", ".join(f"{r['detector']} {r['auroc']:.1f}" for r in rows)
        print(f"class {r0['class']} seed {r0['seed']}: {cells}", file=sys.stderr)

    out = out_path(args.out, f"bench-oneclass-{args.data}.md")
    start = time.perf_counter()
    rows = run_oneclass(args.data, args.data_dir, classes, range(args.seeds), cfg, on_rows=show)
    text = (
        f"One-class AUROC (%) on {args.data}, mean±std over {args.seeds} seed(s); "
        f"{time.perf_counter() - start:.0f} s in all\n\n{markdown_table(rows, args.data)}\n"
    )
    atomic_write_text(out, text)
    print(text, end="")
    print(f"written: {out}")
    return 0
