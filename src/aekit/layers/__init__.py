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

__all__ = [
    "Activation",
    "FastConvTranspose2d",
    "OutputActivation",
    "activation",
    "inverse_output_activation",
    "mlp_stack",
    "output_activation",
    "use_fast_conv_transpose",
]
