"""Writing a new run folder: config.json + model.safetensors + metrics.jsonl (+ checkpoint/,
plots/). Reading one is :class:`aekit.Run` (``aekit/run.py``), which never unpickles: weights
are safetensors, configs JSON, optimiser state is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from aekit.errors import ConfigError

# the file names and the read side live with aekit.Run; importable from here as before
from aekit.run import (  # noqa: F401
    CONFIG,
    METRICS,
    WEIGHTS,
    atomic_write,
    atomic_write_text,
    file_in_the_way,
    load_model,
    read_metrics,
    read_run_config,
    save_tensors,
)

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the run folder goes unlocked
    fcntl = None


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """Weights (and buffers, e.g. BatchNorm statistics) as safetensors, written atomically."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_tensors(state, tmp))


def write_run_config(run_dir: Path, info: dict[str, Any]) -> None:
    atomic_write_text(run_dir / CONFIG, json.dumps(info, indent=2, default=str))


def new_run_dir(out_dir: str | Path, name: str) -> Path:
    """Create runs/<name>; if it exists, runs/<name>-2, -3, ... (never overwrite a run)."""
    base = Path(out_dir)
    in_way = file_in_the_way(base)
    if in_way is not None:
        raise ConfigError(
            f"run folders go in the folder {str(base)!r}, but {str(in_way)!r} is a file: pass "
            "another --out (run.out_dir), or move the file"
        )
    base.mkdir(parents=True, exist_ok=True)
    cand, i = base / name, 1
    while True:
        try:
            cand.mkdir()
            return cand
        except FileExistsError:
            i += 1
            cand = base / f"{name}-{i}"


@contextlib.contextmanager
def run_lock(
    run_dir: str | Path, otherwise: str = "or train into a new folder with --name"
) -> Iterator[None]:
    """Hold an exclusive OS lock on the run folder (``flock`` on the folder itself, so nothing
    is written to take it) while a process trains, scores or reports on it; the kernel drops it
    when the process ends, however it ends. A second process is refused with a ConfigError
    ending in ``otherwise`` (what else the refused command could do; "" for nothing)."""
    p = Path(run_dir)
    if fcntl is None or not p.is_dir():  # no folder: the reader that follows says so
        yield
        return
    fd = os.open(p, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"{str(p)!r} is in use by another aekit process that is writing to it "
                f"(training, scoring or reporting); wait for it to end and try again"
                + f", {otherwise}"
                * bool(otherwise)
            ) from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
