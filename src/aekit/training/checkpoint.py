"""Checkpoints for exact resume: RUN_DIR/checkpoint/ holds weights, optimiser, schedule, RNG and
epoch state, and nothing in it is unpickled when read.

    checkpoint/state.json                  # counters, history, where the set is (the commit)
    checkpoint/epoch_0004/model.safetensors
    checkpoint/epoch_0004/rng.safetensors  # generator states, one uint8 tensor each
    checkpoint/epoch_0004/optimizer.pt     # optimiser + scheduler (+ GradScaler) state_dicts

A new set is written into ``epoch_NNNN.tmp/``, renamed to ``epoch_NNNN/``, and only then does
``state.json`` (replaced with ``os.replace``) point at it; older sets are deleted after that. A
process killed at any moment leaves ``state.json`` naming a complete set. ``optimizer.pt`` holds
only tensors, numbers, strings and lists, and is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from aekit._registry import model_config
from aekit._version import __version__
from aekit.config import Config
from aekit.errors import AekitError, ConfigError
from aekit.run import (
    CHECKPOINT,
    CHECKPOINT_STATE,
    WEIGHTS,
    atomic_write_text,
    read_run_config,
    save_tensors,
)

# inside checkpoint/ (the run folder's own names are aekit.run's)
STATE = CHECKPOINT_STATE  # the commit point: names the last complete set
RNG = "rng.safetensors"
OPTIMIZER = "optimizer.pt"
SET_FILES = (WEIGHTS, RNG, OPTIMIZER)  # one complete set, in checkpoint/epoch_NNNN/
FORMAT = 1

#: config keys a resume may change; every other key must match the run's config.json
RESUMABLE = (
    "train.epochs",
    "train.checkpoint_every",
    "train.checkpoint_min_s",
    "train.log_every",
    "train.recon_every",
    "train.tensorboard",
    "train.grad_clip",
    "train.device",  # the device *type* must still match (generator states are per type)
    "data.data_dir",  # where the IDX files are, not what they hold (the step count is checked)
    "run.name",
    "run.out_dir",
    "run.after",
)


@dataclass
class Checkpoint:
    """A checkpoint read back from disk: its ``state.json`` and the folder of its tensors."""

    state: dict[str, Any]
    path: Path  # checkpoint/epoch_NNNN

    @property
    def epoch(self) -> int:
        return int(self.state["epoch"])

    def weights(self) -> dict[str, torch.Tensor]:
        return _read_safetensors(self.path / WEIGHTS)

    def rng(self) -> dict[str, torch.Tensor]:
        return _read_safetensors(self.path / RNG)

    def optimizer(self, device: torch.device) -> dict[str, Any]:
        p = self.path / OPTIMIZER
        try:
            return torch.load(p, map_location=device, weights_only=True)
        except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
            raise AekitError(f"cannot read {str(p)!r} ({type(e).__name__}: {e})") from None


def _read_safetensors(p: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(p))
    except Exception as e:  # safetensors raises its own error types
        raise AekitError(f"cannot read {str(p)!r} ({e}); the checkpoint is damaged") from None


def write_checkpoint(
    run_dir: Path,
    *,
    epoch: int,
    state: dict[str, Any],
    weights: dict[str, torch.Tensor],
    rng: dict[str, torch.Tensor],
    optimizer: dict[str, Any],
    batch: int = 0,
) -> Path:
    """Write one complete checkpoint for the end of ``epoch`` (1-based), or ``batch`` batches
    into the epoch after it (an interrupted run); see the module docstring.

    ``state`` is JSON (counters, history, ...); ``weights``/``rng`` tensors; ``optimizer`` the
    state_dicts for ``torch.save``.
    """
    root = run_dir / CHECKPOINT
    root.mkdir(exist_ok=True)
    name = f"epoch_{epoch:04d}" + (f"_batch_{batch:05d}" if batch else "")
    tmp, final = root / f"{name}.tmp", root / name
    for stale in (tmp, final):  # left by a process killed before it committed
        if stale.exists():
            shutil.rmtree(stale)
    tmp.mkdir()
    try:
        save_tensors({k: v.detach().cpu().contiguous() for k, v in weights.items()}, tmp / WEIGHTS)
        save_tensors({k: v.cpu().contiguous() for k, v in rng.items()}, tmp / RNG)
        torch.save(optimizer, tmp / OPTIMIZER)
        os.replace(tmp, final)
    except BaseException:  # disk full, read-only folder, ...: leave no half-written set
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    record = {
        "format": FORMAT,
        "dir": name,
        "epoch": epoch,
        "batch": batch,
        "aekit_version": __version__,
        "torch_version": torch.__version__,
        **state,
    }
    atomic_write_text(root / STATE, json.dumps(record, indent=1))  # the commit point
    for old in root.iterdir():
        if old.is_dir() and old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return final


def read_checkpoint(run_dir: str | Path) -> Checkpoint:
    """The last complete checkpoint of a run folder, or an error that says what to do."""
    p = Path(run_dir)
    f = p / CHECKPOINT / STATE
    if not f.is_file():
        raise AekitError(no_checkpoint_message(p))
    try:
        state = json.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AekitError(
            f"{str(f)!r} is corrupt ({e}); start a new run with `aekit train`"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        got = state.get("format") if isinstance(state, dict) else None
        version = state.get("aekit_version") if isinstance(state, dict) else None
        raise AekitError(
            f"{str(f)!r} has checkpoint format {got!r}; this aekit reads format "
            f"{FORMAT}: resume it with the aekit that wrote it ({version})"
        )
    check_state(f, state)
    path = p / CHECKPOINT / state["dir"]
    for name in SET_FILES:
        if not (path / name).is_file():
            raise AekitError(
                f"the checkpoint of {str(p)!r} lacks {state['dir']}/{name}; it is damaged"
            )
    return Checkpoint(state, path)


def no_checkpoint_message(p: Path) -> str:
    """Why a run folder has nothing to resume, from what its config.json says."""
    try:
        every = read_run_config(p)["config"]["train"]["checkpoint_every"]
    except (AekitError, KeyError, TypeError):
        every = None
    if every == 0:
        return (
            f"{str(p)!r} has no checkpoint ({CHECKPOINT}/{STATE}): it was trained with "
            "train.checkpoint_every=0, so it cannot be resumed; start a new run with `aekit train`"
        )
    return (
        f"{str(p)!r} has no checkpoint ({CHECKPOINT}/{STATE}): it stopped before its first "
        "epoch ended, so there is nothing to resume; start it again with `aekit train` and "
        "the same settings"
    )


#: state.json's keys and the types they must have (bool is not an int here)
_STATE_TYPES = {
    "dir": str,
    "epoch": int,
    "step": int,
    "epochs": int,
    "steps_per_epoch": int,
    "world_size": int,
    "device": str,
    "metrics_bytes": int,
    "history": list,
}


def check_state(f: Path, state: dict[str, Any]) -> None:
    """Raise an AekitError unless ``state`` (a parsed state.json) has the shape a resume reads."""
    bad = [
        k
        for k, kind in _STATE_TYPES.items()
        if not isinstance(state.get(k), kind) or isinstance(state.get(k), bool)
    ]
    if not bad:
        h = state["history"]
        if not re.fullmatch(r"epoch_\d{4,}(_batch_\d{5,})?", state["dir"]):
            bad.append("dir")
        if not isinstance(state.get("batch", 0), int) or state.get("batch", 0) < 0:
            bad.append("batch")
        if min(state["epoch"], state["step"], state["metrics_bytes"]) < 0:
            bad.append("epoch/step/metrics_bytes")
        if min(state["epochs"], state["steps_per_epoch"], state["world_size"]) < 1:
            bad.append("epochs/steps_per_epoch/world_size")
        if len(h) != state["epoch"] or not all(isinstance(r, dict) for r in h):
            bad.append("history")
        elif h and not isinstance(h[-1].get("time_s"), (int, float)):
            bad.append("history")
    if bad:
        raise AekitError(
            f"{str(f)!r} is damaged (bad or missing {', '.join(bad)}); it cannot be resumed: "
            "start a new run with `aekit train`"
        )


def resume_config(run_dir: str | Path) -> Config:
    """The config a run folder was trained with (its config.json), to resume it."""
    return Config.from_dict(read_run_config(run_dir)["config"])


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def adopt_run_settings(cfg: Config, saved: dict[str, Any]) -> Config:
    """``cfg`` with each data and train setting it was not given, and the model keys it does
    not name, taken from the run's config.json (``saved``): what the run chose for itself (the
    defaults fitted to its data, bf16 for convolutions) stays on resume. A new Config."""
    old = Config.from_dict(saved["config"])
    sections = {}
    for section in ("data", "train"):
        now, then = getattr(cfg, section), getattr(old, section)
        keep = {
            f.name: getattr(then, f.name)
            for f in dataclasses.fields(now)
            if not cfg.is_given(f"{section}.{f.name}")
        }
        sections[section] = dataclasses.replace(now, **keep)
    model = dict(cfg.model)
    if not cfg.is_given("model.name") or model.get("name") == old.model.get("name"):
        model = {**old.model, **{k: v for k, v in model.items() if k != "name"}}
    return dataclasses.replace(cfg, model=model, **sections)


def resume_conflicts(cfg: Config, saved: dict[str, Any]) -> list[str]:
    """``section.key is A in the run, B here`` for each setting that differs from the run's
    config.json (``saved``: its "config" and resolved "model") and may not change on resume."""
    m = dict(cfg.model)
    name = m.pop("name")
    model_now = {"name": name, **dataclasses.asdict(model_config(name, m))}
    old = Config.from_dict({k: v for k, v in saved["config"].items() if k != "model"})
    old_flat = _flat({k: v for k, v in old.to_dict().items() if k != "model"})
    new_flat = _flat({k: v for k, v in cfg.to_dict().items() if k != "model"})
    old_flat.update(_flat(saved["model"], "model."))
    new_flat.update(_flat(model_now, "model."))
    return [
        f"{k} is {old_flat.get(k)!r} in the run, {new_flat.get(k)!r} here"
        for k in sorted(set(old_flat) | set(new_flat))
        if k not in RESUMABLE and old_flat.get(k) != new_flat.get(k)
    ]


def is_finished(info: dict[str, Any]) -> bool:
    """Whether a run folder's config.json says its end-of-run phase completed ("finished" is
    null until then; folders from before that key: when they have a "result")."""
    return bool(info.get("finished")) if "finished" in info else "result" in info


def check_resumable(
    run_dir: Path,
    cfg: Config,
    saved: dict[str, Any],
    ckpt: Checkpoint,
    device: torch.device,
    world_size: int,
) -> None:
    """Raise a ConfigError saying what to type when ``cfg`` cannot continue this checkpoint."""
    bad = resume_conflicts(cfg, saved)
    if bad:
        raise ConfigError(
            f"cannot resume {str(run_dir)!r} with different settings: {'; '.join(bad)}. Only "
            f"{', '.join(RESUMABLE)} may change; drop the other overrides, or start a new run"
        )
    if ckpt.state["device"] != device.type:
        raise ConfigError(
            f"{str(run_dir)!r} was checkpointed on {ckpt.state['device']}; resume it with "
            f"--device {ckpt.state['device']} (generator states do not move between device types)"
        )
    if ckpt.state["world_size"] != world_size:
        n = ckpt.state["world_size"]
        how = (
            f"torchrun --nproc_per_node={n} -m aekit.cli.main train --resume {run_dir}"
            if n > 1
            else f"aekit train --resume {run_dir} (one process)"
        )
        raise ConfigError(
            f"{str(run_dir)!r} was trained by {n} process(es), this is {world_size}; each keeps "
            f"its own random streams, so resume with the same number: {how}"
        )
    if ckpt.epoch > cfg.train.epochs or (ckpt.epoch == cfg.train.epochs and is_finished(saved)):
        raise ConfigError(
            f"{str(run_dir)!r} has already trained {ckpt.epoch} epochs (train.epochs="
            f"{cfg.train.epochs}); to train longer, add --set train.epochs={2 * ckpt.epoch}"
        )
