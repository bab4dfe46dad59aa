"""Run configuration: dataclasses with defaults < a TOML file < ``--set section.key=value``."""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from aekit._registry import model_config
from aekit.checked import (  # noqa: F401  (also re-exported: older imports)
    Checked,
    Fraction,
    Length,
    NonNegFloat,
    NonNegInt,
    Pattern,
    PosFloat,
    PosInt,
    Range,
    Seed,
    apply_overrides,
    coerce,
    dataclass_doc,
    describe,
    parse_value,
)
from aekit.errors import ConfigError
from aekit.losses.reconstruction import LOSSES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


#: train.loss: the reconstruction loss, one of aekit.losses.LOSSES (a new loss is added there)
Loss = Literal[LOSSES]
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


#: data.image_size: [H, W] in pixels
ImageSize = Annotated[list[PosInt], Length(2)]
#: data.binarize: false = "none", true = "threshold" (at 0.5), "stochastic" = Bernoulli(pixel)
Binarize = bool | Literal["none", "threshold", "stochastic"]
#: train.device: auto (CUDA when present), cpu, cuda, cuda:N, mps, xpu, xpu:N
Device = Annotated[str, Pattern(r"auto|cpu|mps|(cuda|xpu)(:\d+)?", "auto, cpu, cuda or cuda:N")]
#: train.threads: "auto" (the cores other processes leave free, re-checked) or a fixed count
Threads = PosInt | Literal["auto"]
#: run.after: a figure kind (aekit.report.KINDS, `aekit plot --help`), with its option after a
#: colon (latent:tsne, weights:decoder), or decode:Z1,Z2,... (the image of one code). Only the
#: form is checked here (config sits below report); the name is checked against the kinds
#: before any run folder is written (aekit.report.figures.check_kinds).
FigureKind = Annotated[
    str,
    Pattern(
        r"[a-z_]+(:[\w-]+)?|decode:[-+0-9.eE, ]+",
        "loss, recon, latent[:tsne], weights[:decoder], ... (aekit.report.KINDS), decode:Z1,Z2,...",
    ),
]


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
    label_column: str | None = None  # CSV: the labels' column, kept out of the model's input

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
    loss: Loss = "mse"  # reconstruction loss (aekit.losses.LOSSES): mse, bce, l1
    grad_clip: NonNegFloat = 0.0  # clip the gradient norm to this (0: off)
    seed: Seed = 0  # seeds weights, shuffling and noise
    device: Device = "auto"  # auto (CUDA when present), cpu, cuda, cuda:1, ...
    threads: Threads = "auto"  # CPU threads: auto (the cores other processes leave free), or N
    precision: Precision = "fp32"  # fp32; bf16 autocast (unset: for convs on bf16 CPUs); fp16 CUDA
    fast_mlp_step: bool = True  # Linear+activation chains in fp32: a step without autograd
    channels_last: bool = True  # conv models on the CPU: NHWC weights (3-9% faster here)
    fast_conv_transpose: bool = True  # CPU fp32/bf16: faster ConvTranspose2d kernels, same weights
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

    def check(self) -> None:
        name = self.name
        if name is not None and (
            name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name
        ):
            raise ConfigError(
                f"run.name {name!r} must be one folder name (no '/', not '.' or '..'); the run "
                f"goes under run.out_dir ({self.out_dir!r}): set that for another place, e.g. "
                "--out runs/experiments --name first"
            )


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: dict[str, Any] = field(default_factory=lambda: {"name": "mlp"})  # name + model keys
    train: TrainConfig = field(default_factory=TrainConfig)
    run: RunConfig = field(default_factory=RunConfig)
    #: "section.key" of each data/train/run setting given in a layer (recipe, file, flags,
    #: --set, aekit.train's sections), even one equal to its default: the defaults fitted to
    #: the data (training/data_defaults.py) change only the others. Not saved in config.json.
    given: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        del d["given"]
        return d

    def is_given(self, key: str) -> bool:
        """Whether setting ``key`` ("train.lr", "model.name") was given, or differs from its
        default."""
        section, name = key.split(".")
        if section == "model":
            if name == "name":
                return key in self.given or self.model.get("name", "mlp") != "mlp"
            return name in self.model
        default = getattr(SECTION_CLASSES[section](), name)
        return key in self.given or getattr(getattr(self, section), name) != default

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
        model = {k: v for k, v in self.model.items() if k != "name"}
        model_config(self.model.get("name", "mlp"), model).check()
        return self


SECTIONS = ("data", "model", "train", "run")
SECTION_CLASSES = {"data": DataConfig, "train": TrainConfig, "run": RunConfig}


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
            out.given = out.given | {f"{section}.{k}" for k in d[section]}
    if "model" in d:
        if not isinstance(d["model"], dict):
            raise ConfigError("config section [model] must be a table of key = value")
        model = dict(d["model"])
        out.given = out.given | {f"model.{k}" for k in model}
        if "name" in model and model["name"] != out.model.get("name"):
            out.model = {"name": model["name"]}
        out.model.update(model)
        # validate now, so a typo fails before any work is done
        model_config(out.model["name"], {k: v for k, v in out.model.items() if k != "name"})
    return out


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML (or JSON) run config into a nested dict."""
    p = Path(path)
    if p.is_dir():
        run = (p / "config.json").is_file()
        hint = "; to continue that run: aekit train --resume PATH (aekit.train(resume=PATH))"
        raise ConfigError(
            f"config file {str(p)!r} is a folder; pass a .toml file to --config" + hint * run
        )
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
