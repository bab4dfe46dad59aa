"""The model families. Importing this package registers each one."""

from aekit.models import (  # noqa: F401  (registration side effect: one line per family)
    contractive,
    conv,
    convspec,
    linear,
    mlp,
    sparse,
    stacked,
    tabular,
    vae,
)
from aekit.models.base import AEOutput, Autoencoder, eval_mode

__all__ = ["AEOutput", "Autoencoder", "eval_mode"]
