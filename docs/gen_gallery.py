"""Make the Learn pages' figures and numbers from real runs of aekit's recipes.

    python docs/gen_gallery.py --quick        # what made the committed gallery (shared 2-core CPU)
    python docs/gen_gallery.py                # every recipe at its own epochs
    python docs/gen_gallery.py --only vae     # one page
    python docs/gen_gallery.py --quick --keep runs/gallery   # keep the run folders (and reports)

For each Learn page it runs `aekit train --recipe NAME` on the built-in mnist5k digits (or the
recipe's own data), draws the extra figures with `aekit plot`, and writes into docs/gallery/:
<page>/*.png (palette PNGs, a few tens of kB) and <page>.md, a snippet the page includes with the
exact commands, the settings, the numbers from each run's config.json and the figures.
gallery.json records the command line, the date, the machine load and aekit's version.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
GALLERY = ROOT / "docs" / "gallery"


def page(recipe: str, figures: list, quick: int | None = None, plots: dict | None = None, **kw):
    """A Learn page: its recipe, the figures it shows as (variant or None, plots/ file,
    caption), epochs in --quick mode (None: the recipe's own) and extra `aekit plot` kinds per
    variant (None: every run)."""
    return dict(recipe=recipe, figures=figures, quick=quick, plots=plots or {}, **kw)


# page slug -> its page (see page())
PAGES = {
    "plain": page(
        "quickstart",
        [
            (None, "recon.png", "validation digits (top) over their reconstructions (bottom)"),
            (None, "loss.png", "training and validation loss"),
            (None, "latent.png", "the 16-number codes of the validation digits, PCA-projected"),
        ],
        plots={None: ["latent", "traversal"]},
    ),
    "linear-pca": page("linear-sgd", [(None, "loss.png", "the loss at each full-batch SGD step")]),
    "under-over": page(
        "under-over",
        [
            ("latent30", "weights_encoder.png", "latent30: first-layer weights, one tile per unit"),
            (
                "latent500-denoising",
                "weights_encoder.png",
                "latent500-denoising: first-layer weights",
            ),
            ("latent500-denoising", "recon.png", "latent500-denoising: noisy / recon / clean"),
        ],
    ),
    "denoising": page(
        "denoise-conv", [(None, "recon.png", "noisy input / reconstruction / clean image")]
    ),
    "sparse": page(
        "sparse-kl",
        [
            (None, "weights_encoder.png", "first-layer weights of the 196 code units"),
            (None, "recon.png", "validation digits over their reconstructions"),
        ],
    ),
    "contractive": page(
        "contractive",
        [
            ("cae", "weights_encoder.png", "cae (lambda 0.1): first-layer weights"),
            ("no-penalty", "weights_encoder.png", "no-penalty: first-layer weights"),
        ],
    ),
    "stacked": page(  # the variants set their own epochs: greedy 3x5 + 10, end-to-end 25
        "stacked-greedy",
        [
            ("greedy", "loss.png", "greedy: the fine-tuning loss after pretraining"),
            ("end-to-end", "loss.png", "end-to-end: the loss from a random start"),
            ("greedy", "recon.png", "greedy: reconstructions"),
        ],
    ),
    "conv": page(
        "conv-mnist",
        [
            (None, "recon.png", "validation digits over their reconstructions"),
            (None, "loss.png", "training and validation loss"),
        ],
        quick=10,
    ),
    "latent2d": page(
        "convT-bn-latent2",
        [
            (None, "latent.png", "the 2-D codes of the validation digits, coloured by label"),
            (None, "manifold.png", "decodings of a regular grid of 2-D codes"),
            (None, "decode_chosen.png", "the decoding of one chosen code (below)"),
            (None, "recon.png", "validation digits over their reconstructions"),
        ],
        plots={None: ["manifold"]},
        decode_class=7,  # decode the mean code of the validation 7s, written as --z
    ),
    "vae": page(
        "vae-mnist",
        [
            ("z2", "latent.png", "z2: posterior means of the validation digits"),
            ("z2", "manifold.png", "z2: decodings of a grid over the prior"),
            ("z16", "samples.png", "z16: samples from the prior N(0, I)"),
            ("z16", "interpolation.png", "z16: decoded along a line between two codes"),
        ],
        quick=10,
    ),
}

# numbers shown on the pages, from config.json's result, with the words a reader needs
NUMBERS = [
    ("val_mse", "validation MSE per pixel"),
    ("pca_val_mse", "PCA at the same code size"),
    ("val_mse_over_pca", "model / PCA (below 1: better than PCA)"),
    ("train_mse_over_pca", "train MSE / PCA's"),
    ("pca_max_principal_angle_deg", "largest angle to the principal subspace (degrees)"),
    ("psnr_noisy_input_db", "PSNR of the noisy input (dB)"),
    ("psnr_reconstruction_db", "PSNR of the reconstruction (dB)"),
    ("code_mean_activation", "mean code activation"),
    ("code_near_zero_fraction", "fraction of code values near 0"),
    ("jacobian_frobenius", "mean encoder Jacobian norm"),
    ("val_mse_after_stacking", "validation MSE right after pretraining"),
    ("val_recon_nats", "reconstruction term (nats per image)"),
    ("val_kl_nats", "KL term (nats per image)"),
    ("val_neg_elbo_nats", "negative ELBO = the two terms' sum (nats per image)"),
    ("val_nll_is100_nats", "NLL -log p(x), k = 100 (nats per image; at most the -ELBO)"),
    ("epochs", "epochs"),
]


def aekit(*args: str) -> list[str]:
    return [sys.executable, "-m", "aekit.cli.main", *args]


def run(cmd: list[str], env: dict) -> None:
    print("$", " ".join(shlex.quote(c) for c in cmd[2:]), flush=True)
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)


def small_png(src: Path, dst: Path, width: int = 640) -> None:
    """Copy a figure as a palette PNG at most ``width`` pixels wide (a few tens of kB)."""
    img = Image.open(src).convert("RGB")
    if img.width > width:
        img = img.resize((width, round(img.height * width / img.width)), Image.Resampling.LANCZOS)
    dst.parent.mkdir(parents=True, exist_ok=True)
    img.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(dst, optimize=True)


def run_dirs(out: Path, slug: str, recipe: str) -> dict[str | None, Path]:
    """Variant name (None when the recipe has none) -> its run folder, in the recipe's order."""
    sys.path.insert(0, str(ROOT / "src"))
    from aekit.recipes import recipe_variants

    names = [v for v, _ in recipe_variants(recipe)]
    return {v: out / (f"{slug}-{v}" if v else slug) for v in names}


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def page_snippet(slug: str, page: dict, cmd: str, dirs: dict, quick: bool) -> str:
    recipe = page["recipe"]
    epochs = page["quick"] if quick else None
    lines = [
        "```bash",
        f"aekit train --recipe {recipe}" + (f" --epochs {epochs}" if epochs else ""),
        "```",
        "",
        f"The figures and numbers below were made by `{cmd}` with that command "
        + (
            f"(**{epochs} epochs** instead of the recipe's own, to fit a shared 2-core CPU; "
            f"drop `--epochs` for the recipe's full run)"
            if epochs
            else "(the recipe's own settings)"
        )
        + ", on one CPU thread. The same command with one thread gives the same numbers; other"
        " thread counts and machines differ in the last digits.",
        "",
    ]
    results = {
        v: json.loads((d / "config.json").read_text()).get("result", {}) for v, d in dirs.items()
    }
    keys = [(k, w) for k, w in NUMBERS if any(k in r for r in results.values())]
    cols = [v for v in dirs]
    head = ["number", *[(v or recipe) for v in cols]]
    lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for k, words in keys:
        cells = [fmt(results[v][k]) if k in results[v] else "" for v in cols]
        lines.append(f"| {words} | " + " | ".join(cells) + " |")
    lines.append("")
    for variant, name, caption in page["figures"]:
        stem = f"{variant}-{name}" if variant else name
        lines += [f"![{caption}](../gallery/{slug}/{stem})", "", f"*{caption}*", ""]
    return "\n".join(lines)


def decode_class_mean(run_dir: Path, label: int, env: dict) -> str:
    """Decode the mean validation code of one class with `aekit generate --z`; the page's text."""
    import numpy as np

    codes = run_dir / "codes_val.npy"
    run(aekit("encode", str(run_dir), "--split", "val", "--out", str(codes)), env)
    z = np.load(codes)[np.load(run_dir / "codes_val_labels.npy") == label].mean(0)
    zs = [f"{v:.2f}" for v in z]
    out = run_dir / "plots" / "decode_chosen.png"
    run(aekit("generate", str(run_dir), "--z", *zs, "--scale", "4", "--out", str(out)), env)
    return (
        f"The chosen code is the mean code of the validation {label}s, z = ({', '.join(zs)}), "
        f"decoded with\n`aekit generate runs/NAME --z {' '.join(zs)} --scale 4 --out digit.png`.\n"
    )


def make_page(
    slug: str, page: dict, quick: bool, out: Path, env: dict, cmd: str, reuse: bool
) -> None:
    out = out / slug
    if not (reuse and out.is_dir()):
        args = ["train", "--recipe", page["recipe"], "--name", slug, "--out", str(out)]
        if quick and page["quick"]:
            args += ["--epochs", str(page["quick"])]
        run(aekit(*args, "--no-progress"), env)
    dirs = run_dirs(out, slug, page["recipe"])
    for variant, d in dirs.items():
        kinds = page["plots"].get(variant, page["plots"].get(None, []))
        if kinds and not reuse:
            run(aekit("plot", str(d), *sum((["--kind", k] for k in kinds), [])), env)
    chosen = (
        decode_class_mean(dirs[None], page["decode_class"], env) if "decode_class" in page else ""
    )
    dest = GALLERY / slug
    shutil.rmtree(dest, ignore_errors=True)
    for variant, name, _ in page["figures"]:
        stem = f"{variant}-{name}" if variant else name
        small_png(dirs[variant] / "plots" / name, dest / stem)
    (GALLERY / f"{slug}.md").write_text(page_snippet(slug, page, cmd, dirs, quick) + chosen)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer epochs where the page says so")
    p.add_argument("--only", nargs="*", choices=sorted(PAGES), help="these pages only")
    p.add_argument("--keep", help="keep the run folders in this folder (default: a temp folder)")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="with --keep: use the run folders already there (rewrite the pages, train nothing)",
    )
    args = p.parse_args(argv)
    cmd = "python docs/gen_gallery.py" + (" --quick" if args.quick else "")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.setdefault("OMP_NUM_THREADS", "1")  # a shared machine: one thread is faster than two
    GALLERY.mkdir(parents=True, exist_ok=True)
    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="aekit-gallery-"))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    for slug in args.only or PAGES:
        make_page(slug, PAGES[slug], args.quick, out, env, cmd, args.reuse and bool(args.keep))
    record_path = GALLERY / "gallery.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    for slug in [] if args.reuse else args.only or PAGES:
        record[slug] = {
            "command": cmd,
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "load_average": os.getloadavg()[0],
            "threads": env["OMP_NUM_THREADS"],
        }
    record_path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"gallery written to {GALLERY} in {time.time() - t0:.0f} s", flush=True)
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
