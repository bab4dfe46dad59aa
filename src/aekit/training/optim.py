"""Optimisers and learning-rate schedules by name."""

from __future__ import annotations

import torch

from aekit.config import TrainConfig
from aekit.errors import ConfigError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "step", "exponential", "cosine", "onecycle")


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.lr <= 0:
        raise ConfigError(f"train.lr must be positive; got {cfg.lr}")
    name = cfg.optimizer.lower()
    params = list(params)
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    if name in ("adam", "adamw"):
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        return cls(
            params,
            lr=cfg.lr,
            eps=cfg.eps,
            weight_decay=cfg.weight_decay,
            fused=can_fuse(params) or None,
        )
    raise ConfigError(
        f"unknown optimizer {cfg.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}"
    )


def can_fuse(params: list) -> bool:
    """Whether the fused Adam kernel applies: one kernel per step instead of a dozen elementwise
    ops per parameter tensor (the per-step overhead that dominates small models; see
    benchmarks/RESULTS.md). Needs plain float tensors on CPU or CUDA."""
    return bool(params) and all(
        isinstance(p, torch.Tensor)
        and p.dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16)
        and p.device.type in ("cpu", "cuda")
        for p in params
    )


class StepwiseScheduler:
    """Wraps a torch scheduler and says whether it steps per optimiser step or per epoch."""

    def __init__(self, sched, per_step: bool):
        self.sched, self.per_step = sched, per_step

    def step_batch(self):
        if self.sched is not None and self.per_step:
            self.sched.step()

    def step_epoch(self):
        if self.sched is not None and not self.per_step:
            self.sched.step()

    def state_dict(self):
        return self.sched.state_dict() if self.sched is not None else {}

    def load_state_dict(self, s):
        if self.sched is not None:
            self.sched.load_state_dict(s)


def make_scheduler(opt, cfg: TrainConfig, steps_per_epoch: int) -> StepwiseScheduler:
    """none | step (milestones in epochs; values < 1 are fractions of the run) | exponential
    (x gamma each epoch, or every `decay_every` steps) | cosine (to 0 over the run) | onecycle."""
    name = cfg.schedule.lower()
    S = torch.optim.lr_scheduler
    if name == "none":
        return StepwiseScheduler(None, False)
    if name == "step":
        ms = sorted({int(round(m * cfg.epochs)) if m < 1 else int(m) for m in cfg.milestones})
        if not ms:
            raise ConfigError(
                "schedule 'step' needs train.milestones, e.g. --set train.milestones=[0.25,0.5]"
            )
        return StepwiseScheduler(S.MultiStepLR(opt, ms, gamma=cfg.gamma), False)
    if name == "exponential":
        if cfg.decay_every > 0:
            return StepwiseScheduler(
                S.LambdaLR(opt, lambda s: cfg.gamma ** (s // cfg.decay_every)), True
            )
        return StepwiseScheduler(S.ExponentialLR(opt, gamma=cfg.gamma), False)
    if name == "cosine":
        return StepwiseScheduler(S.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch), True)
    if name == "onecycle":
        return StepwiseScheduler(
            S.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch), True
        )
    raise ConfigError(f"unknown schedule {cfg.schedule!r}; choose one of: {', '.join(SCHEDULES)}")
