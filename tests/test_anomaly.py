"""Thresholds a user can set without knowing the answer: contamination, a target FPR, auto."""

from __future__ import annotations

import numpy as np
import pytest

from aekit.anomaly import ThresholdRule, conformal_quantile, robust_log_threshold, rule_for
from aekit.errors import ConfigError
from aekit.sklearn import AutoencoderAnomalyDetector


@pytest.mark.parametrize(
    "spec, kind, rate",
    [
        ("contamination:0.1", "contamination", 0.1),
        ("FPR:0.05", "fpr", 0.05),
        ("auto", "auto", None),
        (0.2, "contamination", 0.2),
    ],
)
def test_rules_parse(spec, kind, rate):
    rule = ThresholdRule.parse(spec)
    assert (rule.kind, rule.rate) == (kind, rate)


@pytest.mark.parametrize("spec", ["fpr", "fpr:x", "fpr:0.7", "contamination:0", "top:0.1", -0.1])
def test_a_bad_rule_names_the_three_forms_or_the_range(spec):
    with pytest.raises(ConfigError, match=r"contamination:Q|above 0 and below 0.5"):
        ThresholdRule.parse(spec)


def test_modes_choose_their_default_rule():
    assert str(rule_for(None, "outlier")) == "contamination:0.1"
    assert str(rule_for(None, "novelty")) == "fpr:0.05"
    with pytest.raises(ConfigError, match="outlier, novelty"):
        rule_for(None, "inlier")


def test_conformal_quantile_bounds_the_false_positive_rate():
    g = np.random.default_rng(0)
    rates = []
    for _ in range(200):
        t = conformal_quantile(g.standard_normal(99), 0.9)
        rates.append(float((g.standard_normal(20_000) > t).mean()))
    assert 0.085 < np.mean(rates) <= 0.10 + 0.003  # exchangeable: E[rate] = 1 - 90/100 = 0.10


def test_auto_flags_planted_outliers_and_few_inliers():
    g = np.random.default_rng(1)
    inliers = np.exp(g.normal(-3.0, 0.4, 5000))  # log-normal errors
    outliers = np.exp(g.normal(0.0, 0.3, 100))  # e^3 = 20x larger
    t = robust_log_threshold(np.concatenate([inliers, outliers]))
    assert (outliers > t).mean() > 0.99
    assert (inliers > t).mean() < 0.002  # P(z > 3.5) = 0.00023 for log-normal inliers


def test_contamination_flags_that_share_of_the_scores():
    s = np.arange(1000.0)
    t = ThresholdRule.parse("contamination:0.1").fit(s)
    assert (s > t).sum() == 100


def low_rank_table(g):
    """Rows near a 3-dimensional plane in 12 dimensions."""
    basis = g.standard_normal((3, 12))
    return lambda m: g.standard_normal((m, 3)) @ basis + 0.05 * g.standard_normal((m, 12))


def test_novelty_mode_lands_near_the_asked_false_positive_rate():
    g = np.random.default_rng(0)
    draw = low_rank_table(g)
    det = AutoencoderAnomalyDetector(
        latent_dim=3, hidden=[32], epochs=8, batch_size=256, mode="novelty", threshold="fpr:0.05"
    )
    det.fit(draw(20_000))
    assert det.threshold_rule_ == "fpr:0.05" and len(det.calibration_scores_) == 4000
    fresh = float(det.predict(draw(20_000)).mean())
    assert abs(fresh - 0.05) <= 0.01, fresh
    shifted = draw(500) + 3.0 * g.standard_normal(12)  # off the plane
    assert det.predict(shifted).mean() > 0.9


def test_outlier_mode_keeps_contamination_as_before():
    g = np.random.default_rng(2)
    X = low_rank_table(g)(600)
    det = AutoencoderAnomalyDetector(latent_dim=3, epochs=2, contamination=0.2).fit(X)
    assert det.threshold_rule_ == "contamination:0.2"
    assert abs(det.labels_.mean() - 0.2) < 0.01
