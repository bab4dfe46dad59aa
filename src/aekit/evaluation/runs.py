"""Run-folder glue for evaluation and use: the run's data splits, eval.json, the fitted prior."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from aekit.data import Dataset, chunks, from_range, has_test_split, load_dataset
from aekit.errors import AekitError, DataError
from aekit.evaluation.evaluate import evaluate, reconstruct_unit, unit_rows
from aekit.evaluation.prior import CodePrior
from aekit.training.run_dir import atomic_write_text, load_model, read_run_config

log = logging.getLogger(__name__)

EVAL = "eval.json"
PRIOR = "prior.json"


def run_data(
    run: str | Path | dict,
    split: str = "test",
    data: str | None = None,
    data_dir: str | None = None,
) -> Dataset:
    """A split of the run's dataset (or of ``data``), loaded exactly as training loaded it.

    "test" falls back to the validation split when the dataset has no official test set, and
    "val" to the training data when the run held none out.
    """
    info = run if isinstance(run, dict) else read_run_config(run)
    d = info["config"]["data"]
    name = data or d["name"]
    ddir = data_dir or d.get("data_dir")
    if split == "test" and not has_test_split(name, ddir):
        split = "val"
    if split == "val" and not d.get("val_fraction"):
        split = "train"
    kw = dict(
        val_fraction=d.get("val_fraction", 0.1),
        split_seed=d.get("split_seed", 0),
        image_size=d.get("image_size"),
        grayscale=d.get("grayscale"),
        limit=d.get("limit") if split != "test" else None,
    )
    if data and len(info["input_shape"]) == 3:  # other images: match the model's shape
        kw["grayscale"] = info["input_shape"][0] == 1
        kw["image_size"] = kw["image_size"] or list(info["input_shape"][1:])
    ds = load_dataset(name, ddir, split, **kw)
    if list(ds.sample_shape) != list(info["input_shape"]):
        raise DataError(
            f"{name} has samples of shape {list(ds.sample_shape)} but the model takes "
            f"{info['input_shape']}; pass data of that shape (for images: --image-size H W)"
        )
    return ds


def evaluate_run(
    run_dir: str | Path,
    data: str | None = None,
    data_dir: str | None = None,
    split: str = "test",
    nll_samples: int = 0,
    model=None,
    write: bool = True,
) -> dict[str, Any]:
    """Evaluate a run on its test split (or ``split``/``data``) against PCA fitted on the run's
    own training data; writes run_dir/eval.json. Returns the result dict."""
    run_dir = Path(run_dir)
    model = model if model is not None else load_model(run_dir)
    info = read_run_config(run_dir)
    d = info["config"]["data"]
    test = run_data(info, split, data, data_dir)
    train = run_data(info, "train")
    res = evaluate(
        model,
        test,
        train,
        binarize=d.get("binarize", False),
        noise=d.get("noise", "none"),
        noise_level=d.get("noise_level", 0.0),
        nll_samples=nll_samples,
        seed=info["config"]["train"].get("seed", 0),
    )
    if write:
        atomic_write_text(run_dir / EVAL, json.dumps(res, indent=2))
    return res


def has_own_prior(model) -> bool:
    """Whether the model samples from a prior of its own (a VAE does; a plain AE does not)."""
    try:
        model.sample(1, torch.Generator(device=model.device).manual_seed(0))
    except NotImplementedError:
        return False
    return True


@torch.no_grad()
def fit_prior(
    run_dir: str | Path, model=None, kind: str = "gaussian", n_components: int = 10
) -> CodePrior:
    """Fit a density to the codes of the run's training data and store it as prior.json."""
    run_dir = Path(run_dir)
    model = model if model is not None else load_model(run_dir)
    info = read_run_config(run_dir)
    train = run_data(info, "train")
    rows = unit_rows(train, info["config"]["data"].get("binarize", False))
    codes = torch.cat([encode_unit(model, rows(s)) for s in chunks(len(train))])
    prior = CodePrior.fit(codes, kind, n_components, seed=info["config"]["train"].get("seed", 0))
    prior.save(run_dir / PRIOR)
    return prior


def load_prior(run_dir: str | Path, model=None) -> CodePrior:
    """The run's stored prior; fitted (a Gaussian) and stored on first use."""
    p = Path(run_dir) / PRIOR
    if p.is_file():
        return CodePrior.load(p)
    return fit_prior(run_dir, model)


@torch.no_grad()
def encode_unit(model, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Codes (N, L) of images ``x`` in [0, 1], batched, eval mode, on CPU."""
    from aekit.data import to_range

    model.eval()
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
    model.eval()
    out = [
        from_range(model.decode(z[i : i + batch_size].float().to(model.device)), model.pixel_range)
        .float()
        .cpu()
        for i in range(0, len(z), batch_size)
    ]
    return torch.cat(out)


@torch.no_grad()
def sample_unit(model, n: int, seed: int = 0, run_dir: str | Path | None = None) -> torch.Tensor:
    """n generated images in [0, 1]: from the model's own prior (VAEs) or, for plain
    autoencoders, from the prior fitted to the training codes (prior.json in the run)."""
    g = torch.Generator(device=model.device).manual_seed(seed)
    if has_own_prior(model):
        return from_range(model.sample(n, generator=g), model.pixel_range).float().cpu()
    run_dir = run_dir or getattr(model, "run_dir", None)
    if run_dir is None:
        raise AekitError(
            "a plain autoencoder needs a prior fitted to its training codes; load it from a "
            "run folder (aekit.load(run_dir)) so one can be fitted"
        )
    prior = load_prior(run_dir, model)
    return decode_unit(model, prior.sample(n, torch.Generator().manual_seed(seed)))


__all__ = [
    "decode_unit",
    "encode_unit",
    "evaluate_run",
    "fit_prior",
    "has_own_prior",
    "load_prior",
    "reconstruct_unit",
    "run_data",
    "sample_unit",
]
