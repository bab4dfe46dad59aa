"""Rows of a table (N, D) drawn as lines over their columns, in place of 1 x D "images":
originals against their reconstructions, or generated rows over the band the data fill."""

from __future__ import annotations

import numpy as np
import torch

from aekit.viz._mpl import Figure
from aekit.viz.palette import COLORS


def rows_figure(
    rows: torch.Tensor,
    recons: torch.Tensor | None = None,
    names: list[str] | None = None,
    title: str = "Rows and their reconstructions",
    data: torch.Tensor | None = None,
    ylabel: str = "value",
) -> Figure:
    """The first 6 ``rows`` (N, D), each a line with dots over the D columns and its
    reconstruction (``recons``) dashed in the same colour; with ``data`` instead, up to 64
    rows as thin lines (e.g. samples) over the 5th-95th percentile band of ``data``."""
    a = _np(rows)
    d = a.shape[1]
    names = list(names) if names and len(names) == d else [f"x[{i}]" for i in range(d)]
    fig = Figure(figsize=(min(12.0, 3.5 + 0.4 * d), 3.8))
    ax = fig.add_subplot(1, 1, 1)
    cols = np.arange(d)
    if data is not None:
        lo, hi = np.percentile(_np(data), [5, 95], axis=0)
        ax.fill_between(cols, lo, hi, color="#DDDDDD", label="data, 5th-95th percentile")
        ax.plot(cols, a[:64].T, color=COLORS[1], alpha=0.35, lw=0.8)
        ax.plot([], [], color=COLORS[1], lw=0.8, label="generated rows")
    for i in range(min(6, len(a)) if recons is not None else 0):
        c = COLORS[i % len(COLORS)]
        ax.plot(cols, a[i], "o-", color=c, ms=4, lw=1.2, label="original" if i == 0 else None)
        label = None if i else "reconstruction"
        ax.plot(cols, _np(recons)[i], "x--", color=c, ms=5, lw=1, label=label)
    step = max(1, int(np.ceil(d / 30)))  # at most 30 column names
    tilt = {"rotation": 45, "ha": "right"} if d > 8 else {}
    ax.set_xticks(cols[::step], names[::step], fontsize=7, **tilt)
    ax.set_xlim(-0.5, d - 0.5)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _np(t) -> np.ndarray:
    a = t.detach().cpu().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, float)
    return a.reshape(len(a), -1)
