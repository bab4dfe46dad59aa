"""One optimiser step on one batch, behind one interface: autograd under a precision (fp32,
bf16/fp16 autocast with fp16 loss scaling), or the autograd-free step of ``fastpath`` where it
applies. ``step(x, target, w)`` returns (loss, named terms) and has stepped the optimiser."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable

import torch

import aekit.training.fastpath as fastpath
from aekit.config import Config
from aekit.errors import ConfigError
from aekit.layers.cpu import has_conv

log = logging.getLogger(__name__)

#: train.precision -> the autocast dtype (None: plain float32)
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

Terms = dict[str, torch.Tensor]


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


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX-512 BF16 or AMX), where bf16
    autocast is fast; elsewhere it is emulated and slower than float32."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch.cpu, torch >= 2.3
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def fit_precision(cfg: Config, model: torch.nn.Module, device: torch.device) -> Config:
    """``cfg`` with bf16 autocast for a model with convolutions on a CPU with native bfloat16,
    where train.precision was not given: the default conv model trains 1.2-1.4x as fast as in
    float32 (1.4-1.6x a plain float32 PyTorch loop) with the same test error
    (benchmarks/RESULTS.md, "Conv in bf16 by default"). Float32 master weights, losses and
    evaluation either way. A new Config."""
    t = cfg.train
    if cfg.is_given("train.precision") or device.type != "cpu" or not has_conv(model):
        return cfg
    if not native_bf16():
        return cfg
    log.info(
        "precision bf16 (autocast; float32 weights): convolutions on a CPU with native "
        "bfloat16; --precision fp32 trains in float32"
    )
    return dataclasses.replace(cfg, train=dataclasses.replace(t, precision="bf16"))


class Step:
    """Autograd: ``terms(x, target)`` gives the named loss terms (under the precision's
    autocast); their sum, times the rank's weight ``w`` under DDP, is back-propagated."""

    def __init__(
        self,
        opt: torch.optim.Optimizer,
        terms: Callable[[torch.Tensor, torch.Tensor], Terms],
        precision: Precision,
        grad_clip: float = 0.0,
    ):
        self.opt, self.terms, self.precision, self.grad_clip = opt, terms, precision, grad_clip
        self.params = [p for g in opt.param_groups for p in g["params"]]

    def __call__(self, x, target, w: float | None = None) -> tuple[torch.Tensor, Terms]:
        with self.precision.autocast():
            terms = self.terms(x, target)
        values = iter(terms.values())
        loss = next(values)
        for v in values:  # no `sum()`: it starts with an extra `0 + tensor` op
            loss = loss + v
        self.opt.zero_grad(set_to_none=True)
        self.precision.backward(loss if w is None else loss * w)
        self.precision.step(self.opt, self.params, self.grad_clip)
        return loss, terms


class FastStep(Step):
    """The autograd-free step (training/fastpath.py): it writes every ``.grad`` itself."""

    def __init__(self, opt, model, loss: str, precision: Precision, grad_clip: float = 0.0):
        super().__init__(opt, None, precision, grad_clip)
        self.fast = fastpath.MLPStep(model, loss)

    def __call__(self, x, target, w: float | None = None) -> tuple[torch.Tensor, Terms]:
        loss = self.fast(x, target)
        self.precision.step(self.opt, self.params, self.grad_clip)
        return loss, {"recon": loss}


def model_step(model, forward, opt, train_cfg, precision: Precision, distributed: bool) -> Step:
    """The run's step: the autograd-free one where it applies and is allowed, else autograd
    through ``forward`` (the DDP wrapper when distributed, else the model)."""
    t = train_cfg
    if t.fast_mlp_step and fastpath.applies(model, t.loss, t.precision, distributed):
        return FastStep(opt, model, t.loss, precision, t.grad_clip)

    def terms(x, target):
        return model.loss_terms(forward(x), x, target, t.loss)

    return Step(opt, terms, precision, t.grad_clip)
