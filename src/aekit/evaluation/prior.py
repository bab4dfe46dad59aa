"""A density fitted to a plain autoencoder's training codes, so it can generate: a Gaussian, or
a Gaussian mixture (scikit-learn's GaussianMixture). Stored as JSON so sampling is repeatable."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from aekit.errors import ConfigError

PRIORS = ("gaussian", "gmm")


@dataclass
class CodePrior:
    kind: str  # "gaussian" (one full-covariance Gaussian) or "gmm" (a mixture)
    weights: torch.Tensor  # (K,) mixing weights, summing to 1
    means: torch.Tensor  # (K, L) component means in code units
    covariances: torch.Tensor  # (K, L, L) full covariance matrices

    @classmethod
    def fit(
        cls, codes: torch.Tensor, kind: str = "gaussian", n_components: int = 10, seed: int = 0
    ) -> CodePrior:
        """Fit to training codes (N, L) in float64: the maximum-likelihood Gaussian, or a GMM
        with ``n_components`` full-covariance components (EM, k-means start, seeded)."""
        z = codes.detach().cpu().double()
        if kind == "gaussian":
            mean = z.mean(0, keepdim=True)  # (1, L)
            c = z - mean
            cov = (c.T @ c / max(1, len(z) - 1))[None]  # (1, L, L)
            return cls(kind, torch.ones(1, dtype=torch.float64), mean, cov)
        if kind == "gmm":
            from sklearn.mixture import GaussianMixture

            k = max(1, min(n_components, len(z)))
            g = GaussianMixture(k, covariance_type="full", random_state=seed, reg_covar=1e-6)
            g.fit(z.numpy())
            return cls(
                kind,
                torch.from_numpy(g.weights_),
                torch.from_numpy(g.means_),
                torch.from_numpy(g.covariances_),
            )
        raise ConfigError(f"unknown prior {kind!r}; choose one of: {', '.join(PRIORS)}")

    @property
    def latent_dim(self) -> int:
        return int(self.means.shape[1])

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n codes (n, L) float32; the same generator seed gives the same codes."""
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (n,)
        eye = torch.eye(self.latent_dim, dtype=torch.float64)
        chol = torch.linalg.cholesky(self.covariances + 1e-9 * eye)  # (K, L, L)
        eps = torch.randn(n, self.latent_dim, generator=generator, dtype=torch.float64)
        z = self.means[comp] + (chol[comp] @ eps[:, :, None])[:, :, 0]  # (n, L)
        return z.float()

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "weights": self.weights.tolist(),
            "means": self.means.tolist(),
            "covariances": self.covariances.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> CodePrior:
        t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
        return cls(d["kind"], t(d["weights"]), t(d["means"]), t(d["covariances"]))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> CodePrior:
        return cls.from_dict(json.loads(Path(path).read_text()))
