"""Activations by name and fully-connected stacks."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn


class Tanh(nn.Tanh):
    """tanh(x) computed as 2 sigmoid(2x) - 1 (equal to within 2e-7).

    torch 2.13's CPU tanh kernel took 285 us per (128, 784) batch in the trainer's profile, 11%
    of a 784-128-64-12-3 training step, where sigmoid takes about 25 us
    (benchmarks/RESULTS.md: where the per-step time goes). Still an ``nn.Tanh``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # sub_ is safe in place: the backward of mul by a constant keeps none of its tensors
        return torch.sigmoid(x * 2).mul(2).sub_(1)


_ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
    "tanh": Tanh,
    "identity": nn.Identity,
    "none": nn.Identity,
}


#: an activation by name (the keys of _ACTIVATIONS); "none" and "identity" leave values as they are
Activation = Literal[
    "relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "identity", "none"
]
#: the decoder's last activation: "auto" is sigmoid for [0, 1] data, tanh for [-1, 1]
OutputActivation = Literal["auto", Activation]


def activation(name: str) -> nn.Module:
    """A fresh activation module from its name (relu, leaky_relu, elu, gelu, silu, sigmoid, tanh)."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; choose one of: {', '.join(_ACTIVATIONS)}"
        ) from None


def output_activation_name(name: str, pixel_range: str) -> str:
    """The decoder's last activation by name; "auto" is sigmoid for [0, 1] data, tanh for
    [-1, 1]."""
    if name == "auto":
        return "tanh" if pixel_range == "-11" else "sigmoid"
    return name


def output_activation(name: str, pixel_range: str) -> nn.Module:
    """The decoder's last activation (see :func:`output_activation_name`)."""
    return activation(output_activation_name(name, pixel_range))


def mlp_stack(
    sizes: list[int],
    act: str,
    batchnorm: bool = False,
    dropout: float = 0.0,
    last_act: bool = True,
) -> nn.Sequential:
    """Linear layers sizes[0] -> sizes[1] -> ... with activation (and BatchNorm/dropout) between.

    ``last_act=False`` leaves the final Linear bare (a bottleneck or an output layer).
    """
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        is_last = i == len(sizes) - 2
        if is_last and not last_act:
            break
        if batchnorm:
            layers.append(nn.BatchNorm1d(n_out))
        layers.append(activation(act))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def inverse_output_activation(name: str, pixel_range: str, y: torch.Tensor) -> torch.Tensor | None:
    """The pre-activation whose output is ``y`` (clipped off the asymptotes), for the output
    activations that have one (tanh, sigmoid, none); None for the others."""
    name = output_activation_name(name, pixel_range)
    if name == "tanh":
        return torch.atanh(y.clamp(-0.99, 0.99))
    if name == "sigmoid":
        return torch.logit(y.clamp(0.005, 0.995))
    if name in ("none", "identity"):
        return y.clone()
    return None
