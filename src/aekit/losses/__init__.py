"""Loss functions as pure functions: tensors in, tensor out (imports only torch)."""

from aekit.losses.reconstruction import LOSSES, reconstruction_loss

__all__ = ["LOSSES", "reconstruction_loss"]
