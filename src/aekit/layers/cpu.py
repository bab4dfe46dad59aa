"""The faster CPU training form of a model, made in place at build time: the same parameter
tensors (optimisers, state_dicts and checkpoints are unaffected) and the same outputs, computed
with the layouts and kernels that run fastest on the CPU. Every swapped layer is its stock
self outside float32 CPU training under autograd (no_grad, eval, CUDA, bf16, export, compile).
benchmarks/RESULTS.md has the figures behind each swap."""

from __future__ import annotations

import torch
from torch import nn

from aekit.layers.convt import use_fast_conv_transpose
from aekit.layers.flatten import use_nhwc_bottleneck

CONVS = (nn.Conv2d, nn.ConvTranspose2d)  # 2-D convolutions: faster channels-last on the CPU


def has_conv(model: nn.Module) -> bool:
    """Whether ``model`` has 2-D convolutions (which train faster channels-last on the CPU)."""
    return any(isinstance(m, CONVS) for m in model.modules())


def use_fast_cpu_layers(
    model: nn.Module, channels_last: bool = True, fast_conv_transpose: bool = True
) -> dict[str, int]:
    """Turn ``model`` (on the CPU) into its faster training form, in place:

    - ``channels_last``: a model with convolutions moves to NHWC, oneDNN's own layout, and its
      Flatten -> Linear and Linear -> Unflatten pairs work in that layout without copies
      (:func:`~aekit.layers.flatten.use_nhwc_bottleneck`);
    - ``fast_conv_transpose``: every ``nn.ConvTranspose2d`` becomes a
      :class:`~aekit.layers.convt.FastConvTranspose2d`.

    Returns how many layers each swap turned."""
    done = {"channels_last": 0, "bottleneck": 0, "conv_transpose": 0}
    if channels_last and has_conv(model):
        model.to(memory_format=torch.channels_last)  # in place: nn.Module.to returns self
        done["channels_last"] = sum(isinstance(m, CONVS) for m in model.modules())
        done["bottleneck"] = use_nhwc_bottleneck(model)
    if fast_conv_transpose:
        done["conv_transpose"] = use_fast_conv_transpose(model)
    return done
