"""The PCA baseline against scikit-learn's PCA (the oracle)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA

from aekit.evaluation import PCABaseline, principal_angles


def test_pca_error_equals_sklearn():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 20)) @ rng.normal(size=(20, 20))
    for k in (1, 5, 19):
        ours = PCABaseline.fit(torch.from_numpy(x), k)
        sk = PCA(k).fit(x)
        ref = ((sk.inverse_transform(sk.transform(x)) - x) ** 2).mean()
        assert abs(ours.errors(torch.from_numpy(x))["mse"] - ref) < 1e-9 * max(1, ref)
        assert np.allclose(ours.explained_variance.numpy(), sk.explained_variance_, rtol=1e-8)


def test_wide_data_uses_svd_and_agrees():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(15, 40))
    ours = PCABaseline.fit(torch.from_numpy(x), 5)
    sk = PCA(5).fit(x)
    assert (
        abs(
            ours.errors(torch.from_numpy(x))["mse"]
            - ((sk.inverse_transform(sk.transform(x)) - x) ** 2).mean()
        )
        < 1e-10
    )


def test_principal_angles_known_cases():
    e = torch.eye(3)
    assert torch.allclose(
        principal_angles(e[:, :1], e[:, :1]), torch.zeros(1, dtype=torch.float64), atol=1e-5
    )
    assert torch.allclose(
        principal_angles(e[:, :1], e[:, 1:2]), torch.tensor([90.0], dtype=torch.float64)
    )
    v = torch.tensor([[1.0], [1.0], [0.0]])
    assert torch.allclose(principal_angles(v, e[:, :1]), torch.tensor([45.0], dtype=torch.float64))


def test_chunked_fit_equals_one_chunk():
    x = torch.rand(203, 3, 4, 4)  # N >= D = 48: the scatter-matrix path
    one = PCABaseline.fit(x, 5, chunk=10_000)
    many = PCABaseline.fit(x, 5, chunk=7)
    assert torch.allclose(one.mean, many.mean, atol=1e-12)
    assert torch.allclose(one.explained_variance, many.explained_variance, rtol=1e-10)
    # the same subspace: the projections onto each agree (components are defined up to sign)
    assert torch.allclose(one.reconstruct(x), many.reconstruct(x), atol=1e-6)
