"""Flatten and Unflatten, the bottleneck of the model families, and their channels-last form:
the conv models' Flatten -> Linear and Linear -> Unflatten pairs computed in (H, W, C) order on
the CPU training path, without layout copies (:func:`use_nhwc_bottleneck`)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class _FlattenNHWC(torch.autograd.Function):
    """flatten(1) of a channels-last (NHWC) batch whose gradient comes back channels-last too:
    autograd's own gives it NCHW, and ReLU's backward on NCHW gradients against its NHWC output
    took 35x as long as on matching layouts (benchmarks/RESULTS.md, conv models)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.shape = x.shape
        return x.flatten(1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.reshape(ctx.shape).contiguous(memory_format=torch.channels_last)


class Flatten(nn.Module):
    """(B, *shape) -> (B, prod(shape)), in (C, H, W) order whatever the memory layout."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _flatten(x)


def _flatten(x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 4 and not x.is_contiguous() and x.requires_grad:
        if x.is_contiguous(memory_format=torch.channels_last):
            return _FlattenNHWC.apply(x)
    return x.flatten(1)


class Unflatten(nn.Module):
    """(B, prod(shape)) -> (B, *shape)."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


# -- the bottleneck of a channels-last conv model, without layout copies -----------------------
# Flatten -> Linear and Linear -> Unflatten order features (C, H, W); a channels-last tensor
# stores them (H, W, C), so each took a copy of the activations (and Unflatten gave the next
# convolution an NCHW input). On the CPU training path the swapped Linear flattens or unflattens
# in (H, W, C) order (a view) and permutes its own small weight to match: the same parameters,
# state_dict and outputs. benchmarks/RESULTS.md, "Conv: the bottleneck without layout copies".


def _hwc_applies(x: torch.Tensor) -> bool:
    return (
        x.device.type == "cpu"
        and torch.is_grad_enabled()
        and not torch.compiler.is_compiling()
        and not torch.jit.is_scripting()
        and not torch.jit.is_tracing()
    )


class _DeferredFlatten(Flatten):
    """A Flatten whose following :class:`_FlattenLinear` flattens (4-D inputs pass through)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class _FlattenLinear(nn.Linear):
    """Flatten then Linear; a channels-last (B, C, H, W) input is read in (H, W, C) order with
    the weight's input columns permuted to match."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nhwc = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
        if not nhwc or x.is_contiguous() or not _hwc_applies(x):
            return super().forward(_flatten(x))
        b, c, h, w = x.shape
        xf = x.permute(0, 2, 3, 1).reshape(b, -1)  # (B, H*W*C), a view
        wt = self.weight.view(-1, c, h, w).permute(0, 2, 3, 1).reshape(self.out_features, -1)
        return F.linear(xf, wt, self.bias)


class _UnflattenLinear(nn.Linear):
    """Linear then Unflatten to ``hwc_shape`` (C, H, W); on the CPU training path the output
    rows are computed in (H, W, C) order, so the (B, C, H, W) result is channels-last."""

    hwc_shape: tuple[int, int, int] = (0, 0, 0)  # set by use_nhwc_bottleneck

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        c, h, w = self.hwc_shape
        if z.dim() != 2 or not _hwc_applies(z):
            return super().forward(z).view(z.shape[0], c, h, w)
        wt = self.weight.view(c, h, w, -1).permute(1, 2, 0, 3).reshape(-1, self.in_features)
        bt = None if self.bias is None else self.bias.view(c, h, w).permute(1, 2, 0).reshape(-1)
        return F.linear(z, wt, bt).view(-1, h, w, c).permute(0, 3, 1, 2)  # (B, C, H, W), NHWC


class _DeferredUnflatten(Unflatten):
    """An Unflatten whose preceding :class:`_UnflattenLinear` unflattens already."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if x.dim() == 1 + len(self.shape) else super().forward(x)


def use_nhwc_bottleneck(model: nn.Module) -> int:
    """In place, for a channels-last CPU model: every ``Flatten`` followed by an
    ``nn.Linear``, and every ``nn.Linear`` followed by an ``Unflatten`` to (C, H, W), in an
    ``nn.Sequential``, flatten in the layout the tensors have (the same parameter tensors, so
    optimisers and state_dicts are unaffected). Returns how many pairs were turned."""
    n = 0
    for seq in model.modules():
        if type(seq) is not nn.Sequential:
            continue
        mods = list(seq)
        for a, b in zip(mods, mods[1:]):
            if type(a) is Flatten and type(b) is nn.Linear:
                a.__class__, b.__class__ = _DeferredFlatten, _FlattenLinear
                n += 1
            elif type(a) is nn.Linear and type(b) is Unflatten and len(b.shape) == 3:
                if a.out_features == math.prod(b.shape):
                    a.__class__, b.__class__ = _UnflattenLinear, _DeferredUnflatten
                    a.hwc_shape = b.shape
                    n += 1
    return n
