"""Evaluate a trained model: reconstruction metrics beside the PCA baseline with the same
number of components, denoising gains, and the model's own numbers (a VAE's ELBO and NLL)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

from aekit.data import Dataset, binarize_mode, chunks, corrupt, from_range, to_range
from aekit.data import binarize as binarize_images
from aekit.errors import AekitError, DataError
from aekit.evaluation.metrics import reconstruction_metrics
from aekit.evaluation.pca import PCABaseline, over_pca
from aekit.evaluation.prior import CodePrior
from aekit.models.base import eval_mode

log = logging.getLogger(__name__)

#: metric key -> (label, higher is better)
METRICS = {
    "mse": ("MSE per pixel", False),
    "sse_per_image": ("squared error per image", False),
    "bce_per_image": ("BCE per image (nats)", False),
    "psnr": ("PSNR (dB)", True),
    "ssim": ("SSIM", True),
}


def unit_images(data: Dataset, binarize: bool | str = False, seed: int = 0) -> torch.Tensor:
    """All samples as float32 in [0, 1], binarised as the model was trained (``stochastic``: one
    fixed, seeded draw, so that every evaluation sees the same binary images)."""
    g = torch.Generator().manual_seed(seed)
    return binarize_images(data.to_unit(data.x), binarize_mode(binarize), g)


def unit_rows(
    data: Dataset, binarize: bool | str = False, seed: int = 0
) -> Callable[[slice], torch.Tensor]:
    """``rows(slice)``: those samples as :func:`unit_images` gives them, converted a chunk at a
    time, so that the whole set never exists as float32 (full MNIST: 184 MB); with stochastic
    binarisation a slice is always the same draw."""
    mode = binarize_mode(binarize)
    g = torch.Generator()

    def rows(s: slice) -> torch.Tensor:
        g.manual_seed(seed + (s.start or 0))
        return binarize_images(data.to_unit(data.x[s]), mode, g)

    return rows


@torch.no_grad()
def reconstruct_unit(model, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Reconstructions in [0, 1] units of images ``x`` in [0, 1], batched, eval mode, on CPU."""
    pr = model.pixel_range
    out = []
    with eval_mode(model):
        for i in range(0, len(x), batch_size):
            xb = to_range(x[i : i + batch_size].to(model.device), pr)
            out.append(from_range(model.reconstruct(xb), pr).float().cpu())
    return torch.cat(out)


@torch.no_grad()
def encode_unit(model, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Codes (N, L) of images ``x`` in [0, 1], batched, eval mode, on CPU."""
    with eval_mode(model):
        out = [
            model.encode(to_range(x[i : i + batch_size].to(model.device), model.pixel_range)).cpu()
            for i in range(0, len(x), batch_size)
        ]
    return torch.cat(out)


@torch.no_grad()
def decode_unit(model, z: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Images in [0, 1] (N, *input_shape) decoded from codes (N, L)."""
    if z.dim() != 2 or z.shape[1] != model.latent_dim:
        raise DataError(
            f"codes must have shape (N, {model.latent_dim}) for this model; got {tuple(z.shape)}"
        )
    with eval_mode(model):
        out = [
            from_range(
                model.decode(z[i : i + batch_size].float().to(model.device)), model.pixel_range
            )
            .float()
            .cpu()
            for i in range(0, len(z), batch_size)
        ]
    return torch.cat(out)


def has_own_prior(model) -> bool:
    """Whether the model samples from a prior of its own (a VAE does; a plain AE does not)."""
    return model.has_prior


@torch.no_grad()
def sample_unit(model, n: int, seed: int = 0, prior: CodePrior | None = None) -> torch.Tensor:
    """n generated images in [0, 1]: from the model's own prior (VAEs) or, for plain
    autoencoders, decoded from codes drawn from ``prior`` (fitted to the training codes: a
    run folder's ``Run.prior()``)."""
    if has_own_prior(model):
        g = torch.Generator(device=model.device).manual_seed(seed)
        with eval_mode(model):
            return from_range(model.sample(n, generator=g), model.pixel_range).float().cpu()
    if prior is None:
        raise AekitError(
            "a plain autoencoder needs a prior fitted to its training codes; load it from a "
            "run folder (aekit.Run.load(run_dir).sample(n)) so one can be fitted"
        )
    return decode_unit(model, prior.sample(n, torch.Generator().manual_seed(seed)))


#: test images evaluated at a time: the float copies (images, reconstructions, PCA's, noisy
#: inputs) exist for one chunk, never for the whole split (a memory-mapped .npy may be larger
#: than memory). MNIST's 10,000 test images are one chunk.
EVAL_CHUNK = 16384


def _means(per_image: dict[str, list[torch.Tensor]]) -> dict[str, float]:
    """Each metric's mean over every image, from its per-chunk (B,) tensors; BCE only where
    every chunk had it (all reconstructions in [0, 1])."""
    n = max(len(v) for v in per_image.values())
    return {k: float(torch.cat(v).mean()) for k, v in per_image.items() if len(v) == n}


def _add(acc: dict[str, list[torch.Tensor]], metrics: dict[str, torch.Tensor]) -> None:
    for k, v in metrics.items():
        acc.setdefault(k, []).append(v)


def _chunk_metrics(
    model, test: Dataset, binarize, pca, noise: tuple[str, float], seed: int, chunk: int
) -> tuple[dict[str, dict[str, list[torch.Tensor]]], torch.Tensor]:
    """Per-image metrics of the model (and PCA, and the noisy and denoised images when there
    is noise) over ``test``, read ``chunk`` images at a time; and the first chunk's images."""
    acc: dict[str, dict[str, list[torch.Tensor]]] = {"model": {}, "pca": {}, "noisy": {}, "den": {}}
    rows, first = unit_rows(test, binarize), None
    for part in chunks(len(test), chunk):
        x = rows(part)
        first = x if first is None else first
        _add(acc["model"], reconstruction_metrics(reconstruct_unit(model, x), x))
        if pca is not None:  # float64, 2,048 images at a time: 10,000 at once took 450 MB more
            parts = [pca.decode(pca.encode(x[c])).reshape(x[c].shape) for c in chunks(len(x), 2048)]
            _add(acc["pca"], reconstruction_metrics(torch.cat(parts), x))
        if noise[0] != "none" and noise[1] > 0:
            g = torch.Generator().manual_seed(seed + part.start)
            noisy = corrupt(x, noise[0], noise[1], g)
            _add(acc["noisy"], reconstruction_metrics(noisy, x))
            _add(acc["den"], reconstruction_metrics(reconstruct_unit(model, noisy), x))
    return acc, first


@torch.no_grad()
def evaluate(
    model,
    test: Dataset,
    train: Dataset | None = None,
    *,
    binarize: bool | str = False,
    noise: str = "none",
    noise_level: float = 0.0,
    nll_samples: int = 0,
    nll_images: int = 1000,
    seed: int = 0,
    chunk: int = EVAL_CHUNK,
) -> dict[str, Any]:
    """Metrics of ``model`` on ``test``, all in [0, 1] pixel units whatever the model's range.

    ``train`` fits the PCA baseline (k = the model's latent size); the result holds
    ``ratio_to_pca`` = the model's squared error / PCA's (below 1: the model beats PCA).
    ``noise``: also measure denoising of inputs corrupted so (seeded). ``nll_samples`` > 0 and
    a model with ``nll(x, k)``: the importance-sampled NLL on the first ``nll_images`` images.
    The test images are read and converted ``chunk`` at a time (stochastic binarisation and
    noise are drawn per chunk, seeded by its first row).
    """
    if len(test) == 0:
        raise ValueError("evaluate() needs at least one test sample")
    pca = None
    if train is not None:
        pca = PCABaseline.fit_rows(unit_rows(train, binarize), len(train), model.latent_dim)
    denoise = noise != "none" and noise_level > 0
    acc, first = _chunk_metrics(model, test, binarize, pca, (noise, noise_level), seed, chunk)
    res: dict[str, Any] = {
        "dataset": test.name,
        "split": test.split,
        "n_images": len(test),
        "pixel_units": "[0, 1]",
        "model": _means(acc["model"]),
    }
    if pca is not None:
        res["pca"] = {"k": pca.k, **_means(acc["pca"])}
        ratio = over_pca(res["model"]["sse_per_image"], res["pca"]["sse_per_image"])
        if ratio is not None:
            res["ratio_to_pca"] = ratio
    if denoise:
        res["denoising"] = {
            "noise": noise,
            "noise_level": noise_level,
            "noisy_input": _means(acc["noisy"]),
            "denoised": _means(acc["den"]),
        }
    own = _own_metrics(model, first[:nll_images], nll_samples, seed)
    if own:
        res["model_metrics"] = own
    return res


def _own_metrics(model, x: torch.Tensor, nll_samples: int, seed: int) -> dict[str, Any]:
    """The model's own numbers on images ``x`` in [0, 1] (a VAE's ELBO terms; with
    ``nll_samples`` its importance-sampled NLL). Their sampled codes are repeatable: drawn
    after seeding a fork of the global generator, so the caller's random state is untouched."""
    xr = to_range(x, model.pixel_range).to(model.device)
    cuda = [model.device.index or 0] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda), eval_mode(model):
        torch.manual_seed(seed)
        own = {k.removeprefix("val_"): v for k, v in model.val_metrics(xr, xr).items()}
        if nll_samples > 0 and model.variational:
            own[f"nll_is{nll_samples}_nats"] = float(model.nll(xr, k=nll_samples).mean())
            own["nll_images"] = len(xr)
    return own


def metrics_table(res: dict[str, Any]) -> list[list[str]]:
    """Rows [metric, model, PCA, model - PCA or model / PCA] for printing or the HTML report."""
    pca = res.get("pca")
    head = ["metric", "model", f"PCA ({pca['k']} comp.)" if pca else "PCA", "model / PCA"]
    rows = [head]
    for key, (label, _) in METRICS.items():
        if key not in res["model"]:
            continue
        m = res["model"][key]
        p = pca.get(key) if pca else None
        r = over_pca(m, p) if p and key in ("mse", "sse_per_image", "bce_per_image") else None
        ratio = "" if r is None else f"{r:.3f}"
        rows.append([label, f"{m:.4g}", "" if p is None else f"{p:.4g}", ratio])
    for k, v in res.get("model_metrics", {}).items():
        rows.append([k, f"{v:.4g}" if isinstance(v, float) else str(v), "", ""])
    d = res.get("denoising")
    if d:
        for key in ("psnr", "ssim"):
            if key in d["denoised"]:
                rows.append(
                    [
                        f"{METRICS[key][0]}: noisy input -> denoised",
                        f"{d['noisy_input'][key]:.4g} -> {d['denoised'][key]:.4g}",
                        "",
                        "",
                    ]
                )
    return rows


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
