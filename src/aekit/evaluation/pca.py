"""The best linear baseline: PCA with k components (the Eckart–Young optimum for squared error).

Fitted exactly by an SVD of the centred training data, so it is the yardstick for every
autoencoder's reconstruction error (Hinton & Salakhutdinov 2006 report PCA at 30 components:
13.87 squared error per MNIST test image).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from aekit.data import chunks


@dataclass
class PCABaseline:
    mean: torch.Tensor  # (D,) training mean
    components: torch.Tensor  # (k, D) orthonormal rows, largest variance first
    explained_variance: torch.Tensor  # (k,) variance along each component

    @classmethod
    def fit(cls, x: torch.Tensor, k: int, chunk: int = 8192) -> PCABaseline:
        """Fit on samples ``x`` (N, ...) flattened to (N, D), in float64.

        With N >= D the D x D scatter matrix is accumulated over chunks of ``chunk`` rows, so
        no float64 copy of the whole data is made (full MNIST: 370 MB less at peak)."""
        return cls.fit_rows(lambda s: x[s], len(x), k, chunk)

    @classmethod
    def fit_rows(
        cls, rows: Callable[[slice], torch.Tensor], n: int, k: int, chunk: int = 8192
    ) -> PCABaseline:
        """Fit on ``n`` samples that ``rows(slice)`` yields a chunk at a time (e.g. converted
        from uint8 on the fly, so that the whole float data never exists at once)."""
        first = rows(slice(0, 1))
        d = first[0].numel()
        k = min(k, n, d)
        if n >= d:  # eigendecomposition of the D x D covariance is cheaper
            parts = chunks(n, chunk)
            mean = sum(_flat64(rows(s)).sum(0) for s in parts) / n
            scatter = torch.zeros(d, d, dtype=torch.float64)
            for s in parts:
                c = _flat64(rows(s)) - mean  # (chunk, D)
                scatter.addmm_(c.T, c)
            evals, evecs = torch.linalg.eigh(scatter)
            order = torch.argsort(evals, descending=True)[:k]
            comps, var = evecs[:, order].T, evals[order] / (n - 1)
        else:
            flat = _flat64(rows(slice(0, n)))
            mean = flat.mean(0)
            _, s, vh = torch.linalg.svd(flat - mean, full_matrices=False)
            comps, var = vh[:k], s[:k] ** 2 / (n - 1)
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


def over_pca(model_error: float, pca_error: float) -> float | None:
    """The model's error as a multiple of PCA's with as many components as the code has
    (below 1: the model beats PCA); None where PCA's error is 0 and there is no ratio."""
    return model_error / pca_error if pca_error > 0 else None


def _flat64(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(len(x), -1).cpu().double()  # (N, ...) -> (N, D) on the CPU


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Principal angles in degrees between the column spaces of ``a`` (D, p) and ``b`` (D, q),
    smallest first (Björck & Golub 1973)."""
    qa, _ = torch.linalg.qr(a.double())
    qb, _ = torch.linalg.qr(b.double())
    s = torch.linalg.svdvals(qa.T @ qb).clamp(-1, 1)
    return torch.rad2deg(torch.arccos(s))
