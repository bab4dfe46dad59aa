"""Where an anomaly score becomes a flag: thresholds a user can set without knowing the answer.

Three rules, written ``"contamination:0.1"``, ``"fpr:0.05"`` or ``"auto"``:

- ``contamination:q``: the data scored holds a share q of anomalies (the *outlier* setting:
  the training data itself is contaminated); the highest q of the scores are flagged.
- ``fpr:a``: a target false-positive rate. The threshold is the conformal (1 - a) quantile of
  the scores of held-out inliers (data the model did not train on, from the clean training
  distribution), so that on fresh inliers about a share a is flagged (the *novelty* setting:
  train on clean data only).
- ``auto``: no rate known. Reconstruction errors are right-skewed and roughly log-normal for
  inliers; assuming anomalies are a minority, the threshold is the median of the log-scores
  plus 3.5 robust standard deviations (1.4826 x MAD), the modified z-score rule of Iglewicz &
  Hoaglin (1993). When inlier scores are far from log-normal, prefer ``fpr``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from aekit.errors import ConfigError

#: the modified z-score above which ``auto`` flags a score (Iglewicz & Hoaglin 1993)
AUTO_Z = 3.5
#: MAD -> standard deviation for normal data
MAD_TO_SD = 1.4826

MODES = {"outlier": "contamination:0.1", "novelty": "fpr:0.05"}


@dataclass(frozen=True)
class ThresholdRule:
    """A parsed threshold: ``kind`` in contamination / fpr / auto, with its rate."""

    kind: str
    rate: float | None = None

    @classmethod
    def parse(cls, spec: str | float | ThresholdRule) -> ThresholdRule:
        """``"contamination:0.1"``, ``"fpr:0.05"``, ``"auto"``; a bare number is a
        contamination rate (the earlier behaviour)."""
        if isinstance(spec, ThresholdRule):
            return spec
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            return cls._rate("contamination", float(spec))
        text = str(spec).strip().lower()
        if text == "auto":
            return cls("auto")
        kind, sep, value = text.partition(":")
        if sep and kind in ("contamination", "fpr"):
            try:
                rate = float(value)
            except ValueError:
                rate = None
            if rate is not None:
                return cls._rate(kind, rate)
        raise ConfigError(
            f"threshold {spec!r} is not a rule; use contamination:Q (e.g. contamination:0.1), "
            "fpr:A (e.g. fpr:0.05) or auto"
        )

    @classmethod
    def _rate(cls, kind: str, rate: float) -> ThresholdRule:
        if not (math.isfinite(rate) and 0.0 < rate < 0.5):
            raise ConfigError(f"the {kind} rate must be above 0 and below 0.5; got {rate:g}")
        return cls(kind, rate)

    @property
    def needs_inliers(self) -> bool:
        """Whether the rule is calibrated on held-out inliers (``fpr``)."""
        return self.kind == "fpr"

    def __str__(self) -> str:
        return self.kind if self.rate is None else f"{self.kind}:{self.rate:g}"

    def fit(self, scores: np.ndarray, inlier_scores: np.ndarray | None = None) -> float:
        """The threshold: a score above it is flagged. ``scores``: the data the rule speaks
        of (contamination, auto); ``inlier_scores``: held-out inliers (fpr)."""
        if self.kind == "fpr":
            if inlier_scores is None or len(inlier_scores) == 0:
                raise ConfigError("threshold fpr:A needs held-out inliers to calibrate on")
            return conformal_quantile(np.asarray(inlier_scores, np.float64), 1 - self.rate)
        s = np.asarray(scores, np.float64)
        if s.size == 0:
            raise ConfigError("no scores to set a threshold on")
        if self.kind == "contamination":
            return float(np.quantile(s, 1 - self.rate))
        return robust_log_threshold(s)


def conformal_quantile(inliers: np.ndarray, level: float) -> float:
    """The ceil((n + 1) * level)-th smallest inlier score: a fresh inlier exceeds it with
    probability at most 1 - level (split conformal prediction); the largest score when n is too
    small for the level."""
    s = np.sort(inliers)
    k = min(len(s), math.ceil((len(s) + 1) * level))
    return float(s[k - 1])


def robust_log_threshold(scores: np.ndarray) -> float:
    """exp(median + AUTO_Z * 1.4826 * MAD) of the log-scores (scores floored at a tiny
    positive value)."""
    floor = max(float(np.min(scores[scores > 0], initial=1e-12)) * 1e-3, 1e-300)
    logs = np.log(np.maximum(scores, floor))
    med = float(np.median(logs))
    mad = float(np.median(np.abs(logs - med)))
    if mad == 0.0:  # most scores equal: flag only what is above them
        return float(np.exp(med))
    return float(np.exp(med + AUTO_Z * MAD_TO_SD * mad))


def rule_for(threshold: str | float | None, mode: str) -> ThresholdRule:
    """The rule a user asked for, or the mode's default (outlier: contamination:0.1;
    novelty: fpr:0.05)."""
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    return ThresholdRule.parse(MODES[mode] if threshold is None else threshold)
