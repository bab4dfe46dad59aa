"""2-D points (a table with two columns): the data, what the model makes of them, the learned
curve (the decoder's image of the code axis) and the first principal component."""

from __future__ import annotations

import numpy as np
import torch

from aekit.viz._mpl import Figure
from aekit.viz.palette import LINES
from aekit.viz.rows import _np as rows_np


def points_figure(
    x: torch.Tensor,
    recon: torch.Tensor | None = None,
    curve: torch.Tensor | None = None,
    names: tuple[str, str] = ("x[0]", "x[1]"),
    title: str = "The points and the model's line",
    samples: torch.Tensor | None = None,
) -> Figure:
    """Points ``x`` (N, 2); their reconstructions (N, 2), joined to them by thin lines; the
    decoder's image of the code axis ``curve`` (M, 2, in code order); generated ``samples``;
    and the first principal component of ``x`` through its mean, across the data's extent."""
    a = _np(x)
    fig = Figure(figsize=(5.6, 5.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(a[:, 0], a[:, 1], s=12, color=LINES[0], alpha=0.6, label="data", zorder=2)
    if recon is not None:
        r = _np(recon)
        for p, q in zip(a, r):
            ax.plot([p[0], q[0]], [p[1], q[1]], color="#BBBBBB", lw=0.6, zorder=1)
        ax.scatter(r[:, 0], r[:, 1], s=10, marker="x", color=LINES[1], label="reconstruction")
    if samples is not None:
        s = _np(samples)
        ax.scatter(s[:, 0], s[:, 1], s=22, marker="^", color=LINES[2], label="samples", zorder=4)
    if curve is not None:
        c = _np(curve)
        ax.plot(c[:, 0], c[:, 1], color=LINES[1], lw=2, label="decoder's line (the code axis)")
    pc = _first_component(a)
    if pc is not None:
        ax.plot(pc[:, 0], pc[:, 1], "--", color="#000000", lw=1.2, label="1st principal component")
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _np(t) -> np.ndarray:
    return rows_np(t)[:, :2]  # (N, 2): the two columns


def _first_component(a: np.ndarray) -> np.ndarray | None:
    """Two points on the first principal axis of ``a`` (N, 2), spanning its projections; None
    for fewer than two distinct points."""
    if len(a) < 2:
        return None
    mean = a.mean(0)
    _, s, vt = np.linalg.svd(a - mean, full_matrices=False)
    if s[0] <= 0:
        return None
    t = (a - mean) @ vt[0]
    return mean + np.outer([t.min(), t.max()], vt[0])
