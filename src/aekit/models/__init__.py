"""The model families. Importing this package registers each one."""

from aekit.models import conv, linear, mlp  # noqa: F401  (registration side effect)
from aekit.models.base import AEOutput, Autoencoder

__all__ = ["AEOutput", "Autoencoder"]
