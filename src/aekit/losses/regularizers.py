"""Regularisers and likelihoods of the autoencoder family, as pure functions (tensors in, out).

Per-sample quantities are returned with shape (B,) and summed over pixels / code units, so a
caller averages them over the batch: the VAE convention (Kingma & Welling 2014,
https://arxiv.org/abs/1312.6114).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) in nats, summed over the code units: (B, L) -> (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)) in nats, summed over the last dim: (..., L) -> (...)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def standard_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) in nats, summed over the last dim: (..., L) -> (...)."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x | logits) in nats per sample, summed over pixels: (B, ...) -> (B,).

    Exact for binary x; for grey levels in [0, 1] it is the usual cross-entropy surrogate.
    """
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def gaussian_nll(mean: torch.Tensor, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """-log N(x; mean, sigma² I) in nats per sample, summed over pixels: (B, ...) -> (B,)."""
    d = x[0].numel()
    sq = (x - mean).pow(2).flatten(1).sum(1)
    return 0.5 * sq / sigma**2 + d * (math.log(sigma) + 0.5 * LOG_2PI)


def sparsity_kl(rho: float, rho_hat: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Σ_j KL(Bernoulli(rho) || Bernoulli(rho_hat_j)) for mean activations rho_hat (L,) in (0, 1).

    The sparsity penalty of Ng's sparse-autoencoder notes (CS294A, 2011), in nats.
    """
    r = rho_hat.clamp(eps, 1 - eps)
    return (rho * torch.log(rho / r) + (1 - rho) * torch.log((1 - rho) / (1 - r))).sum()


def l1_penalty(z: torch.Tensor) -> torch.Tensor:
    """Σ_j |z_j| per sample, averaged over the batch: (B, L) -> scalar."""
    return z.abs().sum(1).mean()


def jacobian_frobenius_sigmoid(h: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """||∂h/∂x||²_F for h = sigmoid(W x + b), in closed form (Rifai et al. 2011, eq. 6).

    h: (B, L) the sigmoid outputs, weight: (L, D). Returns (B,): Σ_j (h_j (1 - h_j))² Σ_i W_ji².
    """
    return (h * (1 - h)).pow(2) @ weight.pow(2).sum(1)


def jacobian_frobenius_autograd(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """||∂z/∂x||²_F per sample for any encoder z = f(x), by one backward pass per code unit.

    ``x`` (B, ...) must require grad and ``z`` (B, L) be computed from it, each sample on its
    own (no batch statistics). The result (B,) keeps the graph, so it can be minimised.
    """
    total = z.new_zeros(z.shape[0])
    for j in range(z.shape[1]):
        (g,) = torch.autograd.grad(z[:, j].sum(), x, create_graph=True)  # row j of each J
        total = total + g.pow(2).flatten(1).sum(1)
    return total
