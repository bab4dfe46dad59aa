"""Reusable building blocks shared by the model families (imports only torch)."""

from aekit.layers.blocks import (
    Activation,
    OutputActivation,
    activation,
    inverse_output_activation,
    mlp_stack,
    output_activation,
)
from aekit.layers.convt import FastConvTranspose2d, use_fast_conv_transpose
from aekit.layers.cpu import has_conv, use_fast_cpu_layers
from aekit.layers.flatten import Flatten, Unflatten, use_nhwc_bottleneck

__all__ = [
    "Activation",
    "FastConvTranspose2d",
    "Flatten",
    "OutputActivation",
    "Unflatten",
    "activation",
    "has_conv",
    "inverse_output_activation",
    "mlp_stack",
    "output_activation",
    "use_fast_conv_transpose",
    "use_fast_cpu_layers",
    "use_nhwc_bottleneck",
]
