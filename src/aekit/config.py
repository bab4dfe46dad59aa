"""Run configuration: dataclasses with defaults < a TOML file < ``--set section.key=value``."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
import sys
import types
import typing
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from aekit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


#: train.loss: the reconstruction loss (aekit.losses.LOSSES)
Loss = Literal["mse", "bce", "l1"]
#: train.optimizer
Optimizer = Literal["sgd", "adam", "adamw"]
#: train.schedule: the learning-rate schedule
Schedule = Literal["none", "step", "exponential", "cosine", "onecycle"]
#: train.precision: fp32, or autocast to bf16 / fp16
Precision = Literal["fp32", "bf16", "fp16"]
#: data.pixel_range: "01" scales pixels to [0, 1], "-11" to [-1, 1]
PixelRange = Literal["01", "-11"]
#: data.noise: the input corruption of a denoising autoencoder (aekit.data.noise.NOISES)
Noise = Literal["none", "gaussian", "masking", "salt_pepper"]


@dataclass(frozen=True)
class Range:
    """A number's allowed interval, checked when a config is built (floats must be finite)."""

    ge: float | None = None  # at least
    gt: float | None = None  # above
    lt: float | None = None  # below
    le: float | None = None  # at most

    def ok(self, v: float) -> bool:
        return not (
            (self.ge is not None and v < self.ge)
            or (self.gt is not None and v <= self.gt)
            or (self.lt is not None and v >= self.lt)
            or (self.le is not None and v > self.le)
        )

    def text(self) -> str:
        ops = (">=", self.ge), (">", self.gt), ("<", self.lt), ("<=", self.le)
        return " and ".join(
            f"{op} {b:g}" if isinstance(b, float) else f"{op} {b}" for op, b in ops if b is not None
        )


@dataclass(frozen=True)
class Pattern:
    """A string's allowed form (a full-match regular expression) and how to say it."""

    regex: str
    text: str


@dataclass(frozen=True)
class Length:
    """A list's required length."""

    n: int


PosInt = Annotated[int, Range(ge=1)]
NonNegInt = Annotated[int, Range(ge=0)]
PosFloat = Annotated[float, Range(gt=0)]
NonNegFloat = Annotated[float, Range(ge=0)]
Seed = Annotated[int, Range(ge=0, lt=2**32)]
Fraction = Annotated[float, Range(ge=0, lt=1)]  # a share: 0 <= x < 1
#: data.image_size: [H, W] in pixels
ImageSize = Annotated[list[PosInt], Length(2)]
#: data.binarize: false = "none", true = "threshold" (at 0.5), "stochastic" = Bernoulli(pixel)
Binarize = bool | Literal["none", "threshold", "stochastic"]
#: train.device: auto (CUDA when present), cpu, cuda, cuda:N, mps, xpu, xpu:N
Device = Annotated[str, Pattern(r"auto|cpu|mps|(cuda|xpu)(:\d+)?", "auto, cpu, cuda or cuda:N")]
#: train.threads: "auto" (the cores other processes leave free, re-checked) or a fixed count
Threads = PosInt | Literal["auto"]
#: run.after: a figure kind (aekit.report.KINDS), with its option after a colon (latent:tsne,
#: weights:decoder), or decode:Z1,Z2,... (the image of one code)
FigureKind = Annotated[
    str,
    Pattern(
        r"(loss|recon|animation|latent|manifold|traversal|interpolation|weights|samples)"
        r"(:[\w-]+)?|decode:[-+0-9.eE, ]+",
        "loss, recon, animation, latent[:tsne], manifold, traversal, interpolation, "
        "weights[:decoder], samples, decode:Z1,Z2,...",
    ),
]


class Checked:
    """Mixin for config dataclasses: every field is checked against its annotation (choices,
    ranges, types) whenever one is built or replaced; ``check()`` adds the checks that relate
    fields to each other, run once the config is complete."""

    section: ClassVar[str] = "model"  # the prefix of the keys in messages: model.latent_dim

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            where = f"{self.section}.{f.name}"
            setattr(self, f.name, coerce(getattr(self, f.name), _hints(type(self))[f.name], where))

    def check(self) -> None:
        """Checks across fields of this section (e.g. a schedule that needs milestones)."""


@dataclass
class DataConfig(Checked):
    section: ClassVar[str] = "data"

    name: str = "mnist5k"  # a name from `aekit datasets`, or a path: image folder, .npy/.npz, .csv
    data_dir: str | None = None  # where IDX files live (mnist, fashion-mnist); default: user cache
    pixel_range: PixelRange = "01"  # "01": pixels in [0, 1] (Sigmoid output); "-11": [-1, 1]
    image_size: ImageSize | None = None  # [H, W] to resize image folders to; None: keep if uniform
    grayscale: bool | None = None  # image folders: force 1 channel (True) or 3 (False); None: auto
    val_fraction: Fraction = 0.1  # share of the training data held out for validation (stratified)
    split_seed: Seed = 0  # seed of the train/validation split (fixed so runs are comparable)
    limit: PosInt | None = None  # use only the first N training images (quick experiments)
    binarize: Binarize = False  # VAEs: true = threshold at 0.5; "stochastic": Bernoulli(pixel)
    noise: Noise = "none"  # input corruption for denoising: none, gaussian, masking, salt_pepper
    noise_level: NonNegFloat = 0.0  # gaussian: sigma in [0, 1] pixel units; masking etc: fraction

    def check(self) -> None:
        if self.noise in ("masking", "salt_pepper") and self.noise_level > 1:
            raise ConfigError(
                f"data.noise_level is the fraction of pixels {self.noise} corrupts: it must be "
                f"<= 1; got {self.noise_level:g} (e.g. --set data.noise_level=0.3)"
            )


@dataclass
class TrainConfig(Checked):
    section: ClassVar[str] = "train"

    epochs: PosInt = 20  # passes over the training data
    batch_size: PosInt = 128  # images per optimiser step, in all (torchrun: split over processes)
    optimizer: Optimizer = "adam"  # sgd, adam, adamw
    lr: PosFloat = 3e-3  # learning rate (the peak of the schedule)
    momentum: NonNegFloat = 0.0  # SGD momentum
    weight_decay: NonNegFloat = 0.0  # L2 penalty (coupled for sgd/adam, decoupled for adamw)
    eps: PosFloat = 1e-8  # Adam/AdamW epsilon
    schedule: Schedule = "cosine"  # none, step, exponential, cosine (to 0 over the run), onecycle
    milestones: list[PosFloat] = field(default_factory=list)  # step: epochs; < 1: run fractions
    gamma: PosFloat = 0.1  # step: factor at each milestone; exponential: factor every `decay_every`
    decay_every: NonNegInt = 0  # exponential: optimiser steps between decays (0: once per epoch)
    loss: Loss = "mse"  # reconstruction loss: mse, bce, l1
    grad_clip: NonNegFloat = 0.0  # clip the gradient norm to this (0: off)
    seed: Seed = 0  # seeds weights, shuffling and noise
    device: Device = "auto"  # auto (CUDA when present), cpu, cuda, cuda:1, ...
    threads: Threads = "auto"  # CPU threads: auto (the cores other processes leave free), or N
    precision: Precision = "fp32"  # fp32; bf16 (autocast: CPU with AVX-512 BF16, GPU); fp16 (CUDA)
    fast_mlp_step: bool = True  # Linear+activation chains in fp32: a step without autograd
    channels_last: bool = True  # conv models on the CPU: NHWC weights (3-9% faster here)
    log_every: NonNegInt = 50  # write a per-step line to metrics.jsonl every N steps (0: off)
    recon_every: NonNegInt = 5  # write plots/recon_epoch_NNN.png every N epochs (0: final only)
    tensorboard: bool = False  # also write TensorBoard event files (needs tensorboard)
    pretrain_epochs: NonNegInt = 0  # models that pretrain layer-wise (stacked): epochs per layer
    checkpoint_every: NonNegInt = (
        1  # write RUN_DIR/checkpoint/ every N epochs, after the last; 0: no
    )
    checkpoint_min_s: NonNegFloat = 30.0  # seconds: skip a due checkpoint this soon after the last

    def check(self) -> None:
        if self.schedule == "step" and not self.milestones:
            raise ConfigError(
                "schedule 'step' needs train.milestones, e.g. --set train.milestones=[0.25,0.5]"
            )


@dataclass
class RunConfig(Checked):
    section: ClassVar[str] = "run"

    name: str | None = None  # run folder name under out_dir; default: model-data-timestamp
    out_dir: str = "runs"  # where run folders go
    recipe: str | None = None  # the recipe this run started from, if any
    after: list[FigureKind] = field(default_factory=list)  # figures to write after training


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

    def check(self) -> Config:
        """Every data-independent check, on the complete config: each section's field checks
        again (a field may have been assigned since), the checks across fields, the model's
        config; returns ``self``. Nothing has been read or written yet when this runs."""
        for section in (self.data, self.train, self.run):
            dataclasses.replace(section).check()
        if self.train.loss == "bce" and self.data.pixel_range == "-11":
            raise ConfigError(
                "BCE needs targets in [0, 1]; use --set data.pixel_range=01 or --loss mse"
            )
        from aekit._registry import model_config

        model = {k: v for k, v in self.model.items() if k != "name"}
        model_config(self.model.get("name", "mlp"), model).check()
        return self


def _hints(cls: type) -> dict[str, Any]:
    """The field annotations of a config class, resolved (cached: built on every replace)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls, include_extras=True)
    return _HINTS[cls]


_HINTS: dict[type, dict[str, Any]] = {}


SECTIONS = ("data", "model", "train", "run")


def apply_config_dict(cfg: Config, d: dict[str, Any]) -> Config:
    """Return ``cfg`` updated by a nested dict {section: {key: value}}; unknown keys are errors."""
    unknown = set(d) - set(SECTIONS)
    if unknown:
        raise ConfigError(
            f"unknown config section(s) {sorted(unknown)}; valid sections: {', '.join(SECTIONS)}"
        )
    out = copy.deepcopy(cfg)  # no section shared with ``cfg``: each result can be changed alone
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


def apply_overrides(obj: Any, overrides: dict[str, Any], section: str, owner: str = "") -> Any:
    """Return a copy of dataclass ``obj`` with ``overrides``, checked field by field (keys are
    named ``section.key`` in messages; ``owner`` says whose keys they are, e.g. "model 'vae'")."""
    hints = _hints(type(obj))
    names = [f.name for f in dataclasses.fields(obj)]
    changes = {}
    for key, value in overrides.items():
        if key not in names:
            whose = f" ({owner})" if owner else ""
            raise ConfigError(
                f"unknown key {key!r} in [{section}]{whose}; valid keys: {', '.join(names)}"
            )
        changes[key] = coerce(value, hints[key], f"{section}.{key}")
    return dataclasses.replace(obj, **changes)


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``: types, ``Literal`` choices, ``Range``,
    ``Pattern`` and ``Length`` constraints; ints widen to floats, tuples become lists.
    Raises a one-line ConfigError that names ``where``, the value and what is allowed."""
    try:
        return _coerce(value, tp, where)
    except _Mismatch:
        raise ConfigError(f"{where} must be {describe(tp)}; got {value!r}") from None


class _Mismatch(Exception):
    """``value`` does not fit ``tp`` (``coerce`` turns it into a ConfigError for the key)."""


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is not type(None):
                try:
                    return _coerce(value, a, where)
                except _Mismatch:
                    pass
        raise _Mismatch
    if origin is Annotated:
        value = _coerce(value, args[0], where)
        if not all(_meets(value, m) for m in tp.__metadata__):
            raise _Mismatch
        return value
    if origin is Literal:
        if isinstance(value, int) and not isinstance(value, bool) and str(value) in args:
            value = str(value)  # --set data.pixel_range=-11 parses as the integer -11
        if not isinstance(value, Hashable) or value not in args:
            raise _Mismatch
        return value
    if origin in (list, tuple):
        if isinstance(value, str):
            value = parse_value(value)
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        inner = args[0] if args else Any
        return [_coerce(v, inner, where) for v in value]
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise _Mismatch
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Mismatch
        return value
    if tp is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _Mismatch
        if not math.isfinite(value):
            raise _Mismatch
        return float(value)
    if tp is str and not isinstance(value, str):
        raise _Mismatch
    return value


def _meets(value: Any, m: Any) -> bool:
    if isinstance(m, Range):
        return m.ok(value)
    if isinstance(m, Pattern):
        return re.fullmatch(m.regex, value) is not None
    if isinstance(m, Length):
        return len(value) == m.n
    return True


def describe(tp: Any) -> str:
    """What a value of annotation ``tp`` may be, in words: "one of mse, bce, l1",
    "a finite number > 0", "a list of 2 integers >= 1"."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        words = [describe(a) for a in args if a is not type(None)]
        if type(None) in args:
            words.append("none (leave it out)")
        return ", ".join(words[:-1]) + " or " + words[-1]
    if origin is Annotated:
        base, metas = args[0], tp.__metadata__
        for m in metas:
            if isinstance(m, Pattern):
                return f"one of {m.text}"
        n = next((m.n for m in metas if isinstance(m, Length)), None)
        if n is not None:
            return f"a list of {n} {_plural(describe(typing.get_args(base)[0]))}"
        ranges = [m.text() for m in metas if isinstance(m, Range)]
        return " ".join([describe(base), *ranges])
    if origin is Literal:
        return str(args[0]) if len(args) == 1 else "one of " + ", ".join(str(a) for a in args)
    if tp is Any:
        return "any value"
    if origin in (list, tuple):
        inner = args[0] if args else Any
        example = ", e.g. [128, 64]" if typing.get_args(inner)[:1] == (int,) else ""
        return f"a list of {_plural(describe(inner))}{example}"
    return {
        bool: "true or false",
        int: "an integer",
        float: "a finite number",
        str: "a string",
    }.get(tp, str(tp))


def _plural(text: str) -> str:
    for one, many in (
        ("an integer", "integers"),
        ("a finite number", "finite numbers"),
        ("a string", "strings"),
        ("a list of", "lists of"),
        ("any value", "values"),
    ):
        if text.startswith(one):
            return many + text[len(one) :]
    return f"values ({text})"


def dataclass_doc(cls: type) -> list[tuple[str, str, str, str]]:
    """(key, allowed values, default, comment) for each field of a config dataclass; the
    comment is the field's trailing ``#`` comment in the class (or the nearest base class)
    that declares it, so the config reference can be generated from the code."""
    import inspect

    sources = [
        inspect.getsource(c).splitlines()
        for c in cls.__mro__
        if dataclasses.is_dataclass(c) and c.__module__ != "builtins"
    ]
    hints = _hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        comment = next(filter(None, (_field_comment(src, f.name) for src in sources)), "")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        out.append((f.name, describe(hints[f.name]), repr(default), comment))
    return out


def _field_comment(src: list[str], name: str) -> str:
    """The ``#`` comment of field ``name`` in a class's source lines (on its line, or on the
    lines a formatter wrapped it onto, up to the next field), or ""."""
    for i, line in enumerate(src):
        if line.strip().startswith(f"{name}:"):
            for cont in src[i:]:
                if cont is not src[i] and re.match(r"\s*(\w+\s*:|def |@)", cont):
                    break  # the next field
                if "#" in cont:
                    return cont.split("#", 1)[1].strip()
            return ""
    return ""
