"""Anomaly scores: their histogram with the threshold, the ROC curve against known labels, and
the most normal and most anomalous inputs with their scores."""

from __future__ import annotations

import numpy as np

from aekit.viz._mpl import Figure
from aekit.viz.grids import image_rows, to_display
from aekit.viz.palette import LINES

#: the 99th percentile of the scores over their median above which the x axis is logarithmic
HEAVY_TAIL = 20.0


def heavy_tailed(scores: np.ndarray) -> bool:
    """Whether the positive ``scores`` spread over orders of magnitude (drawn on a log axis)."""
    s = np.asarray(scores, np.float64)
    s = s[np.isfinite(s)]
    if len(s) < 2 or s.min() <= 0:
        return False
    return float(np.percentile(s, 99) / np.median(s)) > HEAVY_TAIL


def score_histogram(
    scores: np.ndarray,
    threshold: float,
    truth: np.ndarray | None = None,
    unit: str = "score",
) -> Figure:
    """Histogram of ``scores`` (N,) with the ``threshold`` as a vertical line; with ``truth``
    (N,) 1 = anomaly, normal and anomalous samples are drawn as two overlaid histograms. A
    log x axis when the scores are heavy-tailed (see :func:`heavy_tailed`)."""
    s = np.asarray(scores, np.float64)
    fin = np.isfinite(s)
    log_x = heavy_tailed(s)
    bins = _bins(s[fin], log_x)
    fig = Figure(figsize=(6.0, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    if truth is None:
        ax.hist(s[fin], bins=bins, color=LINES[0], alpha=0.8, label="all samples")
    else:
        t = np.asarray(truth).astype(bool)
        ax.hist(s[fin & ~t], bins=bins, color=LINES[0], alpha=0.6, label="normal (label)")
        ax.hist(s[fin & t], bins=bins, color=LINES[1], alpha=0.6, label="anomaly (label)")
    flagged = float(np.mean(s > threshold)) if len(s) else 0.0
    ax.axvline(
        threshold, color="#222222", ls="--", lw=1.2, label=f"threshold ({flagged:.1%} above)"
    )
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(unit + (" (log scale)" if log_x else ""))
    ax.set_ylabel("samples")
    ax.set_title(f"Anomaly scores of {len(s):,} samples", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _bins(s: np.ndarray, log_x: bool) -> np.ndarray | int:
    """About 50 bins over the finite scores: even in log space when ``log_x``."""
    if len(s) == 0 or s.min() == s.max():
        return 10
    n = int(min(50, max(10, np.sqrt(len(s)))))
    if log_x:
        return np.geomspace(s.min(), s.max(), n + 1)
    return np.linspace(s.min(), s.max(), n + 1)


def roc_figure(scores: np.ndarray, truth: np.ndarray, threshold: float | None = None) -> Figure:
    """The ROC curve of ``scores`` against ``truth`` (1 = anomaly), its AUROC in the legend,
    chance as the diagonal, and the operating point of ``threshold`` (flag: score > threshold)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    s, t = np.asarray(scores, np.float64), np.asarray(truth).astype(int)
    fpr, tpr, _ = roc_curve(t, s)
    auc = roc_auc_score(t, s)
    fig = Figure(figsize=(4.6, 4.4))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(fpr, tpr, color=LINES[0], lw=1.8, label=f"the scores (AUROC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="#999999", ls=":", lw=1, label="chance (AUROC 0.5)")
    if threshold is not None:
        flag = s > threshold
        op = (float(flag[t == 0].mean()), float(flag[t == 1].mean()))
        ax.plot(*op, "o", color=LINES[1], ms=7, label=f"the threshold: {op[1]:.0%} found, "
                f"{op[0]:.0%} false alarms")  # fmt: skip
    ax.set_xlabel("false-positive rate (normal samples flagged)")
    ax.set_ylabel("true-positive rate (anomalies flagged)")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_title("ROC curve", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def scored_grid(images, scores, recons=None, title: str = "", flags=None) -> Figure:
    """One column per image (N, C, H, W) in [0, 1], its score above it (and "flagged" when
    ``flags`` says so); ``recons``: the model's reconstructions in a second row."""
    rows = [to_display(images)] + ([to_display(recons)] if recons is not None else [])
    n = len(rows[0])
    fig = Figure(figsize=(max(3.0, n * 1.05 + 1.0), len(rows) * 1.15 + 0.5))  # 8: 940 px, wide
    marks = ["*" if flags is not None and flags[i] else "" for i in range(n)]
    image_rows(
        fig, rows, ["input", "reconstruction"], [f"{scores[i]:.3g}{marks[i]}" for i in range(n)]
    )
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(wspace=0.06, hspace=0.25, left=0.08, right=0.99, bottom=0.02, top=0.8)
    return fig
