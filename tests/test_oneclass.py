"""The one-class benchmark's protocol (aekit.oneclass), on scikit-learn's digits: one class, one
seed, a tiny model; the full MNIST table is a benchmark, never a test."""

from __future__ import annotations

import numpy as np
import pytest

import aekit
from aekit.errors import ConfigError
from aekit.oneclass import (
    PUBLISHED,
    OneClassConfig,
    auroc,
    markdown_table,
    one_class_split,
    run_oneclass,
    standardised_sum,
)

TINY = OneClassConfig(
    model={"name": "mlp", "hidden": [32], "latent_dim": 4},
    vae={"name": "vae", "hidden": [32], "latent_dim": 4},
    nll_samples=4,
    epochs=2,
    batch_size=32,
    peers=("PCA", "IsolationForest"),
)


@pytest.fixture(scope="module")
def digits():
    train = aekit.load_dataset("digits", split="train", val_fraction=0.3)
    test = aekit.load_dataset("digits", split="val", val_fraction=0.3)
    return train, test


def test_auroc_of_a_perfect_score_is_100_and_of_its_reverse_0():
    y = np.array([0, 0, 1, 1, 1])
    assert auroc(y, y * 2.0 + 0.5) == pytest.approx(100.0)
    assert auroc(y, -y) == pytest.approx(0.0)


def test_split_trains_on_one_class_and_marks_the_others_anomalies(digits):
    train, test = digits
    x_fit, x_test, y = one_class_split(train, test, 3)
    assert len(x_fit) == int((train.labels == 3).sum())
    assert len(x_test) == len(test) and y.sum() == int((test.labels != 3).sum())
    assert set(np.unique(y)) == {0, 1}


def test_combination_is_standardised_on_training_scores_only():
    rng = np.random.default_rng(0)
    tr = {"a": rng.lognormal(size=200), "b": 10 * rng.lognormal(size=200)}
    te = {"a": rng.lognormal(size=50), "b": 10 * rng.lognormal(size=50)}
    tr_sum, te_sum = standardised_sum(tr, te, ["a", "b"])
    # each score is a z-score of the TRAINING log-scores: they sum to mean 0 on the training set
    assert tr_sum.mean() == pytest.approx(0.0, abs=1e-9)
    la, lb = np.log(tr["a"]), np.log(tr["b"])
    want = (np.log(te["a"][0]) - la.mean()) / la.std() + (np.log(te["b"][0]) - lb.mean()) / lb.std()
    assert te_sum[0] == pytest.approx(want)
    # the test set does not move the weights: an extreme test image changes no other's score
    te2 = {k: np.append(v, 1e6) for k, v in te.items()}
    assert np.allclose(standardised_sum(tr, te2, ["a", "b"])[1][:-1], te_sum)


@pytest.mark.usefixtures("no_end_plots")  # its runs' figures are not the point
def test_run_gives_a_row_per_detector_for_the_class_and_seed(digits):
    rows = run_oneclass(classes=[0], seeds=[0], cfg=TINY, splits=digits)
    assert {r["class"] for r in rows} == {0} and {r["seed"] for r in rows} == {0}
    detectors = {r["detector"] for r in rows}
    want = {"aekit mse", "aekit ssim", "aekit mahalanobis", "aekit knn"}
    want |= {"aekit combined ssim+knn"}  # the default combination
    want |= {"aekit vae neg_elbo", "aekit vae nll"}  # from the second model, a VAE
    assert want | {"PCA", "IsolationForest"} == detectors
    for r in rows:
        assert set(r) == {"class", "seed", "detector", "auroc", "seconds"}
        assert 0.0 <= r["auroc"] <= 100.0
    # digit 0 is easy: aekit's reconstruction error separates it from the other digits
    assert next(r["auroc"] for r in rows if r["detector"] == "aekit mse") > 80.0


def test_table_has_a_column_per_class_and_the_published_rows():
    rows = [
        {"class": c, "seed": s, "detector": "x", "auroc": 90.0 + s, "seconds": 1.0}
        for c in range(10)
        for s in (0, 1)
    ]
    text = markdown_table(rows, "mnist")
    assert "| x | 90.5±0.5 |" in text
    published = next(iter(PUBLISHED["mnist"]))
    assert f"| {published} | 98.0 |" in text and "| 94.8 |" in text


def test_unknown_class_is_a_config_error(digits):
    with pytest.raises(ConfigError, match="--classes"):
        run_oneclass(classes=[42], seeds=[0], cfg=TINY, splits=digits)
