"""A training step without autograd for plain fully-connected autoencoders, checked by autograd.

For a small MLP such as 784-128-64-12-3 at batch 128, autograd's bookkeeping (the graph, a fresh
tensor for every gradient, ``zero_grad``, accumulation into ``.grad``) costs about as much as
the arithmetic it drives. This step runs the same arithmetic with the same ATen kernels autograd
uses (``addmm``, ``mm``, ``threshold_backward``, ``sigmoid_backward``…) and writes each gradient
straight into its parameter's ``.grad`` with ``out=``, so the optimiser, gradient clipping and
the schedules work unchanged. benchmarks/RESULTS.md has what it gains.

It is a second implementation of backward, so it proves itself three ways:

- :func:`applies` refuses everything it does not know: any model but a chain of distinct
  Linear layers, BatchNorm1d (training mode) and ReLU / LeakyReLU (slope >= 0) / Sigmoid / Tanh
  under the base class's forward and loss (no regulariser, no method replaced on an
  instance); a loss other than MSE, BCE or L1
  averaged over pixels; any precision but float32; distributed runs; and hooks of every kind:
  module hooks, global module hooks (``torch.nn.modules.module._global_*``) and tensor hooks
  on the parameters (``register_hook``, ``register_post_accumulate_grad_hook``).
- :class:`MLPStep` checks its first step against autograd (gradients, loss, BatchNorm's running
  statistics) and, on any difference, logs a warning and runs autograd's step from then on
  (where they agree, its own result stands, so a resumed run stays bit-identical); it
  also hands a step to autograd whenever a hook appears or a BatchNorm is in eval mode later.
- tests/test_speed_path.py checks "applies ⇒ gradients equal autograd's" over every registered
  model × every loss × the activations.
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as _module

from aekit.layers import Flatten, Unflatten
from aekit.layers.blocks import Tanh
from aekit.losses.reconstruction import BCE_EPS
from aekit.models.base import Autoencoder
from aekit.training.threads import one_thread

logger = logging.getLogger(__name__)
aten = torch.ops.aten

#: the losses :meth:`MLPStep._loss` computes; any other is refused (not taken for another)
KNOWN_LOSSES = ("mse", "bce", "l1")
#: the modules the step knows, by exact type (a subclass may compute something else), and the
#: kind of activation each is; None: passes its input on (a view at most)
_KINDS = {nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh"}
_KINDS.update({Tanh: "tanh", nn.Identity: None, Flatten: None, Unflatten: None})
_BASE = ("forward", "encode", "decode", "loss_terms", "regularizers", "__call__", "_call_impl")
#: module hook tables that cannot change a training step's arithmetic; any other non-empty
#: table whose name has "hook" in it refuses the step
_HARMLESS_HOOKS = {
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
}
#: the relative difference from autograd's first step that still counts as float32 rounding
RTOL = 1e-4
#: ... plus this much of the model's largest gradient entry (float32's epsilon is 1.2e-7)
FLOOR = 1e-5
#: the global hook tables torch consults in a module's forward or backward, by name
_GLOBAL_STEP_HOOKS = tuple(
    n
    for n in dir(_module)
    if n.startswith("_global_")
    and ("forward" in n or "backward" in n)
    and isinstance(getattr(_module, n), dict)
)


class Layer(NamedTuple):
    linear: nn.Linear
    norm: nn.BatchNorm1d | None  # between the Linear and the activation, as mlp_stack puts it
    kind: str | None  # the activation after them: relu, leaky_relu, sigmoid, tanh; None
    slope: float  # leaky_relu's negative slope (>= 0)


def chain(model: nn.Module) -> list[Layer] | None:
    """``model`` as a list of :class:`Layer`, or None where it is anything but distinct Linear
    layers, BatchNorm1d and known activations under the base class's forward and loss, holding
    every parameter of the model (hooks: see :func:`hooks`)."""
    if not isinstance(model, Autoencoder) or model.loss_reduction != "mean":
        return None
    if any(getattr(type(model), f) is not getattr(Autoencoder, f) for f in _BASE):
        return None
    if any(f in vars(model) for f in _BASE) or any("forward" in vars(m) for m in model.modules()):
        return None  # a method replaced on the instance
    parts = [getattr(model, "encoder", None), getattr(model, "decoder", None)]
    if not all(isinstance(p, nn.Module) for p in parts):
        return None
    layers: list[dict] = []
    for m in (m for part in parts for m in part.modules()):
        if type(m) is nn.Sequential:
            continue
        if type(m) is nn.Linear:
            layers.append({"linear": m, "norm": None, "kind": None, "slope": 0.0})
        elif type(m) is nn.BatchNorm1d:
            if not layers or layers[-1]["norm"] or layers[-1]["kind"]:
                return None  # only right after a Linear
            layers[-1]["norm"] = m
        elif type(m) in _KINDS and not (m._parameters or m._buffers):
            kind = _KINDS[type(m)]
            if kind is None:
                continue
            if not layers or layers[-1]["kind"] is not None:
                return None  # an activation first, or two in a row
            slope = float(getattr(m, "negative_slope", 0.0))
            if not (math.isfinite(slope) and slope >= 0):  # its backward reads the output
                return None
            layers[-1].update(kind=kind, slope=slope)
        else:
            return None
    own = [p for layer in layers for mod in (layer["linear"], layer["norm"]) if mod is not None
           for p in mod.parameters()]  # fmt: skip
    # a shared layer would need its gradients summed; a parameter outside the chain, its own
    if not layers or len({id(p) for p in own}) != len(own):
        return None
    if {id(p) for p in own} != {id(p) for p in model.parameters()}:
        return None
    return [Layer(**layer) for layer in layers]


def hooks(model: nn.Module) -> str | None:
    """The first hook a step without autograd would skip, in words; None where there is none:
    global module hooks, every module hook table but the state-dict ones, and the tensor hooks
    of the parameters."""
    for name in dir(_module):
        table = getattr(_module, name)
        if name.startswith("_global_") and "hook" in name and isinstance(table, dict) and table:
            return f"a global module hook (torch.nn.modules.module.{name})"
    for m in model.modules():
        for name, table in vars(m).items():
            if "hook" in name and isinstance(table, dict) and table:
                if name not in _HARMLESS_HOOKS:
                    return f"a module hook ({type(m).__name__}.{name})"
    for name, p in model.named_parameters():
        if p._backward_hooks or getattr(p, "_post_accumulate_grad_hooks", None):
            return f"a tensor hook on the parameter {name}"
    return None


def applies(model: nn.Module, loss: str, precision: str, distributed: bool) -> bool:
    """Whether :class:`MLPStep` can train ``model`` with these settings."""
    if loss not in KNOWN_LOSSES or precision != "fp32" or distributed:
        return False
    for p in model.parameters():
        if type(p) is not nn.Parameter or not p.requires_grad or p.dtype != torch.float32:
            return False
    return chain(model) is not None and hooks(model) is None


class MLPStep:
    """``step(x, target)``: forward, loss (``mse``, ``bce`` or ``l1``, averaged over pixels)
    and backward of the model, gradients written into each parameter's ``.grad``; returns the
    loss (a 0-d tensor, not synchronised).

    The first step runs both ways and keeps the fast result; where the two differ (beyond
    :data:`RTOL` of each tensor's largest entry plus :data:`FLOOR` of the largest gradient), or
    the step raises, it logs a warning and every later step is autograd's (``uses_autograd``). A step also goes to autograd whenever a hook has appeared,
    a parameter stopped requiring a gradient or a BatchNorm is in eval mode since.
    """

    def __init__(self, model: nn.Module, loss: str = "mse"):
        layers = chain(model)
        if layers is None:
            raise ValueError("MLPStep needs a chain of Linear, BatchNorm1d and activation layers")
        if loss not in KNOWN_LOSSES:
            raise ValueError(f"MLPStep computes {', '.join(KNOWN_LOSSES)}; not {loss!r}")
        hook = hooks(model)
        if hook is not None:
            raise ValueError(f"MLPStep would skip {hook}; train with autograd")
        self.model, self.layers, self.loss = model, layers, loss
        self.params = list(model.parameters())
        self._mods = list(model.modules())
        self._norms = [layer.norm for layer in layers if layer.norm is not None]
        self._bufs: dict = {}
        self.checked = False  # the first fast step has been compared with autograd's
        self.uses_autograd = False  # it differed: autograd's step from then on
        self._warned = False  # about a step handed to autograd (said once)

    def __call__(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.uses_autograd or self._disturbed(x):
            return self.autograd_step(x, target)
        if not self.checked:
            return self._first_step(x, target)
        return self.fast_step(x, target)

    def fast_step(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The step without autograd, unchecked."""
        with torch.no_grad():
            return self._step(x.reshape(len(x), -1), target.reshape(len(target), -1))

    def autograd_step(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The reference: the trainer's own step (zeroed gradients, forward, loss, backward)."""
        for p in self.params:
            p.grad = None
        with torch.enable_grad():
            terms = self.model.loss_terms(self.model(x), x, target, self.loss)
            loss = torch.stack(list(terms.values())).sum()
            loss.backward()
        return loss.detach()

    def _disturbed(self, x: torch.Tensor) -> bool:
        """Whether something the step would get wrong has appeared since it was built (a
        cheap look, every step: a few microseconds for the tutorial network)."""
        found = (
            x.dtype != torch.float32
            or self.model.loss_reduction != "mean"
            or any(getattr(_module, n) for n in _GLOBAL_STEP_HOOKS)
            or any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks
                   or m._backward_pre_hooks or "forward" in m.__dict__ for m in self._mods)
            or any(not p.requires_grad or p._backward_hooks or p._post_accumulate_grad_hooks
                   for p in self.params)
            or any(not norm.training for norm in self._norms)
        )  # fmt: skip
        if found and not self._warned:
            self._warned = True
            logger.warning(
                "a hook, a replaced forward, a frozen parameter, an eval-mode BatchNorm or "
                "non-float32 data appeared since the autograd-free step was built: such "
                "steps run with autograd"
            )
        return found

    def _first_step(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Autograd's step, then the fast one from the same state. Where they agree, the fast
        step's result stands (so a resumed run, which checks again, computes bit for bit what
        an uninterrupted one does); where they differ, autograd's, from then on."""
        buffers = list(self.model.buffers())
        before = [b.clone() for b in buffers]
        loss = self.autograd_step(x, target)
        grads = [None if p.grad is None else p.grad.clone() for p in self.params]
        ref_buffers = [b.clone() for b in buffers]
        with torch.no_grad():
            for b, v in zip(buffers, before):
                b.copy_(v)
        try:
            fast_loss = self.fast_step(x, target)
        except Exception as e:  # noqa: BLE001 -- a crash is a difference too: autograd decides
            fast_loss, failure = None, f"it raised {type(e).__name__}: {e}"
        else:
            failure = None
        names = ["loss"] + [f"grad of {n}" for n, _ in self.model.named_parameters()]
        names += [f"buffer {n}" for n, _ in self.model.named_buffers()]
        floor = FLOOR * max((g.abs().max().item() for g in grads if g is not None), default=0.0)
        fast = [fast_loss, *(p.grad for p in self.params), *buffers]
        ref = [loss, *grads, *ref_buffers]
        # a bias before BatchNorm has a gradient of 0 in exact arithmetic: both sides hold
        # float32 noise of the same kernel (a sum over the batch), so it is not compared
        noise = {id(layer.linear.bias) for layer in self.layers if layer.norm is not None}
        for i, p in enumerate(self.params, start=1):
            if id(p) in noise:
                fast[i] = ref[i] = None
        diff = failure or difference(names, fast, ref, floor)
        self.checked = True
        if diff is None:
            return fast_loss
        self.uses_autograd = True
        with torch.no_grad():  # autograd's step stands
            for p, g in zip(self.params, grads):
                p.grad = g
            for b, v in zip(buffers, ref_buffers):
                b.copy_(v)
        logger.warning(
            "the autograd-free step (train.fast_mlp_step) differs from autograd's on the first "
            "step (%s): this run trains with autograd",
            diff,
        )
        return loss

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
                with one_thread():
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
            elif kind is not None:
                raise ValueError(f"no forward for the activation {kind!r}")
        loss, g = self._loss(h, target, grads[-1])
        for i in range(len(self.layers) - 1, -1, -1):
            lin, norm, kind, slope = self.layers[i]
            if kind is not None:  # gradient with respect to the activation's input
                self._act_backward(g, kind, slope, outs[i])
            if norm is not None:  # ... and to BatchNorm's input, the Linear's output
                z, mean, invstd = normed[i]
                affine = norm.weight is not None
                with one_thread():
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
            with one_thread():  # a sum over the whole batch: split over threads, it rounds
                loss = torch.dot(flat, flat).div_(n)  # differently at each thread count
            return loss, g.mul_(2.0 / n)
        if self.loss == "l1":
            with one_thread():
                loss = torch.sub(y, target, out=g).abs().mean()
            return loss, g.sign_().div_(n)
        if self.loss == "bce":  # on the clamped output: gradient only inside [eps, 1 - eps]
            yc = y.clamp(BCE_EPS, 1 - BCE_EPS)
            with one_thread():
                loss = F.binary_cross_entropy(yc, target)
            one = torch.ones((), dtype=y.dtype, device=y.device)
            aten.binary_cross_entropy_backward.grad_input(one, yc, target, None, 0, grad_input=g)
            return loss, g.mul_((y >= BCE_EPS) & (y <= 1 - BCE_EPS)).div_(n)
        raise ValueError(f"MLPStep computes {', '.join(KNOWN_LOSSES)}; not {self.loss!r}")

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
        elif kind == "tanh":
            aten.tanh_backward.grad_input(g, out, grad_input=g)
        else:
            raise ValueError(f"no backward for the activation {kind!r}")


def difference(names: list[str], got: list, want: list, floor: float = 0.0) -> str | None:
    """The first of the named tensors where ``got`` differs from ``want`` by more than
    :data:`RTOL` of the larger of their largest entries plus ``floor`` (NaN counts as a
    difference; integer tensors must be equal), in words; None where none does."""
    for name, a, b in zip(names, got, want, strict=True):
        if a is None or b is None:
            if a is not b:
                return f"{name}: a gradient on one side only"
            continue
        if a.shape != b.shape:
            return f"{name}: shapes {tuple(a.shape)} and {tuple(b.shape)}"
        if not a.is_floating_point():
            if not torch.equal(a, b):
                return f"{name}: {a.tolist()} against {b.tolist()}"
            continue
        a, b = a.double(), b.double()
        err = (a - b).abs().max().item() if a.numel() else 0.0
        scale = max(a.abs().max().item(), b.abs().max().item()) if a.numel() else 0.0
        if not err <= RTOL * scale + floor:
            return f"{name}: largest difference {err:.3g} where the largest entry is {scale:.3g}"
    return None


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
