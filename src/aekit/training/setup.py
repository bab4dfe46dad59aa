"""What a run needs before its first step, read and checked before anything is written: the
device, the data splits, the model, the generators and batch makers, the optimiser and
schedule, and, for a resume, every part of the checkpoint (a failed resume changes nothing)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from aekit._registry import create_model, model_config, model_config_dict
from aekit._version import __version__
from aekit.config import Config
from aekit.data import BatchMaker, Dataset, load_dataset
from aekit.data.files import is_image_source
from aekit.errors import ConfigError, DataError
from aekit.layers import use_fast_cpu_layers
from aekit.models.mlp import MLPConfig
from aekit.training.checkpoint import (
    Checkpoint,
    adopt_run_settings,
    check_resumable,
    read_checkpoint,
)
from aekit.training.checkpointer import Checkpointer
from aekit.training.data_defaults import fit_to_data
from aekit.training.distributed import Dist
from aekit.training.loop import steps_in_epoch
from aekit.training.optim import make_optimizer, make_scheduler
from aekit.training.run_dir import read_run_config
from aekit.training.step import Precision, fit_precision

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device 'cuda' asked for but CUDA is not available; use --device cpu (or auto)"
        )
    return dev


def load_splits(cfg: Config) -> tuple[Dataset, Dataset]:
    d = cfg.data
    if (d.image_size is not None or d.grayscale is not None) and not is_image_source(d.name):
        flag = "--image-size" if d.image_size is not None else "data.grayscale"
        raise ConfigError(
            f"data.image_size and data.grayscale resize and convert image files and folders; "
            f"{d.name!r} is not one (its samples keep the shape they have): drop {flag}"
        )
    kw = dict(
        val_fraction=d.val_fraction,
        split_seed=d.split_seed,
        image_size=d.image_size,
        grayscale=d.grayscale,
        limit=d.limit,
        label_column=d.label_column,
    )
    train = load_dataset(d.name, d.data_dir, "train", **kw)
    val = load_dataset(d.name, d.data_dir, "val", **kw) if d.val_fraction > 0 else train
    return train, val


def check_config(cfg: Config, n_train: int, world_size: int = 1) -> None:
    """The checks that need the data; the others ran when the config was built (config.py)."""
    t = cfg.check().train
    if t.batch_size < world_size:
        raise ConfigError(
            f"train.batch_size {t.batch_size} is the global batch, split over {world_size} "
            f"processes: it must be at least {world_size}; try --batch-size {128 * world_size}"
        )
    if t.batch_size > n_train:
        raise ConfigError(
            f"batch size {t.batch_size} must be between 1 and the {n_train} training samples; "
            f"try --batch-size {min(128, n_train)}"
        )
    if t.batch_size < 2 * world_size and has_batchnorm_mlp(cfg.model):
        raise batch_of_one_error(t.batch_size, world_size, n_train)


def has_batchnorm_mlp(model: dict) -> bool:
    """Whether the ``[model]`` table builds an MLP with BatchNorm1d after hidden layers."""
    mc = model_config(model["name"], {k: v for k, v in model.items() if k != "name"})
    return isinstance(mc, MLPConfig) and mc.batchnorm and bool(mc.hidden or mc.decoder_hidden)


def batch_of_one_error(batch_size: int, world: int, n_train: int) -> ConfigError:
    """The one-line error for a batch size that gives a process one sample per batch, which
    BatchNorm cannot train on (a short last batch joins the one before it: training/loop.py)."""
    per = f" over {world} processes" if world > 1 else ""
    fix = f"--batch-size {2 * world} or more, or " if n_train >= 2 * world else ""
    return ConfigError(
        f"batches of {batch_size}{per} give a process one sample each, which BatchNorm cannot "
        f"train on; use {fix}--set model.batchnorm=false"
    )


def default_run_name(cfg: Config) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = cfg.run.recipe or cfg.model["name"]
    data = Path(cfg.data.name).name.replace(" ", "_")
    return f"{base}-{data}-{stamp}"


@dataclass
class Resume:
    """A run folder to continue, read whole and checked before anything is written."""

    run_dir: Path
    saved: dict[str, Any]  # its config.json
    ckpt: Checkpoint
    weights: dict[str, torch.Tensor]
    rng: dict[str, torch.Tensor]
    epoch_pass: Any = None  # the interrupted epoch's progress (loop.EpochPass), if any


def read_resume(run_dir: Path, cfg: Config, saved: dict, device, world: int) -> Resume:
    """The checkpoint of ``run_dir`` (``saved``: its config.json), checked against ``cfg``."""
    ckpt = read_checkpoint(run_dir)
    check_resumable(run_dir, cfg, saved, ckpt, device, world)
    return Resume(run_dir, saved, ckpt, ckpt.weights(), ckpt.rng())


@dataclass
class Setup:
    """Everything a run trains with; built by :func:`prepare`, which writes nothing."""

    cfg: Config  # the run's config, its defaults fitted to the data (data_defaults.py)
    device: torch.device
    train_data: Dataset
    val_data: Dataset
    model: torch.nn.Module
    info: dict[str, Any]  # config.json's content
    gen: torch.Generator  # noise, binarisation (this rank's own under DDP)
    shuffle: torch.Generator  # each epoch's permutation (``gen`` itself when not distributed)
    batches: BatchMaker
    val_gen: torch.Generator
    val_batches: BatchMaker
    precision: Precision
    opt: torch.optim.Optimizer
    sched: Any
    checkpointer: Checkpointer
    steps_per_epoch: int
    resume: Resume | None


def build_model(cfg: Config, model, train_data: Dataset, device) -> torch.nn.Module:
    m = dict(cfg.model)
    name = m.pop("name")
    model = model or create_model(name, train_data.sample_shape, cfg.data.pixel_range, **m)
    model = model.to(device)
    if device.type == "cpu":  # the same parameters, computed faster: aekit/layers/cpu.py
        t = cfg.train
        done = use_fast_cpu_layers(model, t.channels_last, t.fast_conv_transpose)
        if any(done.values()):
            log.info("CPU training layers: %s", ", ".join(f"{k} {n}" for k, n in done.items()))
    return model


def generators(t, dd: Dist, device, info: dict) -> tuple[torch.Generator, torch.Generator]:
    """(batches' generator, shuffling generator), seeded from train.seed."""
    gen = torch.Generator(device=device).manual_seed(t.seed)  # shuffling and noise
    if not dd.enabled:
        return gen, gen
    # the same permutation on every rank; noise, binarisation, dropout and VAE samples
    # from each rank's own streams
    shuffle = torch.Generator(device=device).manual_seed(t.seed)
    gen = torch.Generator(device=device).manual_seed(dd.rank_seed(t.seed))
    torch.manual_seed(dd.rank_seed(t.seed))
    info["distributed"] = {"world_size": dd.world, "backend": dd.backend}
    return gen, shuffle


def batch_maker(data: Dataset, cfg: Config, device, gen) -> BatchMaker:
    d = cfg.data
    return BatchMaker(data, device, d.pixel_range, d.binarize, d.noise, d.noise_level, gen)


def prepare(
    cfg: Config, dd: Dist, device_name: str, model, resume: Path | None, fit: bool = True
) -> Setup:
    """Read and check all a run needs, in the order its random draws were always made."""
    t = cfg.train
    device = resolve_device(device_name)
    res = None
    if resume is not None:  # the settings not given are the run's own
        saved = read_run_config(resume)
        cfg = adopt_run_settings(cfg, saved)
        t = cfg.train
        res = read_resume(resume, cfg, saved, device, dd.world)
    torch.manual_seed(t.seed)
    train_data, val_data = load_splits(cfg)
    if fit:
        cfg = fit_to_data(cfg, train_data, val_data)
        t = cfg.train
    check_config(cfg, len(train_data), dd.world)
    model = build_model(cfg, model, train_data, device)
    if fit and res is None:  # a resumed run keeps the precision its config.json records
        cfg = fit_precision(cfg, model, device)
        t = cfg.train
    precision = Precision(t.precision, device)
    info = run_info(cfg, model, train_data, val_data, device)
    steps_per_epoch = steps_in_epoch(len(train_data), t.batch_size, 2 * dd.world)
    if res is not None:
        resumed_info(res, info, steps_per_epoch, t.batch_size, len(train_data))
        load_weights(model, res)
    elif dd.is_main:
        overcomplete_warning(model, cfg)
    gen, shuffle = generators(t, dd, device, info)
    val_gen = torch.Generator(device=device)
    opt = make_optimizer([p for p in model.parameters() if p.requires_grad], t)
    sched = make_scheduler(opt, t, steps_per_epoch)
    ckp = Checkpointer(t, dd, device, gen, shuffle, precision)
    if res is not None:
        sched = ckp.restore(res.ckpt, opt, sched, steps_per_epoch)
        res.epoch_pass = ckp.epoch_pass(res.ckpt, res.rng)
    return Setup(
        cfg=cfg,
        device=device,
        train_data=train_data,
        val_data=val_data,
        model=model,
        info=info,
        gen=gen,
        shuffle=shuffle,
        batches=batch_maker(train_data, cfg, device, gen),
        val_gen=val_gen,
        val_batches=batch_maker(val_data, cfg, device, val_gen),
        precision=precision,
        opt=opt,
        sched=sched,
        checkpointer=ckp,
        steps_per_epoch=steps_per_epoch,
        resume=res,
    )


def resumed_info(
    res: Resume, info: dict, steps_per_epoch: int, batch_size: int, n_train: int
) -> None:
    """Check that the data still gives the checkpoint's steps per epoch; keep the run's
    creation time and add this resume to its list."""
    saved = res.ckpt.state["steps_per_epoch"]
    if saved != steps_per_epoch and saved == math.ceil(n_train / batch_size):
        raise ConfigError(  # same data, split by an aekit before training/loop.py's batch_end
            f"{res.run_dir} was trained with a last batch of {n_train % batch_size} sample(s), "
            "which this aekit joins to the batch before it; resume it with the aekit that "
            f"trained it (aekit {res.saved.get('aekit_version', '?')}), or start a "
            "new run"
        )
    if saved != steps_per_epoch:
        raise ConfigError(
            f"{res.run_dir} has {res.ckpt.state['steps_per_epoch']} steps per epoch in its "
            "checkpoint and a different number here: its data changed; start a new run"
        )
    before = res.saved.get("data", {}).get("fingerprint")  # runs before 2026-12-02 have none
    if before is not None and before != info["data"]["fingerprint"]:
        raise ConfigError(
            f"the data of {res.run_dir} changed since it started ({info['data']['name']}: "
            "same number of samples, other values); put the original data back to resume, or "
            "start a new run"
        )
    info["created"] = res.saved.get("created", info["created"])
    now = dt.datetime.now().isoformat(timespec="seconds")
    info["resumed"] = [*res.saved.get("resumed", []), {"from_epoch": res.ckpt.epoch, "at": now}]


def load_weights(model: torch.nn.Module, res: Resume) -> None:
    try:
        model.load_state_dict(res.weights)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[-1].strip()
        raise ConfigError(
            f"the checkpoint of {str(res.run_dir)!r} does not fit its model ({first}); it was "
            "written for another architecture: start a new run with `aekit train`"
        ) from None


def overcomplete_warning(model, cfg: Config) -> None:
    from aekit.models.base import Autoencoder

    unregularised = type(model).regularizers is Autoencoder.regularizers
    if model.latent_dim > model.input_dim and cfg.data.noise == "none" and unregularised:
        other_fixes = (
            ", or add noise (--set data.noise=gaussian --set data.noise_level=0.3; "
            'data={"noise": "gaussian", "noise_level": 0.3} in aekit.train) or a sparsity '
            'penalty (--model sparse; model="sparse" in Python)'
        )
        log.warning(
            "latent size %d exceeds the input size %d and nothing regularises the code: the model "
            "can learn the identity. Use a latent size of at most %d (--latent-dim; latent_dim= "
            "in Python)%s.",
            model.latent_dim,
            model.input_dim,
            max(1, model.input_dim - 1),
            "" if model.registry_name == "tabular" else other_fixes,  # its own loss per column
        )


def run_info(cfg: Config, model, train: Dataset, val: Dataset, device) -> dict[str, Any]:
    m = model_config_dict(model)
    return {
        "aekit_version": __version__,
        "torch_version": torch.__version__,
        "created": dt.datetime.now().isoformat(timespec="seconds"),
        "config": cfg.to_dict(),
        "model": {"name": model.registry_name, **m},
        "input_shape": list(model.input_shape),
        "pixel_range": cfg.data.pixel_range,
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": str(device),
        "data": {
            "name": train.name,
            "n_train": len(train),
            "n_val": len(val),
            "split": train.info.get("split_seed", cfg.data.split_seed),
            "val_fraction": cfg.data.val_fraction,
            "classes": train.classes,
            "features": train.info.get("features"),  # column names of a CSV header
            "lo": None if train.lo is None else train.lo.flatten().tolist(),
            "hi": None if train.hi is None else train.hi.flatten().tolist(),
            "fingerprint": data_fingerprint(train, val),
        },
    }


#: data up to this size is hashed whole at the start of a run (full MNIST, 47 MB: 0.1 s);
#: larger data (memory-mapped) by FINGERPRINT_ROWS rows spread over it
FINGERPRINT_WHOLE_BYTES = 512 * 2**20
FINGERPRINT_ROWS = 4096


def data_fingerprint(*splits: Dataset) -> str:
    """A hash of the splits' samples in their order, so that a resume can tell that the data
    changed under the run (a file rewritten with the same number of rows)."""
    h = hashlib.blake2b(digest_size=16)
    for data in splits:
        x = data.x
        h.update(repr((tuple(x.shape), str(x.dtype))).encode())
        n = len(x)
        if isinstance(x, torch.Tensor) and x.numel() * x.element_size() <= FINGERPRINT_WHOLE_BYTES:
            rows = x
        else:  # a memory map: rows spread over the whole file
            idx = torch.linspace(0, max(n - 1, 0), min(n, FINGERPRINT_ROWS)).long()
            rows = x[idx] if isinstance(x, torch.Tensor) else x.gather(idx)
        h.update(memoryview(rows.detach().cpu().contiguous().numpy()).cast("B"))
    return h.hexdigest()


def config_from_any(config: Config | dict | str | Path | None) -> Config:
    from aekit.config import apply_config_dict, load_config_file

    if config is None:
        return Config()
    if isinstance(config, Config):
        return dataclasses.replace(config)
    if isinstance(config, (str, Path)):
        return apply_config_dict(Config(), load_config_file(config))
    if isinstance(config, dict):
        return apply_config_dict(Config(), config)
    raise DataError(
        f"config must be a Config, a dict or a path to a .toml file; got {type(config).__name__}"
    )
