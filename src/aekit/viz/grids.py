"""Image grids: samples, and originals over reconstructions (noisy / reconstruction / clean)."""

from __future__ import annotations

import numpy as np
import torch

from aekit.viz._mpl import Figure


def to_display(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> (N, H, W) or (N, H, W, 3) for imshow; (N, D) is shown as a row."""
    a = (
        x.detach().cpu().float().numpy()
        if isinstance(x, torch.Tensor)
        else np.asarray(x, dtype=np.float32)
    )
    a = np.clip(a, 0, 1)
    if a.ndim == 2:
        side = int(round(np.sqrt(a.shape[1])))
        a = a.reshape(len(a), side, side) if side * side == a.shape[1] else a[:, None, :]
        return a
    if a.shape[1] == 1:
        return a[:, 0]
    return a[:, :3].transpose(0, 2, 3, 1)


def image_grid(
    images,
    nrow: int | None = None,
    titles: list[str] | None = None,
    title: str | None = None,
    cell: float = 1.0,
) -> Figure:
    """A grid of images in [0, 1], ``nrow`` per row (default: square)."""
    a = to_display(images)
    n = len(a)
    ncol = nrow or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / ncol))
    fig = Figure(figsize=(ncol * cell, rows * cell + (0.4 if title else 0)))
    for i in range(rows * ncol):
        ax = fig.add_subplot(rows, ncol, i + 1)
        ax.axis("off")
        if i < n:
            ax.imshow(a[i], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if titles:
                ax.set_title(titles[i], fontsize=7)
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(
        wspace=0.05,
        hspace=0.05 if not titles else 0.3,
        left=0.01,
        right=0.99,
        bottom=0.01,
        top=0.99 if not title else 1 - 0.4 / (rows * cell + 0.4),
    )
    return fig


def recon_grid(originals, recons, noisy=None, title: str | None = None) -> Figure:
    """Rows: (noisy input,) reconstruction... originals on top. Images in [0, 1], one column each."""
    rows = [("original", originals), ("reconstruction", recons)]
    if noisy is not None:
        rows = [("noisy input", noisy), ("reconstruction", recons), ("clean original", originals)]
    arrays = [to_display(r) for _, r in rows]
    n = len(arrays[0])
    fig = Figure(figsize=(n * 0.9 + 1.2, len(rows) * 0.9 + (0.4 if title else 0.1)))
    image_rows(fig, arrays, [label for label, _ in rows])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(
        wspace=0.04, hspace=0.04, left=0.08, right=0.99, bottom=0.01, top=0.9 if title else 0.99
    )
    return fig


def image_rows(fig: Figure, rows: list[np.ndarray], labels: list[str], titles=None) -> None:
    """Rows of images (each (N, H, W[, 3]) in [0, 1]) on ``fig``, one column per image, each
    row's label on its left; ``titles``: a title over each image of the first row. One axes a
    row, its images side by side with a white pixel between them (an axes an image took 0.2 s
    of the 0.25 s of a 2 x 8 grid)."""
    for r, a in enumerate(rows):
        n, w = len(a), a.shape[2]
        strip = _tiled(a, ncol=n, pad=1, pad_value=1.0)
        ax = fig.add_subplot(len(rows), 1, r + 1)
        ax.imshow(strip, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_yticks([])
        ax.set_ylabel(labels[r], fontsize=7)
        ax.set_frame_on(False)
        if r == 0 and titles is not None:
            ax.set_xticks([i * (w + 1) + (w - 1) / 2 for i in range(n)], titles, fontsize=7)
            ax.tick_params(axis="x", length=0, top=True, labeltop=True, bottom=False)
            ax.tick_params(axis="x", labelbottom=False)
        else:
            ax.set_xticks([])


def tile(images, ncol: int | None = None, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Images in [0, 1] tiled into one array, ``ncol`` per row (default: square), ``pad`` pixels
    of ``pad_value`` between them: (rows*(H+pad)-pad, ncol*(W+pad)-pad[, 3])."""
    return _tiled(to_display(images), ncol, pad, pad_value)


def _tiled(a: np.ndarray, ncol: int | None, pad: int, pad_value: float) -> np.ndarray:
    """:func:`tile` of display arrays (N, H, W[, 3])."""
    n, h, w = a.shape[:3]
    ncol = max(1, min(ncol or int(np.ceil(np.sqrt(n))), n))
    rows = int(np.ceil(n / ncol))
    out = np.full((rows * (h + pad) - pad, ncol * (w + pad) - pad, *a.shape[3:]), pad_value)
    for i in range(n):
        r, c = divmod(i, ncol)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = a[i]
    return out.astype(np.float32)


def mosaic(
    images,
    ncol: int | None = None,
    title: str | None = None,
    cell: float = 0.6,
    cmap: str = "gray",
    vmin: float = 0.0,
    vmax: float = 1.0,
) -> Figure:
    """Many images in one imshow (fast even for hundreds of panels); ``cell`` inches per image."""
    t = tile(images, ncol)
    a = to_display(images)
    ncol = max(1, min(ncol or int(np.ceil(np.sqrt(len(a)))), len(a)))
    rows = int(np.ceil(len(a) / ncol))
    fig = Figure(figsize=(max(1.5, ncol * cell), max(1.0, rows * cell) + (0.4 if title else 0)))
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.98 - (0.4 / fig.get_figheight() if title else 0)))
    ax.imshow(t, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
