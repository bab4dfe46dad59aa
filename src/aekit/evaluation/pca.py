"""The best linear baseline: PCA with k components (the Eckart–Young optimum for squared error).

Fitted exactly by an SVD of the centred training data, so it is the yardstick for every
autoencoder's reconstruction error (Hinton & Salakhutdinov 2006 report PCA at 30 components:
13.87 squared error per MNIST test image).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class PCABaseline:
    mean: torch.Tensor  # (D,) training mean
    components: torch.Tensor  # (k, D) orthonormal rows, largest variance first
    explained_variance: torch.Tensor  # (k,) variance along each component

    @classmethod
    def fit(cls, x: torch.Tensor, k: int) -> PCABaseline:
        """Fit on samples ``x`` (N, ...) flattened to (N, D), in float64."""
        flat = x.reshape(len(x), -1).double()
        mean = flat.mean(0)
        c = flat - mean
        k = min(k, *c.shape)
        if c.shape[0] >= c.shape[1]:  # eigendecomposition of the DxD covariance is cheaper
            evals, evecs = torch.linalg.eigh(c.T @ c)
            order = torch.argsort(evals, descending=True)[:k]
            comps, var = evecs[:, order].T, evals[order] / (len(c) - 1)
        else:
            _, s, vh = torch.linalg.svd(c, full_matrices=False)
            comps, var = vh[:k], s[:k] ** 2 / (len(c) - 1)
        return cls(mean, comps.contiguous(), var.clamp_min(0))

    @property
    def k(self) -> int:
        return int(self.components.shape[0])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x.reshape(len(x), -1).double() - self.mean) @ self.components.T  # (N, D) -> (N, k)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z.double() @ self.components + self.mean  # (N, k) -> (N, D)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction with the same shape and dtype as ``x``."""
        return self.decode(self.encode(x)).reshape(x.shape).to(x.dtype)

    def errors(self, x: torch.Tensor) -> dict[str, float]:
        """Mean squared error per element and squared error summed per sample, averaged."""
        flat = x.reshape(len(x), -1).double()
        err = (self.decode(self.encode(x)) - flat).pow(2)
        return {"mse": float(err.mean()), "sse_per_image": float(err.sum(1).mean())}


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Principal angles in degrees between the column spaces of ``a`` (D, p) and ``b`` (D, q),
    smallest first (Björck & Golub 1973)."""
    qa, _ = torch.linalg.qr(a.double())
    qb, _ = torch.linalg.qr(b.double())
    s = torch.linalg.svdvals(qa.T @ qb).clamp(-1, 1)
    return torch.rad2deg(torch.arccos(s))
