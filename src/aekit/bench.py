"""`aekit bench`: a fixed table of experiments, each row DATA (a config + the published number).

Every row is trained (or, for PCA, fitted exactly) on the training split and measured on the
test split in [0, 1] pixel units: squared error per image (summed over the pixels, the measure
of Hinton & Salakhutdinov 2006, https://www.cs.toronto.edu/~hinton/absps/science.pdf), MSE per
pixel, PSNR, and PCA's squared error at the same number of components. Adding a row is adding a
:class:`BenchRow` to ``ROWS``: no code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from aekit.config import Config
from aekit.data import load_dataset
from aekit.evaluation.evaluate import evaluate, unit_images
from aekit.evaluation.metrics import reconstruction_metrics
from aekit.evaluation.pca import PCABaseline
from aekit.recipes import layered_config

log = logging.getLogger(__name__)

QUICK_NOTE = "unconverged smoke run"  # the label of every trained --quick row
#: training images used by ``--quick`` (and its epochs come from each row's ``quick``)
QUICK_LIMIT = 5000


@dataclass(frozen=True)
class BenchRow:
    name: str  # the row's label in the table
    latent: int  # code size (PCA: number of components)
    recipe: str | None = None  # start from this recipe (`aekit recipes`), then apply `config`
    config: dict[str, Any] = field(default_factory=dict)  # config sections on top of the recipe
    quick: dict[str, Any] = field(default_factory=dict)  # further sections for --quick
    published: str = ""  # the number to compare with, and where it is from
    published_data: str = "mnist"  # the dataset the published number is for
    pca: bool = False  # an exact PCA fit instead of a trained model
    nll_samples: int = 0  # > 0: the importance-sampled NLL on every test image (models with nll())


H06 = "Hinton & Salakhutdinov 2006"
ROWS: list[BenchRow] = [
    BenchRow("PCA", 2, pca=True),
    BenchRow("PCA", 16, pca=True),
    BenchRow("PCA", 30, pca=True, published=f"13.87 ({H06}, PCA)"),
    BenchRow(
        "linear AE",
        16,
        config={
            "model": {"name": "linear", "latent_dim": 16},
            "train": {"epochs": 20, "batch_size": 256, "lr": 3e-3, "schedule": "cosine"},
        },
        quick={"train": {"epochs": 3}},
        published="PCA at 16 (Eckart-Young optimum)",
    ),
    BenchRow(
        "linear AE",
        30,
        config={
            "model": {"name": "linear", "latent_dim": 30},
            "train": {"epochs": 20, "batch_size": 256, "lr": 3e-3, "schedule": "cosine"},
        },
        quick={"train": {"epochs": 3}},
        published="PCA at 30 (Eckart-Young optimum)",
    ),
    BenchRow(
        "deep AE 784-1000-500-250-30",
        30,
        recipe="deep-hinton",
        quick={"train": {"epochs": 2}},
        published=f"3.00 ({H06}, pretrained deep AE); logistic PCA 8.01",
    ),
    BenchRow(
        "conv AE",
        30,
        config={
            "model": {"name": "conv", "latent_dim": 30},
            "train": {"epochs": 10, "batch_size": 128, "lr": 2e-3, "schedule": "onecycle"},
        },
        quick={"train": {"epochs": 1}},
    ),
    BenchRow(
        "denoising conv AE (gaussian 0.5)",
        32,
        recipe="denoise-conv",
        config={"train": {"epochs": 10, "schedule": "onecycle", "lr": 2e-3}},
        quick={"train": {"epochs": 1}},
    ),
    BenchRow(
        "sparse AE (KL, rho 0.05)",
        196,
        recipe="sparse-kl",
        config={"train": {"epochs": 10}},
        quick={"train": {"epochs": 1}},
    ),
    BenchRow(
        "VAE 784-512-256-16, stochastically binarised",
        16,
        recipe="vae-mnist",
        config={
            # pixels drawn as Bernoulli(intensity) every batch; the test set: one seeded draw
            "data": {"binarize": "stochastic"},
            "model": {"latent_dim": 16, "nll_samples": 0},  # the bench measures NLL on test
            "train": {"epochs": 100},  # NLL 91.6 after 30 epochs (RESULTS.md)
        },
        quick={"train": {"epochs": 2}},
        published="89.78 nats NLL (pythae's VAE on binarised MNIST)",
        nll_samples=100,
    ),
]


def row_config(row: BenchRow, data: str, data_dir: str | None, quick: bool, out_dir: str) -> Config:
    """The row's resolved Config: recipe < row config < the bench's data < --quick."""
    common: dict[str, Any] = {
        "data": {"name": data, "data_dir": data_dir},
        "train": {"recon_every": 0, "log_every": 0},
        "run": {"out_dir": out_dir, "name": f"{row.name}-{row.latent}".replace(" ", "_")},
    }
    quick_layers = [{"data": {"limit": QUICK_LIMIT}}, row.quick] if quick else []
    return layered_config(row.config, common, *quick_layers, recipe=row.recipe)


def pca_row(latent: int, train, test, cache: dict, key) -> dict[str, Any]:
    """PCA with ``latent`` components: the test split's errors (one eigendecomposition of the
    training data, cached, serves every k)."""
    t0 = time.perf_counter()
    if ("pca", key) not in cache:
        cache["pca", key] = PCABaseline.fit(unit_images(train), train.x[0].numel())
    full = cache["pca", key]
    k = min(latent, full.k)
    pca = PCABaseline(full.mean, full.components[:k], full.explained_variance[:k])
    x = unit_images(test)
    m = reconstruction_metrics(pca.reconstruct(x), x)
    res = {"epochs": None, "seconds": time.perf_counter() - t0, "pca_sse": None}
    return {**res, **{k: float(m[k].mean()) for k in ("sse_per_image", "mse", "psnr")}}


def run_row(
    row: BenchRow,
    data: str = "mnist",
    data_dir: str | None = None,
    quick: bool = False,
    out_dir: str = "runs/bench",
    cache: dict | None = None,
) -> dict[str, Any]:
    """Train (or fit) one row and measure it on the test split; returns the table's numbers."""
    from aekit.training.trainer import Trainer, load_splits

    cache = cache if cache is not None else {}
    cfg = row_config(row, data, data_dir, quick, out_dir)
    key = (data, data_dir, cfg.data.limit, cfg.data.val_fraction, cfg.data.split_seed)
    if key not in cache:
        train, _ = load_splits(cfg)
        cache[key] = (train, load_dataset(data, data_dir, "test"))
    train, test = cache[key]
    res: dict[str, Any] = {"model": row.name, "latent": row.latent, "published": row.published}
    if data != row.published_data:
        res["published"] = ""
    if row.pca:
        return {**res, **pca_row(row.latent, train, test, cache, key)}
    trainer = Trainer(cfg)
    state = trainer.run()
    ev = evaluate(
        state.model,
        test,
        train,
        binarize=cfg.data.binarize,
        noise=cfg.data.noise,
        noise_level=cfg.data.noise_level,
        nll_samples=row.nll_samples,
        nll_images=len(test),
    )
    res.update(
        epochs=state.epoch,
        seconds=state.history[-1]["time_s"],
        sse_per_image=ev["model"]["sse_per_image"],
        mse=ev["model"]["mse"],
        psnr=ev["model"]["psnr"],
        pca_sse=ev["pca"]["sse_per_image"],
        run_dir=str(state.run_dir),
    )
    extra = []
    if quick:  # a few epochs on 5,000 images: shows the row runs, not what the model reaches
        res["published"] = ""
        extra.append(QUICK_NOTE)
    if "denoising" in ev:
        d = ev["denoising"]
        extra.append(f"PSNR {d['noisy_input']['psnr']:.2f} -> {d['denoised']['psnr']:.2f} dB")
    nll = {k: v for k, v in ev.get("model_metrics", {}).items() if k.startswith("nll_is")}
    extra += [f"{k} {v:.2f}" for k, v in nll.items()]
    if trainer.cfg.train.precision != "fp32":  # chosen by aekit for convolutions, or the row's
        extra.append(f"trained in {trainer.cfg.train.precision} autocast")
    if extra:
        res["extra"] = "; ".join(extra)
    return res


def run_bench(
    rows: list[BenchRow] | None = None,
    data: str = "mnist",
    data_dir: str | None = None,
    quick: bool = False,
    out_dir: str = "runs/bench",
    on_row: Callable[[dict], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every row in order (``on_row`` sees each result as it comes)."""
    cache: dict = {}
    results = []
    for row in rows if rows is not None else ROWS:
        log.info("bench: %s (latent %d)", row.name, row.latent)
        r = run_row(row, data, data_dir, quick, out_dir, cache)
        results.append(r)
        if on_row:
            on_row(r)
    return results


HEADER = [
    "model",
    "latent",
    "epochs",
    "wall time (s)",
    "test squared error / image",
    "MSE / pixel",
    "PSNR (dB)",
    "PCA at same size",
    "published",
    "other",
]


def markdown_table(results: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (squared errors: pixels in [0, 1], summed per image)."""

    def f(v, spec):
        return "" if v is None else format(v, spec)

    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for r in results:
        cells = [
            r["model"],
            str(r["latent"]),
            f(r.get("epochs"), "d"),
            f(r.get("seconds"), ".1f"),
            f(r.get("sse_per_image"), ".2f"),
            f(r.get("mse"), ".5f"),
            f(r.get("psnr"), ".2f"),
            f(r.get("pca_sse"), ".2f"),
            r.get("published", ""),
            r.get("extra", ""),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def header_lines(data: str, quick: bool) -> list[str]:
    import platform

    from aekit._version import __version__

    return [
        f"aekit {__version__}, torch {torch.__version__}, {platform.machine()}, "
        f"{torch.get_num_threads()} threads; data {data}"
        + (f" (--quick: {QUICK_LIMIT} training images)" if quick else ""),
        *(
            [
                "",
                f"--quick: every trained row is an {QUICK_NOTE} (1-3 epochs): it shows that the "
                "row runs, not what the model reaches; published figures are left out. Drop "
                "--quick for the real table.",
            ]
            if quick
            else []
        ),
    ]
