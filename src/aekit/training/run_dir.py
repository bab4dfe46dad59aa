"""Writing a new run folder: config.json + model.safetensors + metrics.jsonl (+ checkpoint/,
plots/). Reading one is :class:`aekit.Run` (``aekit/run.py``), which never unpickles: weights
are safetensors, configs JSON, optimiser state is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

# the file names and the read side live with aekit.Run; importable from here as before
from aekit.run import (  # noqa: F401
    CONFIG,
    METRICS,
    WEIGHTS,
    atomic_write_text,
    load_model,
    read_metrics,
    read_run_config,
)


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """Weights (and buffers, e.g. BatchNorm statistics) as safetensors, written atomically."""
    tmp = path.with_name(path.name + ".tmp")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp))
    os.replace(tmp, path)


def write_run_config(run_dir: Path, info: dict[str, Any]) -> None:
    atomic_write_text(run_dir / CONFIG, json.dumps(info, indent=2, default=str))


def new_run_dir(out_dir: str | Path, name: str) -> Path:
    """Create runs/<name>; if it exists, runs/<name>-2, -3, ... (never overwrite a run)."""
    base = Path(out_dir)
    base.mkdir(parents=True, exist_ok=True)
    cand, i = base / name, 1
    while True:
        try:
            cand.mkdir()
            return cand
        except FileExistsError:
            i += 1
            cand = base / f"{name}-{i}"
