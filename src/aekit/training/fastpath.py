"""A training step without autograd for plain fully-connected autoencoders.

For a small MLP such as 784-128-64-12-3 at batch 128, autograd's bookkeeping (the graph, a fresh
tensor for every gradient, ``zero_grad``, accumulation into ``.grad``) costs about as much as
the arithmetic it drives. This step runs the same arithmetic with the same ATen kernels autograd
uses (``addmm``, ``mm``, ``threshold_backward``, ``sigmoid_backward``…) and writes each gradient
straight into its parameter's ``.grad`` with ``out=``, so the optimiser, gradient clipping and
the schedules work unchanged. Its gradients equal autograd's to float32 rounding
(tests/test_speed_path.py); benchmarks/RESULTS.md has what it gains.

It applies only where the model is a chain of Linear layers, BatchNorm1d (its training-mode
kernels, running statistics included) and elementwise activations with the base class's forward
and loss (no regulariser), the loss (MSE, BCE or L1) is averaged over pixels, the precision is
float32 and the run is not distributed; otherwise the trainer uses autograd.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from aekit.layers.blocks import Tanh
from aekit.losses.reconstruction import BCE_EPS, LOSSES
from aekit.models.base import Autoencoder, Flatten, Unflatten

aten = torch.ops.aten

#: the modules the step knows, by exact type (a subclass may compute something else), and the
#: kind of activation each is; None: passes its input on (a view at most)
_KINDS = {nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh"}
_KINDS.update({Tanh: "tanh", nn.Identity: None, Flatten: None, Unflatten: None})
_BASE = ("forward", "encode", "decode", "loss_terms", "regularizers")


class Layer(NamedTuple):
    linear: nn.Linear
    norm: nn.BatchNorm1d | None  # between the Linear and the activation, as mlp_stack puts it
    kind: str | None  # the activation after them: relu, leaky_relu, sigmoid, tanh; None
    slope: float  # leaky_relu's negative slope


def chain(model: nn.Module) -> list[Layer] | None:
    """``model`` as a list of :class:`Layer`, or None where it is anything but distinct Linear
    layers, BatchNorm1d and known activations under the base class's forward and loss, with no
    hooks (the step would skip them)."""
    if not isinstance(model, Autoencoder) or model.loss_reduction != "mean":
        return None
    if any(getattr(type(model), f) is not getattr(Autoencoder, f) for f in _BASE):
        return None
    parts = [getattr(model, "encoder", None), getattr(model, "decoder", None)]
    if not all(isinstance(p, nn.Module) for p in parts):
        return None
    if any(m._forward_hooks or m._forward_pre_hooks for m in model.modules()):
        return None
    layers: list[dict] = []
    for part in parts:
        for m in part.modules():
            if type(m) is nn.Sequential:
                continue
            if type(m) is nn.Linear:
                layers.append({"linear": m, "norm": None, "kind": None, "slope": 0.0})
            elif type(m) is nn.BatchNorm1d:
                if not layers or layers[-1]["norm"] or layers[-1]["kind"]:
                    return None  # only right after a Linear
                layers[-1]["norm"] = m
            elif type(m) in _KINDS:
                kind = _KINDS[type(m)]
                if kind is not None:
                    if not layers or layers[-1]["kind"] is not None:
                        return None  # an activation first, or two in a row
                    layers[-1]["kind"] = kind
                    layers[-1]["slope"] = getattr(m, "negative_slope", 0.0)
            else:
                return None
    weights = {id(layer["linear"].weight) for layer in layers}
    if not layers or len(weights) != len(layers):  # a shared layer would need its grads summed
        return None
    return [Layer(**layer) for layer in layers]


def applies(model: nn.Module, loss: str, precision: str, distributed: bool) -> bool:
    """Whether :class:`MLPStep` can train ``model`` with these settings."""
    if loss not in LOSSES or precision != "fp32" or distributed:
        return False
    params = list(model.parameters())
    if not all(p.requires_grad and p.dtype == torch.float32 for p in params):
        return False
    return chain(model) is not None


class MLPStep:
    """``step(x, target)``: forward, loss (``mse``, ``bce`` or ``l1``, averaged over pixels)
    and backward of the chain, gradients written into each parameter's ``.grad``; returns the
    loss (a 0-d tensor, not synchronised)."""

    def __init__(self, model: nn.Module, loss: str = "mse"):
        layers = chain(model)
        if layers is None:
            raise ValueError("MLPStep needs a chain of Linear, BatchNorm1d and activation layers")
        if loss not in LOSSES:
            raise ValueError(f"MLPStep computes {', '.join(LOSSES)}; not {loss!r}")
        self.layers, self.loss = layers, loss
        self._bufs: dict = {}

    def __call__(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self._step(x.reshape(len(x), -1), target.reshape(len(target), -1))

    def _buffers(self, b: int, like: torch.Tensor) -> tuple[list, list]:
        """Each layer's output and the gradient with respect to its input, for batch size
        ``b``: reused from step to step, as fresh (B, 784) tensors cost more than the kernels
        that fill them inside a step (benchmarks/RESULTS.md)."""
        key = (b, like.device)
        if key not in self._bufs:  # an epoch's last, smaller batch gets its own
            outs = [like.new_empty(b, layer.linear.out_features) for layer in self.layers]
            # grads[i]: with respect to layer i's input; grads[-1]: to the output
            grads = [like.new_empty(b, layer.linear.in_features) for layer in self.layers]
            grads.append(torch.empty_like(outs[-1]))
            self._bufs[key] = (outs, grads)
        return self._bufs[key]

    def _step(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        outs, grads = self._buffers(len(x), x)  # outs[i]: layer i's output, after its activation
        normed = {}  # layer i -> the Linear's output and BatchNorm's saved mean and 1/std
        h = x
        for i, (lin, norm, kind, slope) in enumerate(self.layers):
            if lin.bias is None:
                h = torch.mm(h, lin.weight.t(), out=outs[i])
            else:
                h = torch.addmm(lin.bias, h, lin.weight.t(), out=outs[i])
            if norm is not None:
                z = h
                h, mean, invstd = aten.native_batch_norm(
                    z, norm.weight, norm.bias, norm.running_mean, norm.running_var, True,
                    _momentum(norm), norm.eps,
                )  # fmt: skip
                normed[i] = (z, mean, invstd)
                outs[i] = h  # this step's own tensor: the buffer holds z
            if kind == "relu":
                h.relu_()
            elif kind == "leaky_relu":
                torch.nn.functional.leaky_relu_(h, slope)
            elif kind == "sigmoid":
                h.sigmoid_()
            elif kind == "tanh":  # as blocks.Tanh: 2 sigmoid(2x) - 1, far faster on CPU
                h.mul_(2).sigmoid_().mul_(2).sub_(1)
        loss, g = self._loss(h, target, grads[-1])
        for i in range(len(self.layers) - 1, -1, -1):
            lin, norm, kind, slope = self.layers[i]
            if kind is not None:  # gradient with respect to the activation's input
                self._act_backward(g, kind, slope, outs[i])
            if norm is not None:  # ... and to BatchNorm's input, the Linear's output
                z, mean, invstd = normed[i]
                affine = norm.weight is not None
                g, gw, gb = aten.native_batch_norm_backward(
                    g, z, norm.weight, norm.running_mean, norm.running_var, mean, invstd,
                    True, norm.eps, [True, affine, affine],
                )  # fmt: skip
                if affine:
                    _set_grad(norm.weight, gw)
                    _set_grad(norm.bias, gb)
            w, b = lin.weight, lin.bias
            if w.grad is None:
                w.grad = torch.empty_like(w)
            torch.mm(g.t(), outs[i - 1] if i else x, out=w.grad)
            if b is not None:
                if b.grad is None:
                    b.grad = torch.empty_like(b)
                torch.sum(g, 0, out=b.grad)
            if i:
                g = torch.mm(g, w, out=grads[i])
        for i, (z, _, _) in normed.items():
            outs[i] = z  # the buffers, for the next step
        return loss

    def _loss(self, y: torch.Tensor, target: torch.Tensor, g: torch.Tensor):
        """The loss of output ``y``, and its gradient with respect to ``y`` written into ``g``
        (as autograd computes it through aekit.losses.reconstruction_loss)."""
        n = y.numel()
        if self.loss == "mse":
            flat = torch.sub(y, target, out=g).view(-1)
            loss = torch.dot(flat, flat).div_(n)
            return loss, g.mul_(2.0 / n)
        if self.loss == "l1":
            loss = torch.sub(y, target, out=g).abs().mean()
            return loss, g.sign_().div_(n)
        # bce on the clamped output: the clamp passes gradient only inside [eps, 1 - eps]
        yc = y.clamp(BCE_EPS, 1 - BCE_EPS)
        loss = F.binary_cross_entropy(yc, target)
        one = torch.ones((), dtype=y.dtype, device=y.device)
        aten.binary_cross_entropy_backward.grad_input(one, yc, target, None, 0, grad_input=g)
        return loss, g.mul_((y >= BCE_EPS) & (y <= 1 - BCE_EPS)).div_(n)

    @staticmethod
    def _act_backward(g, kind: str, slope: float, out: torch.Tensor) -> None:
        """``g`` times the activation's derivative, in place, from its output (the kernels
        autograd runs)."""
        if kind == "relu":
            aten.threshold_backward.grad_input(g, out, 0, grad_input=g)
        elif kind == "leaky_relu":
            aten.leaky_relu_backward.grad_input(g, out, slope, True, grad_input=g)
        elif kind == "sigmoid":
            aten.sigmoid_backward.grad_input(g, out, grad_input=g)
        else:
            aten.tanh_backward.grad_input(g, out, grad_input=g)


def _momentum(norm: nn.BatchNorm1d) -> float:
    """The running statistics' update factor of this training step, counting it, as
    ``nn.BatchNorm1d.forward`` does (momentum None: a cumulative average)."""
    if not norm.track_running_stats:
        return 0.0
    norm.num_batches_tracked.add_(1)
    if norm.momentum is None:
        return 1.0 / float(norm.num_batches_tracked)
    return norm.momentum


def _set_grad(p: torch.Tensor, g: torch.Tensor) -> None:
    if p.grad is None:
        p.grad = g
    else:
        p.grad.copy_(g)
