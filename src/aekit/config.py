"""Run configuration: dataclasses with defaults < a TOML file < ``--set section.key=value``."""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aekit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class DataConfig:
    name: str = "mnist5k"  # a name from `aekit datasets`, or a path: image folder, .npy/.npz, .csv
    data_dir: str | None = None  # where IDX files live (mnist, fashion-mnist); default: user cache
    pixel_range: str = (
        "01"  # "01" scales pixels to [0, 1] (Sigmoid output), "-11" to [-1, 1] (Tanh)
    )
    image_size: list[int] | None = None  # [H, W] to resize image folders to; None: keep if uniform
    grayscale: bool | None = None  # image folders: force 1 channel (True) or 3 (False); None: auto
    val_fraction: float = 0.1  # share of the training data held out for validation (stratified)
    split_seed: int = 0  # seed of the train/validation split (fixed so runs are comparable)
    limit: int | None = None  # use only the first N training images (quick experiments)
    binarize: bool | str = False  # VAEs: true = threshold at 0.5; "stochastic": Bernoulli(pixel)
    noise: str = "none"  # input corruption for denoising: none, gaussian, masking, salt_pepper
    noise_level: float = (
        0.0  # gaussian: sigma in pixel units of [0, 1]; masking/salt_pepper: fraction
    )


@dataclass
class TrainConfig:
    epochs: int = 20  # passes over the training data
    batch_size: int = 128  # images per optimiser step, in all (torchrun: split over processes)
    optimizer: str = "adam"  # sgd, adam, adamw
    lr: float = 3e-3  # learning rate (the peak of the schedule)
    momentum: float = 0.0  # SGD momentum
    weight_decay: float = 0.0  # L2 penalty (coupled for sgd/adam, decoupled for adamw)
    eps: float = 1e-8  # Adam/AdamW epsilon
    schedule: str = "cosine"  # none, step, exponential, cosine (to 0 over the run), onecycle
    milestones: list[float] = field(default_factory=list)  # step: epochs; values < 1 are fractions
    gamma: float = 0.1  # step: factor at each milestone; exponential: factor every `decay_every`
    decay_every: int = 0  # exponential: optimiser steps between decays (0: once per epoch)
    loss: str = "mse"  # reconstruction loss: mse, bce, l1
    grad_clip: float = 0.0  # clip the gradient norm to this (0: off)
    seed: int = 0  # seeds weights, shuffling and noise
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:1, ...
    precision: str = "fp32"  # fp32; bf16 (autocast: CPU with AVX-512 BF16, GPU); fp16 (CUDA)
    fast_mlp_step: bool = True  # Linear+activation chains in fp32: a step without autograd
    channels_last: bool = True  # conv models on the CPU: NHWC weights (3-9% faster here)
    log_every: int = 50  # write a per-step line to metrics.jsonl every N steps (0: off)
    recon_every: int = 5  # write plots/recon_epoch_NNN.png every N epochs (0: only the final one)
    tensorboard: bool = False  # also write TensorBoard event files (needs tensorboard)
    pretrain_epochs: int = 0  # models that pretrain layer-wise (stacked): epochs per layer
    checkpoint_every: int = 1  # write RUN_DIR/checkpoint/ every N epochs and after the last; 0: no
    checkpoint_min_s: float = 30.0  # seconds: skip a due checkpoint this soon after the last


@dataclass
class RunConfig:
    name: str | None = None  # run folder name under out_dir; default: model-data-timestamp
    out_dir: str = "runs"  # where run folders go
    recipe: str | None = None  # the recipe this run started from, if any
    after: list[str] = field(default_factory=list)  # figures to write after training: plot kinds


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: dict[str, Any] = field(default_factory=lambda: {"name": "mlp"})  # name + model keys
    train: TrainConfig = field(default_factory=TrainConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        return apply_config_dict(cls(), d)


SECTIONS = ("data", "model", "train", "run")


def apply_config_dict(cfg: Config, d: dict[str, Any]) -> Config:
    """Return ``cfg`` updated by a nested dict {section: {key: value}}; unknown keys are errors."""
    unknown = set(d) - set(SECTIONS)
    if unknown:
        raise ConfigError(
            f"unknown config section(s) {sorted(unknown)}; valid sections: {', '.join(SECTIONS)}"
        )
    out = dataclasses.replace(cfg, model=dict(cfg.model))
    for section in ("data", "train", "run"):
        if section in d:
            if not isinstance(d[section], dict):
                raise ConfigError(f"config section [{section}] must be a table of key = value")
            setattr(out, section, apply_overrides(getattr(out, section), d[section], section))
    if "model" in d:
        if not isinstance(d["model"], dict):
            raise ConfigError("config section [model] must be a table of key = value")
        model = dict(d["model"])
        if "name" in model and model["name"] != out.model.get("name"):
            out.model = {"name": model["name"]}
        out.model.update(model)
        # validate now, so a typo fails before any work is done
        from aekit._registry import model_config

        model_config(out.model["name"], {k: v for k, v in out.model.items() if k != "name"})
    return out


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML (or JSON) run config into a nested dict."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"config file {str(p)!r} not found; pass an existing .toml file to --config"
        )
    try:
        if p.suffix == ".json":
            return json.loads(p.read_text())
        return tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot parse config file {str(p)!r}: {e}") from None


def parse_set(items: list[str]) -> dict[str, Any]:
    """``["train.lr=0.01", "model.hidden=[128,64]"]`` -> nested dict; values parsed as TOML."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ConfigError(
                f"--set {item!r} must look like section.key=value, e.g. --set train.lr=0.01"
            )
        key, raw = item.split("=", 1)
        section, name = key.strip().split(".", 1)
        out.setdefault(section, {})[name] = parse_value(raw.strip())
    return out


def parse_value(raw: str) -> Any:
    """Parse one value as TOML would (numbers, booleans, lists, strings); bare words are strings."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def apply_overrides(obj: Any, overrides: dict[str, Any], section: str) -> Any:
    """Return a copy of dataclass ``obj`` with ``overrides``, type-checked field by field."""
    hints = typing.get_type_hints(type(obj))
    names = [f.name for f in dataclasses.fields(obj)]
    changes = {}
    for key, value in overrides.items():
        if key not in names:
            raise ConfigError(f"unknown key {key!r} in [{section}]; valid keys: {', '.join(names)}")
        changes[key] = coerce(value, hints[key], f"{section}.{key}")
    return dataclasses.replace(obj, **changes)


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; ints widen to floats, lists to tuples."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where} cannot be None")
    if origin in (list, tuple):
        if isinstance(value, str):
            value = parse_value(value)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, e.g. [128, 64]; got {value!r}")
        inner = args[0] if args else Any
        return [coerce(v, inner, where) for v in value]
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(f"{where} must be true or false; got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be an integer; got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where} must be a number; got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where} must be a string; got {value!r}")
    return value


def dataclass_doc(cls: type) -> list[tuple[str, str, str]]:
    """(key, default, comment) for each field, read from the source's trailing comments."""
    import inspect

    src = inspect.getsource(cls).splitlines()
    out = []
    for f in dataclasses.fields(cls):
        comment = ""
        for line in src:
            s = line.strip()
            if s.startswith(f"{f.name}:") and "#" in s:
                comment = s.split("#", 1)[1].strip()
                break
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        out.append((f.name, repr(default), comment))
    return out
