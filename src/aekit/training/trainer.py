"""ONE training loop for every model: set up (training/setup.py), then epochs of steps
(training/loop.py, training/step.py), checkpoints (training/checkpointer.py), the result."""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import math
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import aekit.training.distributed as distributed
from aekit.config import Config
from aekit.data import Dataset, spread_indices
from aekit.errors import TrainingDiverged, TrainingInterrupted
from aekit.layers import has_conv  # noqa: F401  (exported here before it moved to layers/)
from aekit.models.summary import model_summary
from aekit.training.final import end_of_run_metrics
from aekit.training.interrupts import Interrupts
from aekit.training.loop import EpochPass, evaluate_loss, fit_params, run_epoch, shuffled
from aekit.training.run_dir import (
    METRICS,
    WEIGHTS,
    atomic_write_text,
    new_run_dir,
    run_lock,
    save_weights,
    write_run_config,
)
from aekit.training.setup import (  # noqa: F401  (names this module has always exported)
    Setup,
    check_config,
    config_from_any,
    default_run_name,
    load_splits,
    overcomplete_warning,
    prepare,
    resolve_device,
    run_info,
)
from aekit.training.step import PRECISIONS, Precision, model_step  # noqa: F401
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
        end_of_run: Callable[[TrainState], None] | None = None,
        fit_defaults: bool = True,
    ):
        self.cfg = config
        self.fit_defaults = fit_defaults and resume is None  # training/data_defaults.py
        self.end_of_run = end_of_run  # rank 0's last phase, under the lock (figures, report)
        # the thread policy last: it puts the caller's thread count back after the others end
        self.callbacks = [*callbacks, ThreadPolicy(config.train.threads)]
        self._model = model
        self.resume = None if resume is None else Path(resume)
        self.dist = distributed.Dist()
        self._forward = None  # the DDP wrapper when distributed, else the model

    def _emit(self, event: str, state: TrainState) -> None:
        for cb in self.callbacks:
            fn = getattr(cb, event, None)
            if fn is not None:
                fn(state)

    def fit(self) -> TrainState:
        """Train (or continue, or only finish) the run; returns its final state. The run folder
        is locked meanwhile; Ctrl-C or SIGTERM checkpoints at the next step and raises
        :class:`aekit.errors.TrainingInterrupted` (one process; under DDP a signal stops it)."""
        self.dist, device_name = distributed.setup(self.cfg.train.device)
        try:
            with ExitStack() as stack:
                if self.resume is not None and self.dist.is_main:
                    stack.enter_context(run_lock(self.resume))
                s = prepare(
                    self.cfg, self.dist, device_name, self._model, self.resume, self.fit_defaults
                )
                self.cfg = s.cfg  # with the defaults fitted to the data
                same = {k: v for k, v in s.cfg.to_dict().items() if k in ("data", "model", "train")}
                same["data"]["fingerprint"] = s.info["data"]["fingerprint"]
                self.dist.check_same(same)  # before the first write (run.* may differ by rank)
                if s.resume is None and self._model is None:  # before the folder: it can fail
                    s.model.init_from_data(s.batches)
                state, metrics = self._open_run(s, stack)
                self._start(s, state)
                h = state.history
                t0 = time.perf_counter() - (h[-1]["time_s"] if h else 0.0)
                stops = stack.enter_context(Interrupts(enabled=not self.dist.enabled))
                for epoch in range(state.epoch, self.cfg.train.epochs):
                    self._epoch(s, state, metrics, epoch, t0, stops)
                    with torch.random.fork_rng(devices=self._cuda(s.device)):
                        self._emit("on_epoch_end", state)
                stops.restore()
                metrics.close()
                self._finish(s, state, time.perf_counter() - t0)
            return state
        finally:
            self._forward = None  # DDP's reducer goes before its process group
            if self.dist.enabled:
                gc.collect()  # about 90 ms in a test process: only where a process group ends
            self.dist.close()

    run = fit  # the name this method had first

    @property
    def _fast(self):
        """The autograd-free step's engine when the run took it, else None."""
        return getattr(getattr(self, "_step", None), "fast", None)

    @staticmethod
    def _cuda(device: torch.device) -> list:
        return [device] if device.type == "cuda" else []

    def _open_run(self, s: Setup, stack: ExitStack) -> tuple[TrainState, Any]:
        """The first writes: the run folder (new, or the one resumed), config.json, the model
        summary, metrics.jsonl cut back to the checkpoint; the state to train from."""
        cfg, dd = self.cfg, self.dist
        if s.resume is not None:
            run_dir = s.resume.run_dir
        elif dd.is_main:
            run_dir = new_run_dir(cfg.run.out_dir, cfg.run.name or default_run_name(cfg))
        else:
            run_dir = None
        run_dir = Path(dd.broadcast_str(str(run_dir) if dd.is_main else None))
        if dd.is_main:
            if s.resume is None:
                stack.enter_context(run_lock(run_dir))
            (run_dir / "plots").mkdir(exist_ok=True)
            s.info["finished"] = None  # the end-of-run phase sets it (training/checkpoint.py)
            write_run_config(run_dir, s.info)
            atomic_write_text(run_dir / "model_summary.txt", model_summary(s.model) + "\n")
            if s.resume is not None:  # drop the lines of an epoch the checkpoint does not hold
                truncate(run_dir / METRICS, s.resume.ckpt.state["metrics_bytes"])
            metrics = stack.enter_context(open(run_dir / METRICS, "a"))
        else:
            self.callbacks = []  # the other ranks write nothing
            metrics = stack.enter_context(open(os.devnull, "w"))
        t = cfg.train
        state = TrainState(
            cfg, run_dir, s.model, s.train_data, s.val_data, t.epochs, s.steps_per_epoch
        )
        state.rank, state.world_size = dd.rank, dd.world
        if s.resume is not None:
            ck = s.resume.ckpt
            state.epoch, state.step, state.history = ck.epoch, ck.state["step"], ck.state["history"]
            state.last = state.history[-1] if state.history else {}
        return state, metrics

    def _start(self, s: Setup, state: TrainState) -> None:
        """The preview images, callbacks' start, the model's own phase (greedy pretraining),
        the restored random streams, the step."""
        t, model = self.cfg.train, s.model
        s.val_gen.manual_seed(t.seed + 1)
        k = min(8, len(s.val_data))
        state.preview = s.val_batches(spread_indices(len(s.val_data), k).to(s.device))
        self._emit("on_train_start", state)
        if t.pretrain_epochs > 0 and s.resume is None:
            model.pretrain(fit_params(s.batches, t), t.pretrain_epochs, t.loss)
        if s.resume is not None:
            s.checkpointer.set_rng(s.resume.rng)
        self._forward = model
        if self.dist.enabled:  # after loading: DDP starts every rank from rank 0's weights
            ids = [s.device.index] if s.device.type == "cuda" else None
            self._forward = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        self._step = model_step(model, self._forward, s.opt, t, s.precision, self.dist.enabled)

    def _epoch(self, s: Setup, state: TrainState, metrics, epoch: int, t0: float, stops) -> None:
        """Train epoch ``epoch`` (0-based), log its record, save the weights, checkpoint; on a
        stop request, checkpoint where it stands and raise TrainingInterrupted."""
        t, model, ckp = self.cfg.train, s.model, s.checkpointer
        model.on_epoch_start(epoch, t.epochs)
        model.train()
        ep = self._resumed_pass(s, epoch) or shuffled(s.batches, s.shuffle)
        shard = self.dist.shard if self.dist.enabled else None
        after = self._after_step(s, state, metrics, epoch, stops)
        min_rows = 2 * self.dist.world  # per process: none gets a batch of one
        if not run_epoch(s.batches, ep, t.batch_size, self._step, shard, after, min_rows):
            metrics.flush()
            ckp.write(state, model, s.opt, s.sched, os.fstat(metrics.fileno()).st_size, ep)
            raise self._interrupted(state, stops, epoch)
        sums = ep.means(self.dist.all_sum if shard is not None else None)
        s.sched.step_epoch()
        rec = {"epoch_end": True, "epoch": epoch + 1, "step": state.step}
        rec.update({f"train_{k}": v for k, v in sums.items()})
        s.val_gen.manual_seed(t.seed + 1)  # the same corruption every epoch
        val = evaluate_loss(model, s.val_batches, t.loss, t.batch_size)
        rec.update({f"val_{k}": v for k, v in val.items()})
        rec["lr"] = s.opt.param_groups[0]["lr"]
        rec["time_s"] = round(time.perf_counter() - t0, 3)
        check_finite(rec, epoch, state.run_dir, ckp.saved_epoch, t.lr)
        metrics.write(json.dumps(rec) + "\n")
        metrics.flush()
        state.epoch, state.last = epoch + 1, rec
        state.history.append(rec)
        if self.dist.is_main:
            save_weights(model, state.run_dir / WEIGHTS)
        if ckp.due(epoch) or (stops.requested and ckp.saved_epoch != state.epoch):
            ckp.write(state, model, s.opt, s.sched, os.fstat(metrics.fileno()).st_size)
        if stops.requested and state.epoch < t.epochs:
            raise self._interrupted(state, stops, epoch)

    @staticmethod
    def _resumed_pass(s: Setup, epoch: int) -> EpochPass | None:
        """The interrupted epoch's progress, once, when this resume starts inside an epoch."""
        if s.resume is None or epoch != s.resume.ckpt.epoch:
            return None
        ep, s.resume.epoch_pass = s.resume.epoch_pass, None
        return ep

    @staticmethod
    def _interrupted(state: TrainState, stops, epoch: int) -> TrainingInterrupted:
        return TrainingInterrupted(
            f"training stopped by {stops.name} at step {state.step} (epoch {epoch + 1}); "
            f"a checkpoint was written: continue with `aekit train --resume {state.run_dir}`"
        )

    def _after_step(self, s: Setup, state: TrainState, metrics, epoch: int, stops):
        t = self.cfg.train

        def after(loss: torch.Tensor, frac: float) -> bool:
            s.sched.step_batch()
            state.step += 1
            if t.log_every and state.step % t.log_every == 0:
                rec = {
                    "step": state.step,
                    "epoch_float": round(epoch + frac, 4),
                    "loss": loss.item(),
                    "lr": s.opt.param_groups[0]["lr"],
                }
                metrics.write(json.dumps(rec) + "\n")
                state.last = rec
                self._emit("on_step", state)
            return stops.requested

        return after

    def _finish(self, s: Setup, state: TrainState, seconds: float) -> None:
        """config.json's "result" (the last epoch's losses and the end-of-run comparisons), the
        callbacks' end, the caller's ``end_of_run`` phase; then "finished" in config.json. A
        resume of a run killed in this phase redoes it (keeping a "result" already written)."""
        info, res = s.info, s.resume
        if self.dist.is_main:
            if s.model.after_training(s.batches):  # e.g. the tabular model's term scales
                save_weights(s.model, state.run_dir / WEIGHTS)
            if res is not None and res.ckpt.epoch == state.epoch and "result" in res.saved:
                info["result"] = res.saved["result"]  # no epoch ran: only this phase was left
            else:
                info["result"] = final_result(state, seconds)
                info["result"].update(s.model.run_metrics())
                ends = end_of_run_metrics(s.model, s.train_data, s.val_batches, self.cfg)
                info["result"].update(ends)
            write_run_config(state.run_dir, info)
        self._emit("on_train_end", state)
        if self.dist.is_main:
            if self.end_of_run is not None:
                self.end_of_run(state)
            info["finished"] = dt.datetime.now().isoformat(timespec="seconds")
            write_run_config(state.run_dir, info)


def check_finite(rec: dict, epoch: int, run_dir: Path, saved_epoch: int, lr: float) -> None:
    """Raise TrainingDiverged when an epoch's record holds NaN or inf, saying what is kept and
    what to type (the learning rate cannot change on resume; gradient clipping can)."""
    bad = [k for k, v in rec.items() if isinstance(v, float) and not math.isfinite(v)]
    if not bad:
        return
    what = "NaN" if any(math.isnan(rec[k]) for k in bad) else "infinite"
    kept = f"the weights of epoch {epoch} (model.safetensors)" if epoch else "no weights"
    if saved_epoch:
        kept += f" and the checkpoint of epoch {saved_epoch}"
    fix = f"lower the learning rate (now {lr:g}) in a new run, e.g. --lr {lr / 10:g}"
    if saved_epoch:
        fix += (
            "; or continue the checkpoint with gradient clipping (a resume keeps the learning "
            f"rate): aekit train --resume {run_dir} --set train.grad_clip=1.0"
        )
    else:
        fix += ", or add --set train.grad_clip=1.0"
    raise TrainingDiverged(
        f"the loss became {what} in epoch {epoch + 1} ({', '.join(bad)}); the run folder "
        f"{run_dir} keeps {kept}. To fix it, {fix}"
    )


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
