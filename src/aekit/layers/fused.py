"""A chain of Linear layers and pointwise activations trained as one autograd node.

Small fully-connected autoencoders spend as much of each training step on the framework as on
arithmetic: the 784-128-64-12-3 network at batch 128 needs 0.79 ms of matmuls per step and took
1.40 ms through ``nn.Sequential`` (benchmarks/RESULTS.md: where the per-step time goes). This
forward pass applies the activations in place on the fresh ``addmm`` outputs, keeps only those
outputs for the backward pass, and computes every gradient in one hand-written backward (each
activation's derivative from its output: ``threshold_backward``, ``tanh_backward``...), instead
of an autograd node, a saved input and an output allocation per layer.

Same parameters, same numbers (to float rounding) as running the modules one by one; models use
it when autograd is recording and autocast is off, and the modules themselves otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

aten = torch.ops.aten


# activation name -> (in-place forward (h, arg), derivative from the output (grad, y, arg),
# factor folded into the layer's addmm: tanh(x) = 2 sigmoid(2x) - 1 takes 2x straight from it)
_POINTWISE = {
    "identity": (None, None, 1),
    "relu": (lambda h, _: h.relu_(), lambda g, y, _: aten.threshold_backward(g, y, 0), 1),
    "leaky_relu": (F.leaky_relu_, lambda g, y, s: aten.leaky_relu_backward(g, y, s, True), 1),
    "sigmoid": (lambda h, _: h.sigmoid_(), lambda g, y, _: aten.sigmoid_backward(g, y), 1),
    # the fast form of tanh (layers.blocks.Tanh): two passes over h, as -1 + 2 sigmoid(h)
    "tanh": (
        lambda h, _: torch.add(h.new_tensor(-1.0), h.sigmoid_(), alpha=2, out=h),
        lambda g, y, _: aten.tanh_backward(g, y),
        2,
    ),
}


def _kind(m: nn.Module) -> tuple[str, float] | None:
    """(activation name, its argument) of a supported pointwise module, else None."""
    if type(m) is nn.LeakyReLU:  # a zero slope loses the sign of x in y: not from the output
        return ("leaky_relu", m.negative_slope) if m.negative_slope > 0 else None
    for cls, name in ((nn.Identity, "identity"), (nn.ReLU, "relu"), (nn.Sigmoid, "sigmoid")):
        if type(m) is cls:
            return name, 0.0
    return ("tanh", 0.0) if isinstance(m, nn.Tanh) else None


def fusion_plan(modules: Sequence[nn.Module]) -> list[tuple[nn.Linear, str, float]] | None:
    """[(Linear, name of the activation after it, its argument)] for a run of Linear layers
    (with biases) each followed by at most one supported activation (identity, ReLU, LeakyReLU
    with a positive slope, Sigmoid, Tanh); None when any module is something else (BatchNorm,
    dropout, GELU...), which leaves the modules to run one by one. Names, not functions: a model
    holding a plan still pickles."""
    plan: list[list] = []
    for m in modules:
        if type(m) is nn.Linear and m.bias is not None:
            plan.append([m, "identity", 0.0])
            continue
        kind = _kind(m)
        if kind is None or not plan:
            return None
        if plan[-1][1] == "identity":
            plan[-1][1:] = kind
        elif kind[0] != "identity":  # two activations in a row: leave it to the modules
            return None
    return [tuple(p) for p in plan] or None


class _FusedMLP(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, acts: tuple, *weights: torch.Tensor) -> torch.Tensor:
        hs = [x]  # the input of each layer, then the output: (B, width)
        for i, (name, arg) in enumerate(acts):
            forward, _, k = _POINTWISE[name]
            h = torch.addmm(weights[2 * i + 1], hs[-1], weights[2 * i].t(), beta=k, alpha=k)
            if forward is not None:  # (B, out)
                h = forward(h, arg)
            hs.append(h)
        ctx.acts = acts
        ctx.save_for_backward(*hs, *weights)
        return hs[-1]

    @staticmethod
    @once_differentiable  # the backward is not itself differentiable: no double backward
    def backward(ctx, grad: torch.Tensor):
        acts, n = ctx.acts, len(ctx.acts)
        saved = ctx.saved_tensors
        hs, weights = saved[: n + 1], saved[n + 1 :]
        grads: list[torch.Tensor | None] = [None] * (2 * n)
        g = grad
        for i in range(n - 1, -1, -1):
            name, arg = acts[i]
            if name != "identity":
                g = _POINTWISE[name][1](g, hs[i + 1], arg)  # dL/d(pre-activation), from the output
            if ctx.needs_input_grad[2 + 2 * i]:
                grads[2 * i] = g.t().mm(hs[i])  # (out, in)
            if ctx.needs_input_grad[3 + 2 * i]:
                grads[2 * i + 1] = g.sum(0)
            if i > 0 or ctx.needs_input_grad[0]:
                g = g.mm(weights[2 * i])  # (B, in)
        return (g if ctx.needs_input_grad[0] else None, None, *grads)


def fused_mlp(x: torch.Tensor, plan: list[tuple[nn.Linear, str, float]]) -> torch.Tensor:
    """Run ``plan`` (from :func:`fusion_plan`) on (B, in) ``x`` as one autograd node."""
    acts = tuple((name, arg) for _, name, arg in plan)
    weights = [t for lin, _, _ in plan for t in (lin.weight, lin.bias)]
    return _FusedMLP.apply(x, acts, *weights)


def can_fuse(x: torch.Tensor) -> bool:
    """Whether to take the fused path for input ``x``: only while autograd records (inference
    gains nothing from it) and autocast is off (the modules handle mixed precision)."""
    return torch.is_grad_enabled() and not torch.is_autocast_enabled(x.device.type)
