"""The run folder: config.json + model.safetensors + metrics.jsonl (+ checkpoint/, plots/).

Loading never unpickles: weights are safetensors, configs JSON, optimiser state is read with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from aekit._registry import create_model
from aekit.errors import AekitError

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
METRICS = "metrics.jsonl"


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """Weights (and buffers, e.g. BatchNorm statistics) as safetensors, written atomically."""
    tmp = path.with_name(path.name + ".tmp")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp))
    os.replace(tmp, path)


def write_run_config(run_dir: Path, info: dict[str, Any]) -> None:
    atomic_write_text(run_dir / CONFIG, json.dumps(info, indent=2, default=str))


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    p = Path(run_dir)
    if not (p / CONFIG).is_file():
        raise AekitError(
            f"{str(p)!r} is not a run folder (no {CONFIG}); pass a folder made by `aekit train`"
        )
    try:
        return json.loads((p / CONFIG).read_text())
    except json.JSONDecodeError as e:
        raise AekitError(f"{str(p / CONFIG)!r} is corrupt ({e})") from None


def load_model(run_dir: str | Path, device: str | torch.device = "cpu"):
    """Rebuild the model from config.json and load model.safetensors; eval mode."""
    p = Path(run_dir)
    info = read_run_config(p)
    m = dict(info["model"])
    name = m.pop("name")
    model = create_model(name, tuple(info["input_shape"]), info["pixel_range"], **m)
    if not (p / WEIGHTS).is_file():
        raise AekitError(f"{str(p)!r} has no {WEIGHTS} (training did not finish?)")
    try:
        state = load_file(str(p / WEIGHTS))
    except Exception as e:  # safetensors raises its own error types
        raise AekitError(f"cannot read {str(p / WEIGHTS)!r} ({e})") from None
    model.load_state_dict(state)
    model.run_info = info
    model.run_dir = p
    return model.to(device).eval()


def read_metrics(run_dir: str | Path) -> list[dict]:
    p = Path(run_dir) / METRICS
    if not p.is_file():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


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
