"""ONE training loop for every model: data in memory, shuffled index slices, named loss terms."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import aekit
from aekit._registry import create_model, model_config_dict
from aekit.config import Config
from aekit.data import BatchMaker, Dataset, binarize_mode, load_dataset, spread_indices
from aekit.data.noise import NOISES
from aekit.errors import ConfigError, DataError, TrainingDiverged
from aekit.losses import LOSSES
from aekit.models.summary import model_summary
from aekit.training.final import end_of_run_metrics
from aekit.training.optim import make_optimizer, make_scheduler
from aekit.training.run_dir import (
    METRICS,
    WEIGHTS,
    atomic_write_text,
    new_run_dir,
    save_weights,
    write_run_config,
)

log = logging.getLogger(__name__)


@dataclass
class TrainState:
    """What callbacks see: the run so far."""

    config: Config
    run_dir: Path
    model: torch.nn.Module
    train_data: Dataset
    val_data: Dataset
    epochs: int
    steps_per_epoch: int
    epoch: int = 0  # 1-based epoch just finished (0 before the first)
    step: int = 0  # optimiser steps so far
    history: list[dict] = field(default_factory=list)  # per-epoch records
    preview: tuple[torch.Tensor, torch.Tensor] | None = None  # fixed (input, clean) val images
    last: dict = field(default_factory=dict)  # the latest record written


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
    kw = dict(
        val_fraction=d.val_fraction,
        split_seed=d.split_seed,
        image_size=d.image_size,
        grayscale=d.grayscale,
        limit=d.limit,
    )
    train = load_dataset(d.name, d.data_dir, "train", **kw)
    val = load_dataset(d.name, d.data_dir, "val", **kw) if d.val_fraction > 0 else train
    return train, val


#: train.precision -> the autocast dtype (None: plain float32)
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_config(cfg: Config, n_train: int) -> None:
    t, d = cfg.train, cfg.data
    if t.epochs <= 0:
        raise ConfigError(f"train.epochs must be positive; got {t.epochs}")
    if t.batch_size <= 0 or t.batch_size > n_train:
        raise ConfigError(
            f"batch size {t.batch_size} must be between 1 and the {n_train} training samples; "
            f"try --batch-size {min(128, n_train)}"
        )
    if t.loss not in LOSSES:
        raise ConfigError(f"unknown loss {t.loss!r}; choose one of: {', '.join(LOSSES)}")
    if d.pixel_range not in ("01", "-11"):
        raise ConfigError(f"data.pixel_range must be '01' or '-11'; got {d.pixel_range!r}")
    binarize_mode(d.binarize)  # raises on an unknown value
    if d.noise not in NOISES:
        raise ConfigError(f"unknown noise {d.noise!r}; choose one of: {', '.join(NOISES)}")
    if t.precision not in PRECISIONS:
        raise ConfigError(
            f"unknown precision {t.precision!r}; choose one of: {', '.join(PRECISIONS)}"
        )
    if t.loss == "bce" and d.pixel_range == "-11":
        raise ConfigError(
            "BCE needs targets in [0, 1]; use --set data.pixel_range=01 or --loss mse"
        )


class Precision:
    """Mixed precision for the forward pass and the loss: autocast to bf16/fp16, with loss
    scaling for fp16 (its range is too small for small gradients). fp32 is a no-op."""

    def __init__(self, name: str, device: torch.device):
        self.dtype = PRECISIONS[name]
        if name == "fp16" and device.type != "cuda":
            raise ConfigError(
                "train.precision fp16 needs a CUDA device; use --set train.precision=bf16 on CPU"
            )
        self.device_type = device.type
        self.scaler = torch.amp.GradScaler(device.type) if name == "fp16" else None

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def step(self, opt, params, grad_clip: float) -> None:
        if self.scaler:
            if grad_clip > 0:
                self.scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            self.scaler.step(opt)
            self.scaler.update()
            return
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        opt.step()


def default_run_name(cfg: Config) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = cfg.run.recipe or cfg.model["name"]
    data = Path(cfg.data.name).name.replace(" ", "_")
    return f"{base}-{data}-{stamp}"


class Trainer:
    """Trains one model on one dataset according to a Config, writing a run folder.

    Callbacks are objects with any of ``on_train_start``, ``on_step``, ``on_epoch_end``,
    ``on_train_end`` taking a :class:`TrainState`; the library itself never prints.
    """

    def __init__(
        self, config: Config, callbacks: list[Any] = (), model: torch.nn.Module | None = None
    ):
        self.cfg = config
        self.callbacks = list(callbacks)
        self._model = model

    def optimizer_for(self, params) -> torch.optim.Optimizer:
        """A fresh optimiser of the run's kind and settings (for a model's ``pretrain`` hook)."""
        return make_optimizer(list(params), self.cfg.train)

    def _emit(self, event: str, state: TrainState) -> None:
        for cb in self.callbacks:
            fn = getattr(cb, event, None)
            if fn is not None:
                fn(state)

    def run(self) -> TrainState:
        cfg = self.cfg
        t = cfg.train
        torch.manual_seed(t.seed)
        device = resolve_device(t.device)
        train_data, val_data = load_splits(cfg)
        check_config(cfg, len(train_data))
        self.precision = Precision(t.precision, device)
        m = dict(cfg.model)
        name = m.pop("name")
        model = self._model or create_model(
            name, train_data.sample_shape, cfg.data.pixel_range, **m
        )
        model = model.to(device)
        overcomplete_warning(model, cfg)

        gen = torch.Generator(device=device).manual_seed(t.seed)
        batches = BatchMaker(
            train_data,
            device,
            cfg.data.pixel_range,
            cfg.data.binarize,
            cfg.data.noise,
            cfg.data.noise_level,
            gen,
        )
        val_gen = torch.Generator(device=device)
        val_batches = BatchMaker(
            val_data,
            device,
            cfg.data.pixel_range,
            cfg.data.binarize,
            cfg.data.noise,
            cfg.data.noise_level,
            val_gen,
        )
        n = len(train_data)
        steps_per_epoch = math.ceil(n / t.batch_size)

        run_dir = new_run_dir(cfg.run.out_dir, cfg.run.name or default_run_name(cfg))
        (run_dir / "plots").mkdir(exist_ok=True)
        info = run_info(cfg, model, train_data, val_data, device)
        write_run_config(run_dir, info)
        atomic_write_text(run_dir / "model_summary.txt", model_summary(model) + "\n")
        metrics = open(run_dir / METRICS, "a")

        state = TrainState(cfg, run_dir, model, train_data, val_data, t.epochs, steps_per_epoch)
        k = min(8, len(val_data))
        val_gen.manual_seed(t.seed + 1)
        state.preview = val_batches(spread_indices(len(val_data), k).to(device))
        self._emit("on_train_start", state)

        if hasattr(model, "pretrain") and t.pretrain_epochs > 0:
            model.pretrain(self, batches, t.pretrain_epochs)

        opt = make_optimizer([p for p in model.parameters() if p.requires_grad], t)
        sched = make_scheduler(opt, t, steps_per_epoch)
        start = time.perf_counter()
        try:
            for epoch in range(t.epochs):
                model.on_epoch_start(epoch, t.epochs)
                model.train()
                sums = self._epoch(model, batches, opt, sched, state, metrics, epoch)
                sched.step_epoch()
                rec = {"epoch_end": True, "epoch": epoch + 1, "step": state.step}
                rec.update({f"train_{k}": v for k, v in sums.items()})
                val_gen.manual_seed(t.seed + 1)  # the same corruption every epoch
                rec.update(
                    {
                        f"val_{k}": v
                        for k, v in evaluate_loss(model, val_batches, t.loss, t.batch_size).items()
                    }
                )
                rec["lr"] = opt.param_groups[0]["lr"]
                rec["time_s"] = round(time.perf_counter() - start, 3)
                if not all(math.isfinite(v) for k, v in rec.items() if isinstance(v, float)):
                    raise TrainingDiverged(
                        f"the loss became NaN/inf in epoch {epoch + 1}; lower the learning rate "
                        f"(now {t.lr:g}) or set --set train.grad_clip=1.0. The run folder {run_dir} "
                        "keeps the last good weights"
                    )
                metrics.write(json.dumps(rec) + "\n")
                metrics.flush()
                state.epoch, state.last = epoch + 1, rec
                state.history.append(rec)
                save_weights(model, run_dir / WEIGHTS)
                self._emit("on_epoch_end", state)
        finally:
            metrics.close()
        info["result"] = final_result(state, time.perf_counter() - start)
        info["result"].update(model.run_metrics())
        info["result"].update(end_of_run_metrics(model, train_data, val_batches, cfg))
        write_run_config(run_dir, info)
        self._emit("on_train_end", state)
        return state

    def _epoch(self, model, batches, opt, sched, state, metrics, epoch) -> dict[str, float]:
        """One pass over the shuffled training data; returns the mean of each loss term."""
        t = self.cfg.train
        n = len(batches)
        perm = torch.randperm(n, device=batches.device, generator=batches.generator)
        # per-term sums of (batch loss x batch size), kept on the device: no host sync per step,
        # one in-place add per term (benchmarks/RESULTS.md: where the per-step time goes)
        sums: dict[str, torch.Tensor] = {}
        count = 0
        params = [p for g in opt.param_groups for p in g["params"]]
        amp = self.precision
        for i in range(0, n, t.batch_size):
            idx = perm[i : i + t.batch_size]
            x, target = batches(idx)
            with amp.autocast():
                out = model(x)
                terms = model.loss_terms(out, x, target, t.loss)
            values = iter(terms.values())
            loss = next(values)
            for v in values:  # no `sum()`: it starts with an extra `0 + tensor` op
                loss = loss + v
            opt.zero_grad(set_to_none=True)
            amp.backward(loss)
            amp.step(opt, params, t.grad_clip)
            sched.step_batch()
            state.step += 1
            b = idx.shape[0]
            count += b
            with torch.no_grad():
                for k, v in terms.items():
                    if k not in sums:
                        sums[k] = torch.zeros((), device=v.device)
                    sums[k].add_(v.detach(), alpha=b)
                if len(terms) > 1:
                    if "loss" not in sums:
                        sums["loss"] = torch.zeros((), device=loss.device)
                    sums["loss"].add_(loss.detach(), alpha=b)
            if t.log_every and state.step % t.log_every == 0:
                rec = {
                    "step": state.step,
                    "epoch_float": round(epoch + (i + b) / n, 4),
                    "loss": loss.item(),
                    "lr": opt.param_groups[0]["lr"],
                }
                metrics.write(json.dumps(rec) + "\n")
                state.last = rec
                self._emit("on_step", state)
        out = {k: float(v) / count for k, v in sums.items()}
        if "loss" not in out:  # one term: the loss is that term
            out["loss"] = next(iter(out.values()))
        return out


@torch.no_grad()
def evaluate_loss(
    model, batches: BatchMaker, loss: str, batch_size: int = 1024
) -> dict[str, float]:
    """Mean of each loss term over a dataset, in eval mode."""
    was = model.training
    model.eval()
    sums: dict[str, float] = {}
    n = len(batches)
    try:
        for i in range(0, n, max(batch_size, 256)):
            idx = torch.arange(i, min(n, i + max(batch_size, 256)), device=batches.device)
            x, target = batches(idx)
            out = model(x)
            terms = model.loss_terms(out, x, target, loss)
            terms["loss"] = sum(terms.values())
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(idx)
    finally:
        model.train(was)
    return {k: v / n for k, v in sums.items()}


def overcomplete_warning(model, cfg: Config) -> None:
    from aekit.models.base import Autoencoder

    unregularised = type(model).regularizers is Autoencoder.regularizers
    if model.latent_dim > model.input_dim and cfg.data.noise == "none" and unregularised:
        log.warning(
            "latent size %d exceeds the input size %d and nothing regularises the code: the model "
            "can learn the identity. Add noise (--set data.noise=gaussian --set data.noise_level=0.3) "
            "or a sparsity penalty.",
            model.latent_dim,
            model.input_dim,
        )


def run_info(cfg: Config, model, train: Dataset, val: Dataset, device) -> dict[str, Any]:
    m = model_config_dict(model)
    return {
        "aekit_version": aekit.__version__,
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
            "lo": None if train.lo is None else train.lo.flatten().tolist(),
            "hi": None if train.hi is None else train.hi.flatten().tolist(),
        },
    }


def final_result(state: TrainState, seconds: float) -> dict[str, Any]:
    last = state.history[-1]
    out = {k: v for k, v in last.items() if k.startswith(("train_", "val_"))}
    out.update({"epochs": state.epoch, "steps": state.step, "train_seconds": round(seconds, 2)})
    return out


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
