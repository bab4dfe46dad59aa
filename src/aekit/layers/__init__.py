"""Reusable building blocks shared by the model families (imports only torch)."""

from aekit.layers.blocks import activation, mlp_stack, output_activation

__all__ = ["activation", "mlp_stack", "output_activation"]
