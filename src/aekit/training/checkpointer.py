"""When a run checkpoints, what it captures (every random stream, the optimiser, schedule and
loss-scaler state, the epoch's progress) and how a resume puts it all back; the file format is
training/checkpoint.py's."""

from __future__ import annotations

import time
import warnings

import torch

from aekit.errors import AekitError
from aekit.training.checkpoint import Checkpoint, write_checkpoint
from aekit.training.distributed import Dist
from aekit.training.loop import EpochPass
from aekit.training.optim import make_scheduler
from aekit.training.step import Precision


class Checkpointer:
    """Checkpoints of one run. ``gen``: the batches' generator (noise, binarisation; this
    rank's own under DDP); ``shuffle``: the epoch permutations' (``gen`` itself when not
    distributed)."""

    def __init__(self, train_cfg, dist: Dist, device, gen, shuffle, precision: Precision):
        self.t, self.dist, self.device = train_cfg, dist, device
        self.gen, self.shuffle, self.precision = gen, shuffle, precision
        self.saved_epoch = 0  # the epoch of the last checkpoint on disk (0: none)
        self.last = time.perf_counter()  # when the last one was written (or training began)

    def rng_states(self) -> dict[str, torch.Tensor]:
        """Every generator the run draws from, per rank (a collective call under DDP)."""
        mine = {"batches": self.gen.get_state(), "torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            mine["cuda"] = torch.cuda.get_rng_state(self.device)
        out = {}
        for k, v in mine.items():
            for r, s in enumerate(self.dist.gather(v)):
                out[f"rank{r}.{k}"] = s
        if self.shuffle is not self.gen:
            out["shuffle"] = self.shuffle.get_state()  # the same on every rank
        return out

    def set_rng(self, rng: dict[str, torch.Tensor]) -> None:
        r = self.dist.rank
        self.gen.set_state(rng[f"rank{r}.batches"])
        torch.set_rng_state(rng[f"rank{r}.torch"])
        if self.device.type == "cuda":
            torch.cuda.set_rng_state(rng[f"rank{r}.cuda"], self.device)
        if self.shuffle is not self.gen:
            self.shuffle.set_state(rng["shuffle"])

    def due(self, epoch: int) -> bool:
        """After the first epoch, every ``checkpoint_every`` epochs and after the last (0: never);
        one in between is skipped when the previous was written less than ``checkpoint_min_s``
        ago (a run of many tiny epochs would spend its time writing checkpoints). Rank 0
        decides for every rank."""
        t = self.t
        done = epoch + 1
        if not t.checkpoint_every:
            return False
        if self.saved_epoch and done % t.checkpoint_every and done != t.epochs:
            return False
        first_or_last = not self.saved_epoch or done == t.epochs
        due = first_or_last or time.perf_counter() - self.last >= t.checkpoint_min_s
        return self.dist.broadcast_str(str(due) if self.dist.is_main else None) == "True"

    def write(self, state, model, opt, sched, metrics_bytes: int, ep: EpochPass | None = None):
        """Checkpoint the end of epoch ``state.epoch``, or with ``ep`` the point reached in the
        epoch after it (a collective call under DDP)."""
        rng = self.rng_states()  # every rank takes part
        progress = {}
        if ep is not None and ep.batch:
            rng["epoch.perm"] = ep.perm
            rng.update({f"epoch.sum.{k}": v for k, v in ep.sums.items()})
            progress = {"count": ep.count, "sum_keys": list(ep.sums)}
        self.saved_epoch, self.last = state.epoch, time.perf_counter()
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
            batch=ep.batch if ep is not None else 0,
            state={
                **progress,
                "step": state.step,
                "epochs": self.t.epochs,
                "steps_per_epoch": state.steps_per_epoch,
                "world_size": self.dist.world,
                "device": self.device.type,
                "metrics_bytes": metrics_bytes,
                "history": state.history,
            },
        )

    def epoch_pass(self, ckpt: Checkpoint, rng: dict[str, torch.Tensor]) -> EpochPass | None:
        """The interrupted epoch's progress saved in ``ckpt`` (None: it ended on an epoch)."""
        st = ckpt.state
        if not st.get("batch"):
            return None
        try:
            sums = {k: rng[f"epoch.sum.{k}"].to(self.device) for k in st["sum_keys"]}
            perm = rng["epoch.perm"].to(self.device)
            return EpochPass(perm, st["batch"], int(st["count"]), sums)
        except (KeyError, TypeError, ValueError):
            raise AekitError(
                f"the checkpoint {str(ckpt.path)!r} lacks its epoch's progress; it is damaged"
            ) from None

    def restore(self, ckpt: Checkpoint, opt, sched, steps_per_epoch: int):
        """Optimiser and schedule state from a checkpoint; returns the scheduler to use.

        Same train.epochs: the saved scheduler continues. More epochs: the schedule is rebuilt
        over the new total and advanced to the current step, so the lr from here on is the one
        a run configured with the new total from the start would use.
        """
        saved = ckpt.optimizer(self.device)
        try:
            opt.load_state_dict(saved["optimizer"])
            if "scaler" in saved and self.precision.scaler is not None:
                self.precision.scaler.load_state_dict(saved["scaler"])
            self.saved_epoch = ckpt.epoch
            if ckpt.state["epochs"] == self.t.epochs:
                sched.load_state_dict(saved["scheduler"])
                return sched
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise AekitError(
                f"the optimiser state in {str(ckpt.path)!r} does not fit this run "
                f"({type(e).__name__}: {e}); the checkpoint is damaged or of another model"
            ) from None
        return self._rebuilt_schedule(ckpt, opt, steps_per_epoch)

    def _rebuilt_schedule(self, ckpt: Checkpoint, opt, steps_per_epoch: int):
        t = self.t
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
