"""Tiny trained runs (sklearn digits 8x8, a couple of epochs), trained once per test session
and shared by the evaluation, figure, report and use tests."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from conftest import with_end_plots

import aekit

_ROOT = Path(tempfile.mkdtemp(prefix="aekit-tiny-runs-"))

SPECS = {
    # name: (model section, extra data keys); "denoise" also covers [-1, 1] pixels
    "mlp": ({"name": "mlp", "hidden": [32], "latent_dim": 2}, {}),
    "conv": ({"name": "conv", "channels": [8, 16], "latent_dim": 4}, {}),
    "denoise": (
        {"name": "mlp", "hidden": [32], "latent_dim": 8},
        {"noise": "gaussian", "noise_level": 0.3, "pixel_range": "-11"},
    ),
}


@functools.cache
def tiny_run(name: str) -> Path:
    """The run folder of a tiny model on digits, with every end-of-run file (report included)."""
    model, data = SPECS[name]
    with with_end_plots():  # built by whichever test asks first, maybe one without them
        run = _train(name, model, data)
    return run.run_dir


def _train(name: str, model: dict, data: dict) -> aekit.Run:
    return aekit.train(
        {
            "data": {"name": "digits", **data},
            "model": model,
            "train": {"epochs": 2, "batch_size": 64, "recon_every": 1, "lr": 3e-3},
            "run": {
                "out_dir": str(_ROOT),
                "name": name,
                "after": ["decode:0.5,-0.5"] if name == "mlp" else [],
            },
        }
    )
