"""The epoch: one pass over shuffled index slices, through a step (training/step.py), with the
per-term means it reports; the validation loss; and ``fit_params``, the same pass for a
model's own phases (greedy pretraining). Resumable at any step boundary (:class:`EpochPass`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from aekit.data import BatchMaker
from aekit.models import eval_mode
from aekit.training.optim import make_optimizer
from aekit.training.step import Precision, Step, Terms
from aekit.training.threads import one_thread


@dataclass
class EpochPass:
    """Where an epoch stands: its permutation, the batches done, the per-term sums so far."""

    perm: torch.Tensor  # (N,) this epoch's order of the training samples
    batch: int = 0  # batches done
    count: int = 0  # samples counted so far (this rank's, under DDP)
    # per-term sums of (batch loss x batch size), kept on the device: no host sync per step,
    # one in-place add per term (benchmarks/RESULTS.md: where the per-step time goes)
    sums: dict[str, torch.Tensor] = field(default_factory=dict)

    def add(self, terms: Terms, loss: torch.Tensor, b: int) -> None:
        self.count += b
        with torch.no_grad():
            for k, v in terms.items():
                if k not in self.sums:
                    self.sums[k] = torch.zeros((), device=v.device)
                self.sums[k].add_(v.detach(), alpha=b)
            if len(terms) > 1:
                if "loss" not in self.sums:
                    self.sums["loss"] = torch.zeros((), device=loss.device)
                self.sums["loss"].add_(loss.detach(), alpha=b)

    def means(self, all_sum=None) -> dict[str, float]:
        """The epoch's mean of each term (and "loss"); ``all_sum``: DDP's sum over ranks."""
        sums, count = self.sums, self.count
        if all_sum is not None:  # the epoch's means over every rank's samples
            keys = list(sums)
            n_seen = torch.tensor(float(count), device=self.perm.device)
            total = all_sum(torch.stack([*(sums[k] for k in keys), n_seen]))
            sums, count = dict(zip(keys, total[:-1])), int(total[-1])
        out = {k: float(v) / count for k, v in sums.items()}
        if "loss" not in out:  # one term: the loss is that term
            out["loss"] = next(iter(out.values()))
        return out


def shuffled(batches: BatchMaker, order: torch.Generator) -> EpochPass:
    return EpochPass(torch.randperm(len(batches), device=batches.device, generator=order))


def batch_end(start: int, n: int, batch_size: int, min_rows: int = 2) -> int:
    """Where the batch starting at ``start`` ends: ``batch_size`` rows on, or ``n`` where the
    rows after it would be a last batch of fewer than ``min_rows``: such a tail joins the batch
    before it. A batch of one sample is a noisy step for any model and one BatchNorm cannot
    train on (no variance); under DDP ``min_rows`` is 2 per process."""
    end = start + batch_size
    return n if n - end < min_rows else end


def steps_in_epoch(n: int, batch_size: int, min_rows: int = 2) -> int:
    """How many batches :func:`run_epoch` makes of ``n`` samples."""
    steps, i = 0, 0
    while i < n:
        i, steps = batch_end(i, n, batch_size, min_rows), steps + 1
    return steps


def run_epoch(
    batches: BatchMaker,
    ep: EpochPass,
    batch_size: int,
    step: Callable[..., tuple[torch.Tensor, Terms]],
    shard=None,
    after_step: Callable[[torch.Tensor, float], bool] | None = None,
    min_rows: int = 2,
) -> bool:
    """Run the rest of the epoch ``ep``; ``shard`` (DDP) gives this rank's rows and loss weight.
    ``after_step(loss, fraction_done)`` may return True to stop at that step boundary; returns
    whether the epoch is complete. Batches follow :func:`batch_end` (only the last one can
    differ from ``batch_size``, so ``ep.batch`` still says where a resumed epoch starts)."""
    n = len(batches)
    i = ep.batch * batch_size
    while i < n:
        end = batch_end(i, n, batch_size, min_rows)
        idx = ep.perm[i:end]
        if shard is None:
            b, w = idx.shape[0], None
        else:  # this rank's rows; w makes DDP's gradient average the global batch mean
            idx, b, w = shard(idx)
        x, target = batches(idx)
        loss, terms = step(x, target, w)
        ep.batch += 1
        ep.add(terms, loss, b)
        if after_step is not None and after_step(loss, end / n):
            return end >= n
        i = end
    return True


def fit_params(batches: BatchMaker, train_cfg) -> Callable:
    """The ``fit(params, loss_fn, epochs)`` a model's ``pretrain`` hook receives: trains
    ``params`` (a fresh optimiser of the run's kind) to minimise ``loss_fn(x, target)`` for
    ``epochs`` passes in float32, shuffled by the batches' generator; returns the last epoch's
    mean loss (nan for 0 epochs)."""
    fp32 = Precision("fp32", batches.device)

    def fit(params, loss_fn, epochs: int) -> float:
        opt = make_optimizer(list(params), train_cfg)
        step = Step(opt, lambda x, target: {"loss": loss_fn(x, target)}, fp32)
        mean = float("nan")
        for _ in range(epochs):
            ep = shuffled(batches, batches.generator)
            run_epoch(batches, ep, train_cfg.batch_size, step)
            mean = ep.means()["loss"]
        return mean

    return fit


@torch.no_grad()
def evaluate_loss(
    model, batches: BatchMaker, loss: str, batch_size: int = 1024
) -> dict[str, float]:
    """Mean of each loss term over a dataset, in eval mode (the model's modes restored)."""
    sums: dict[str, float] = {}
    n = len(batches)
    with eval_mode(model):
        for i in range(0, n, max(batch_size, 256)):
            idx = torch.arange(i, min(n, i + max(batch_size, 256)), device=batches.device)
            x, target = batches(idx)
            out = model(x)
            with one_thread():  # the same figures at any thread count (training/threads.py)
                terms = model.loss_terms(out, x, target, loss)
            terms["loss"] = sum(terms.values())
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(idx)
    return {k: v / n for k, v in sums.items()}
