"""ONE training loop for every model: data in memory, shuffled index slices, named loss terms."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
import json
import logging
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import aekit
from aekit._registry import create_model, model_config_dict
from aekit.config import Config
from aekit.data import BatchMaker, Dataset, load_dataset, spread_indices
from aekit.errors import ConfigError, DataError, TrainingDiverged
from aekit.models.summary import model_summary
from aekit.training import distributed, fastpath
from aekit.training.checkpoint import check_resumable, read_checkpoint, write_checkpoint
from aekit.training.final import end_of_run_metrics
from aekit.training.optim import make_optimizer, make_scheduler
from aekit.training.run_dir import (
    METRICS,
    WEIGHTS,
    atomic_write_text,
    new_run_dir,
    read_run_config,
    save_weights,
    write_run_config,
)
from aekit.training.threads import ThreadPolicy

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
    rank: int = 0  # this process in a torchrun job (only rank 0 writes files and runs callbacks)
    world_size: int = 1  # processes training the model together


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


def has_conv(model: torch.nn.Module) -> bool:
    """Whether ``model`` has 2-D convolutions (which train faster channels-last on the CPU)."""
    convs = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    return any(isinstance(m, convs) for m in model.modules())


def default_run_name(cfg: Config) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = cfg.run.recipe or cfg.model["name"]
    data = Path(cfg.data.name).name.replace(" ", "_")
    return f"{base}-{data}-{stamp}"


class Trainer:
    """Trains one model on one dataset according to a Config, writing a run folder.

    Callbacks are objects with any of ``on_train_start``, ``on_step``, ``on_epoch_end``,
    ``on_train_end`` taking a :class:`TrainState`; the library itself never prints.
    ``on_epoch_end`` runs on a fork of the global RNG, so callbacks (plots, TensorBoard) never
    change what is trained. ``resume``: a run folder to continue from its last checkpoint
    (``training/checkpoint.py``); under ``torchrun`` the processes train one model with DDP
    (``training/distributed.py``).
    """

    def __init__(
        self,
        config: Config,
        callbacks: list[Any] = (),
        model: torch.nn.Module | None = None,
        resume: str | Path | None = None,
    ):
        self.cfg = config
        # the thread policy last: it puts the caller's thread count back after the others end
        self.callbacks = [*callbacks, ThreadPolicy(config.train.threads)]
        self._model = model
        self.resume = None if resume is None else Path(resume)
        self.dist = distributed.Dist()
        self._forward = None  # the DDP wrapper when distributed, else the model
        self._shuffle = None  # the generator of each epoch's permutation
        self._fast = None  # the autograd-free step, where it applies (training/fastpath.py)

    def optimizer_for(self, params) -> torch.optim.Optimizer:
        """A fresh optimiser of the run's kind and settings (for a model's ``pretrain`` hook)."""
        return make_optimizer(list(params), self.cfg.train)

    def _emit(self, event: str, state: TrainState) -> None:
        for cb in self.callbacks:
            fn = getattr(cb, event, None)
            if fn is not None:
                fn(state)

    def run(self) -> TrainState:
        self.dist, device_name = distributed.setup(self.cfg.train.device)
        try:
            return self._run(device_name)
        finally:
            self._forward = None  # DDP's reducer goes before its process group
            if self.dist.enabled:
                gc.collect()  # about 90 ms in a test process: only where a process group ends
            self.dist.close()

    def _run(self, device_name: str) -> TrainState:
        cfg, dd = self.cfg, self.dist
        t = cfg.train
        device = resolve_device(device_name)
        ckpt = None
        if self.resume is not None:  # every check before any data is read or file written
            saved = read_run_config(self.resume)
            ckpt = read_checkpoint(self.resume)
            check_resumable(self.resume, cfg, saved, ckpt, device, dd.world)
        torch.manual_seed(t.seed)
        train_data, val_data = load_splits(cfg)
        check_config(cfg, len(train_data), dd.world)
        self.precision = Precision(t.precision, device)
        m = dict(cfg.model)
        name = m.pop("name")
        model = self._model or create_model(
            name, train_data.sample_shape, cfg.data.pixel_range, **m
        )
        model = model.to(device)
        if t.channels_last and device.type == "cpu" and has_conv(model):
            model = model.to(memory_format=torch.channels_last)  # NHWC: oneDNN's own layout
        info = run_info(cfg, model, train_data, val_data, device)
        if ckpt is not None:
            if ckpt.state["steps_per_epoch"] != math.ceil(len(train_data) / t.batch_size):
                raise ConfigError(
                    f"{self.resume} has {ckpt.state['steps_per_epoch']} steps per epoch in its "
                    "checkpoint and a different number here: its data changed; start a new run"
                )
            info["created"] = saved.get("created", info["created"])
            now = dt.datetime.now().isoformat(timespec="seconds")
            info["resumed"] = [*saved.get("resumed", []), {"from_epoch": ckpt.epoch, "at": now}]
        if dd.is_main and ckpt is None:
            overcomplete_warning(model, cfg)

        gen = torch.Generator(device=device).manual_seed(t.seed)  # shuffling and noise
        self._shuffle = gen
        if dd.enabled:
            # the same permutation on every rank; noise, binarisation, dropout and VAE samples
            # from each rank's own streams
            self._shuffle = torch.Generator(device=device).manual_seed(t.seed)
            gen = torch.Generator(device=device).manual_seed(dd.rank_seed(t.seed))
            torch.manual_seed(dd.rank_seed(t.seed))
            info["distributed"] = {"world_size": dd.world, "backend": dd.backend}
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

        if ckpt is not None:
            run_dir = self.resume
        elif dd.is_main:
            run_dir = new_run_dir(cfg.run.out_dir, cfg.run.name or default_run_name(cfg))
        else:
            run_dir = None
        run_dir = Path(dd.broadcast_str(str(run_dir) if dd.is_main else None))
        if dd.is_main:
            (run_dir / "plots").mkdir(exist_ok=True)
            write_run_config(run_dir, info)
            atomic_write_text(run_dir / "model_summary.txt", model_summary(model) + "\n")
            if ckpt is not None:  # drop the lines of an epoch that the checkpoint does not hold
                truncate(run_dir / METRICS, ckpt.state["metrics_bytes"])
            metrics = open(run_dir / METRICS, "a")
        else:
            self.callbacks = []  # the other ranks write nothing
            metrics = open(os.devnull, "w")

        state = TrainState(cfg, run_dir, model, train_data, val_data, t.epochs, steps_per_epoch)
        state.rank, state.world_size = dd.rank, dd.world
        if ckpt is not None:
            state.epoch, state.step = ckpt.epoch, ckpt.state["step"]
            state.history = ckpt.state["history"]
            state.last = state.history[-1]
        k = min(8, len(val_data))
        val_gen.manual_seed(t.seed + 1)
        state.preview = val_batches(spread_indices(len(val_data), k).to(device))
        if ckpt is None and self._model is None:
            model.init_from_data(batches)
        self._emit("on_train_start", state)

        if hasattr(model, "pretrain") and t.pretrain_epochs > 0 and ckpt is None:
            model.pretrain(self, batches, t.pretrain_epochs)

        opt = make_optimizer([p for p in model.parameters() if p.requires_grad], t)
        sched = make_scheduler(opt, t, steps_per_epoch)
        if ckpt is not None:
            model.load_state_dict(ckpt.weights())
            sched = self._restore(ckpt, opt, sched, steps_per_epoch, device)
            self._set_rng(ckpt.rng(), gen, device)
        self._forward = model
        fast = t.fast_mlp_step and fastpath.applies(model, t.loss, t.precision, dd.enabled)
        self._fast = fastpath.MLPStep(model, t.loss) if fast else None
        if dd.enabled:  # after loading: DDP starts every rank from rank 0's weights
            ids = [device.index] if device.type == "cuda" else None
            self._forward = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        done = state.history[-1]["time_s"] if ckpt is not None else 0.0  # seconds before resume
        saved_epoch = state.epoch  # of the last checkpoint on disk (0: none)
        last_checkpoint = time.perf_counter()  # when the last one was written (or training began)
        start = time.perf_counter()
        try:
            for epoch in range(state.epoch, t.epochs):
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
                rec["time_s"] = round(done + time.perf_counter() - start, 3)
                if not all(math.isfinite(v) for k, v in rec.items() if isinstance(v, float)):
                    kept = "the last good weights"
                    if saved_epoch:
                        kept += (
                            f" and the checkpoint of epoch {saved_epoch} (`aekit train --resume "
                            f"{run_dir} --set train.grad_clip=1.0` continues from it)"
                        )
                    raise TrainingDiverged(
                        f"the loss became NaN/inf in epoch {epoch + 1}; lower the learning rate "
                        f"(now {t.lr:g}) or set --set train.grad_clip=1.0. The run folder "
                        f"{run_dir} keeps {kept}"
                    )
                metrics.write(json.dumps(rec) + "\n")
                metrics.flush()
                state.epoch, state.last = epoch + 1, rec
                state.history.append(rec)
                if dd.is_main:
                    save_weights(model, run_dir / WEIGHTS)
                if self._checkpoint_due(epoch, last_checkpoint):
                    self._checkpoint(state, model, opt, sched, gen, device, metrics)
                    saved_epoch, last_checkpoint = state.epoch, time.perf_counter()
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    self._emit("on_epoch_end", state)
        finally:
            metrics.close()
        seconds = done + time.perf_counter() - start
        if dd.is_main:
            info["result"] = final_result(state, seconds)
            info["result"].update(model.run_metrics())
            info["result"].update(end_of_run_metrics(model, train_data, val_batches, cfg))
            write_run_config(run_dir, info)
        self._emit("on_train_end", state)
        return state

    def _rng_states(self, gen: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
        """Every generator the run draws from, per rank (a collective call under DDP)."""
        mine = {"batches": gen.get_state(), "torch": torch.get_rng_state()}
        if device.type == "cuda":
            mine["cuda"] = torch.cuda.get_rng_state(device)
        out = {}
        for k, v in mine.items():
            for r, s in enumerate(self.dist.gather(v)):
                out[f"rank{r}.{k}"] = s
        if self._shuffle is not gen:
            out["shuffle"] = self._shuffle.get_state()  # the same on every rank
        return out

    def _set_rng(self, rng: dict[str, torch.Tensor], gen: torch.Generator, device) -> None:
        r = self.dist.rank
        gen.set_state(rng[f"rank{r}.batches"])
        torch.set_rng_state(rng[f"rank{r}.torch"])
        if device.type == "cuda":
            torch.cuda.set_rng_state(rng[f"rank{r}.cuda"], device)
        if self._shuffle is not gen:
            self._shuffle.set_state(rng["shuffle"])

    def _checkpoint_due(self, epoch: int, last: float) -> bool:
        """Every ``checkpoint_every`` epochs and after the last; an earlier one is skipped when
        the previous was written less than ``checkpoint_min_s`` ago (a run of many tiny epochs
        would spend its time writing checkpoints). Rank 0 decides for every rank."""
        t = self.cfg.train
        done = epoch + 1
        if not t.checkpoint_every or (done % t.checkpoint_every and done != t.epochs):
            return False
        due = done == t.epochs or time.perf_counter() - last >= t.checkpoint_min_s
        return self.dist.broadcast_str(str(due) if self.dist.is_main else None) == "True"

    def _checkpoint(self, state, model, opt, sched, gen, device, metrics) -> None:
        rng = self._rng_states(gen, device)  # every rank takes part
        if not self.dist.is_main:
            return
        opt_state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
        if self.precision.scaler is not None:
            opt_state["scaler"] = self.precision.scaler.state_dict()
        write_checkpoint(
            state.run_dir,
            epoch=state.epoch,
            weights=model.state_dict(),
            rng=rng,
            optimizer=opt_state,
            state={
                "step": state.step,
                "epochs": self.cfg.train.epochs,
                "steps_per_epoch": state.steps_per_epoch,
                "world_size": self.dist.world,
                "device": device.type,
                "metrics_bytes": os.fstat(metrics.fileno()).st_size,
                "history": state.history,
            },
        )

    def _restore(self, ckpt, opt, sched, steps_per_epoch: int, device):
        """Optimiser and schedule state from a checkpoint; returns the scheduler to use.

        Same train.epochs: the saved scheduler continues. More epochs: the schedule is rebuilt
        over the new total and advanced to the current step, so the lr from here on is the one
        a run configured with the new total from the start would use.
        """
        t = self.cfg.train
        saved = ckpt.optimizer(device)
        opt.load_state_dict(saved["optimizer"])
        if "scaler" in saved and self.precision.scaler is not None:
            self.precision.scaler.load_state_dict(saved["scaler"])
        if ckpt.state["epochs"] == t.epochs:
            sched.load_state_dict(saved["scheduler"])
            return sched
        for g in opt.param_groups:
            g["lr"] = g.get("initial_lr", t.lr)
        sched = make_scheduler(opt, t, steps_per_epoch)
        with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()": on purpose
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(ckpt.state["step"]):
                sched.step_batch()
            for _ in range(ckpt.epoch):
                sched.step_epoch()
        return sched

    def _epoch(self, model, batches, opt, sched, state, metrics, epoch) -> dict[str, float]:
        """One pass over the shuffled training data; returns the mean of each loss term."""
        t = self.cfg.train
        n = len(batches)
        shuffle = batches.generator if self._shuffle is None else self._shuffle
        perm = torch.randperm(n, device=batches.device, generator=shuffle)
        fwd = model if self._forward is None else self._forward  # DDP syncs grads in backward
        shard = self.dist.shard if self.dist.enabled else None
        # per-term sums of (batch loss x batch size), kept on the device: no host sync per step,
        # one in-place add per term (benchmarks/RESULTS.md: where the per-step time goes)
        sums: dict[str, torch.Tensor] = {}
        count = 0
        params = [p for g in opt.param_groups for p in g["params"]]
        amp = self.precision
        for i in range(0, n, t.batch_size):
            idx = perm[i : i + t.batch_size]
            if shard is None:
                b, w = idx.shape[0], None
            else:  # this rank's rows; w makes DDP's gradient average the global batch mean
                idx, b, w = shard(idx)
            x, target = batches(idx)
            if self._fast is not None:  # writes every .grad itself (training/fastpath.py)
                loss = self._fast(x, target)
                terms = {"recon": loss}
            else:
                with amp.autocast():
                    out = fwd(x)
                    terms = model.loss_terms(out, x, target, t.loss)
                values = iter(terms.values())
                loss = next(values)
                for v in values:  # no `sum()`: it starts with an extra `0 + tensor` op
                    loss = loss + v
                opt.zero_grad(set_to_none=True)
                amp.backward(loss if w is None else loss * w)
            amp.step(opt, params, t.grad_clip)
            sched.step_batch()
            state.step += 1
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
                    "epoch_float": round(epoch + min(i + t.batch_size, n) / n, 4),
                    "loss": loss.item(),
                    "lr": opt.param_groups[0]["lr"],
                }
                metrics.write(json.dumps(rec) + "\n")
                state.last = rec
                self._emit("on_step", state)
        if shard is not None:  # the epoch's means over every rank's samples
            keys = list(sums)
            n_seen = torch.tensor(float(count), device=perm.device)
            total = self.dist.all_sum(torch.stack([*(sums[k] for k in keys), n_seen]))
            sums, count = dict(zip(keys, total[:-1])), int(total[-1])
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


def truncate(path: Path, size: int) -> None:
    """Cut a file back to ``size`` bytes (lines written after the checkpoint being resumed)."""
    if path.is_file() and path.stat().st_size > size:
        with open(path, "r+b") as f:
            f.truncate(size)


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
