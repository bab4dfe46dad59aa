"""Loss functions as pure functions: tensors in, tensor out (imports only torch)."""

from aekit.losses.reconstruction import LOSSES, reconstruction_loss
from aekit.losses.regularizers import (
    bernoulli_nll,
    gaussian_kl,
    gaussian_log_density,
    gaussian_nll,
    jacobian_frobenius_autograd,
    jacobian_frobenius_sigmoid,
    l1_penalty,
    sparsity_kl,
    standard_normal_log_density,
)

__all__ = [
    "LOSSES",
    "bernoulli_nll",
    "gaussian_kl",
    "gaussian_log_density",
    "gaussian_nll",
    "jacobian_frobenius_autograd",
    "jacobian_frobenius_sigmoid",
    "l1_penalty",
    "reconstruction_loss",
    "sparsity_kl",
    "standard_normal_log_density",
]
