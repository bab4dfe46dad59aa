"""Reusable building blocks shared by the model families (imports only torch)."""

from aekit.layers.blocks import (
    Activation,
    OutputActivation,
    activation,
    inverse_output_activation,
    mlp_stack,
    output_activation,
)

__all__ = [
    "Activation",
    "OutputActivation",
    "activation",
    "inverse_output_activation",
    "mlp_stack",
    "output_activation",
]
