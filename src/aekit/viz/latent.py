"""What the code space holds: latent scatter by label, manifold grid, traversals, interpolation."""

from __future__ import annotations

import numpy as np
import torch

from aekit.data import from_range, to_range
from aekit.models.base import eval_mode
from aekit.viz._mpl import Figure
from aekit.viz.grids import tile, to_display
from aekit.viz.palette import COLORS, class_style

#: what ``latent_scatter`` draws the codes with: "auto" is the codes themselves up to 2-D, PCA above
PROJECTIONS = ("auto", "codes", "pca", "tsne")


def latent_scatter(
    codes: torch.Tensor,
    labels: torch.Tensor | None = None,
    classes: list[str] | None = None,
    method: str = "auto",
    max_points: int = 5000,
    seed: int = 0,
) -> Figure:
    """Codes (N, L) as points coloured by label: the codes themselves when L <= 2, otherwise a
    PCA projection to 2-D (``method="pca"``, the default) or t-SNE (``method="tsne"``).
    Any N >= 1 works: too few codes for a projection are shown as their first two units."""
    z = codes.detach().cpu().double().numpy()
    y = None if labels is None else labels.detach().cpu().numpy()
    if len(z) > max_points:
        keep = np.random.default_rng(seed).choice(len(z), max_points, replace=False)
        z, y = z[keep], None if y is None else y[keep]
    if method not in PROJECTIONS:
        raise ValueError(f"unknown projection {method!r}; choose codes, pca or tsne")
    xy, (xlabel, ylabel), how = _project(z, method, seed)
    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot(1, 1, 1)
    if y is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.6, color=COLORS[1])
    else:
        ids = np.unique(y)
        for i in ids:
            color, marker = class_style(int(i))
            name = classes[i] if classes and 0 <= i < len(classes) else str(i)
            sel = y == i
            ax.scatter(
                xy[sel, 0],
                xy[sel, 1],
                s=9,
                alpha=0.75,
                color=color,
                marker=marker,
                linewidths=0,
                label=name,
            )
        if len(ids) <= 20:
            ax.legend(
                fontsize=7, markerscale=1.6, loc="best", ncol=2, title="label", title_fontsize=7
            )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"Latent space: {how} ({len(z)} samples)", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _project(z: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, tuple[str, str], str]:
    """(N, L) codes -> (N, 2) points, axis labels, and how they were made."""
    n, L = z.shape
    if method == "auto":
        method = "codes" if L <= 2 else "pca"
    if method == "tsne" and n < 5:
        method = "pca"
    if method == "pca" and min(n, L) < 2:
        method = "codes"  # PCA(2) needs two codes and two units
    if method == "codes" or L <= 2:
        xy = z[:, :2] if L >= 2 else np.stack([z[:, 0], np.zeros(n)], 1)
        what = "the codes" if L <= 2 else f"the first 2 of {L} code units"
        return xy, ("z[0]", "z[1]" if L >= 2 else ""), what
    if method == "pca":
        from sklearn.decomposition import PCA

        p = PCA(2, random_state=seed).fit(z)
        ev = p.explained_variance_ratio_ * 100
        labels = (f"PC 1 ({ev[0]:.0f}% of the variance)", f"PC 2 ({ev[1]:.0f}%)")
        return p.transform(z), labels, f"PCA of the {L}-D codes"
    from sklearn.manifold import TSNE

    tsne = TSNE(2, random_state=seed, init="pca", perplexity=min(30, n - 1))
    return tsne.fit_transform(z), ("t-SNE 1", "t-SNE 2"), f"t-SNE of the {L}-D codes"


@torch.no_grad()
def _decode_unit(model, z: torch.Tensor) -> torch.Tensor:
    with eval_mode(model):
        return from_range(model.decode(z.float().to(model.device)), model.pixel_range).cpu()


def _imshow_tiles(ax, images, ncol: int) -> np.ndarray:
    t = tile(images, ncol)
    ax.imshow(t, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    return t


def manifold_grid(
    model,
    dims: tuple[int, int] = (0, 1),
    n: int = 15,
    ranges: tuple[tuple[float, float], tuple[float, float]] = ((-3.0, 3.0), (-3.0, 3.0)),
    base: torch.Tensor | None = None,
) -> Figure:
    """Decode an n x n regular grid over code dimensions ``dims`` (the others held at ``base``,
    default 0); rows run from high to low z[dims[1]], columns from low to high z[dims[0]]."""
    L = model.latent_dim
    d0, d1 = dims if L >= 2 else (0, 0)
    base = torch.zeros(L) if base is None else base.detach().cpu().float().reshape(L)
    xs = torch.linspace(*ranges[0], n)
    ys = torch.linspace(*ranges[1], n).flip(0) if L >= 2 else torch.zeros(1)
    z = base.repeat(len(ys) * n, 1)
    for r, yv in enumerate(ys):
        z[r * n : (r + 1) * n, d0] = xs
        if L >= 2:
            z[r * n : (r + 1) * n, d1] = yv
    imgs = _decode_unit(model, z)
    fig = Figure(figsize=(min(9, 0.55 * n + 1.2), min(9, 0.55 * len(ys) + 1.0)))
    ax = fig.add_subplot(1, 1, 1)
    t = _imshow_tiles(ax, imgs, n)
    h, w = t.shape[:2]
    ax.set_xticks([0, w - 1], [f"{xs[0]:.2g}", f"{xs[-1]:.2g}"])
    ax.set_xlabel(f"z[{d0}]")
    if L >= 2:
        ax.set_yticks([0, h - 1], [f"{ys[0]:.2g}", f"{ys[-1]:.2g}"])
        ax.set_ylabel(f"z[{d1}]")
    else:
        ax.set_yticks([])
    ax.set_title("decoded code grid (manifold)", fontsize=9)
    fig.tight_layout()
    return fig


def traversal_grid(
    model,
    base: torch.Tensor,
    scale: torch.Tensor | float = 1.0,
    dims: list[int] | None = None,
    steps: int = 9,
    span: float = 3.0,
) -> Figure:
    """One row per code unit: vary that unit from base - span*scale to base + span*scale in
    ``steps`` steps, the others held at ``base`` (L,). ``scale`` is per unit (e.g. the codes'
    standard deviation) or one number; ``dims`` default: the first 16 units."""
    L = model.latent_dim
    base = base.detach().cpu().float().reshape(L)
    sc = torch.as_tensor(scale, dtype=torch.float32).expand(L)
    dims = list(range(min(L, 16))) if dims is None else list(dims)
    offs = torch.linspace(-span, span, steps)
    z = base.repeat(len(dims) * steps, 1)
    for r, d in enumerate(dims):
        z[r * steps : (r + 1) * steps, d] = base[d] + offs * sc[d]
    imgs = _decode_unit(model, z)
    fig = Figure(figsize=(0.6 * steps + 1.0, 0.6 * len(dims) + 0.8))
    ax = fig.add_subplot(1, 1, 1)
    t = _imshow_tiles(ax, imgs, steps)
    cell_h = (t.shape[0] + 1) / len(dims)
    ax.set_yticks([cell_h * (r + 0.5) - 1 for r in range(len(dims))], [f"z[{d}]" for d in dims])
    cell_w = (t.shape[1] + 1) / steps
    ax.set_xticks(
        [cell_w * (0.5), cell_w * (steps - 0.5) - 1], [f"-{span:g}σ", f"+{span:g}σ"], fontsize=8
    )
    ax.set_title("traversal: one code unit at a time", fontsize=9)
    fig.tight_layout()
    return fig


def interpolation_grid(model, a: torch.Tensor, b: torch.Tensor, steps: int = 10) -> Figure:
    """For each pair of images (rows of ``a``, ``b``, in [0, 1]): the two originals at the ends
    and, between them, decodings of (1-t) z_a + t z_b for ``steps`` values of t in [0, 1]."""
    with torch.no_grad(), eval_mode(model):
        pr = model.pixel_range
        za = model.encode(to_range(a.to(model.device), pr)).cpu()
        zb = model.encode(to_range(b.to(model.device), pr)).cpu()
    t = torch.linspace(0, 1, steps)
    z = (za[:, None] * (1 - t[None, :, None]) + zb[:, None] * t[None, :, None]).flatten(0, 1)
    mid = _decode_unit(model, z).view(len(a), steps, *a.shape[1:])
    rows = torch.cat([a.cpu()[:, None].float(), mid, b.cpu()[:, None].float()], 1)
    ncol = steps + 2
    fig = Figure(figsize=(0.6 * ncol + 0.6, 0.6 * len(a) + 0.7))
    ax = fig.add_subplot(1, 1, 1)
    _imshow_tiles(ax, rows.flatten(0, 1), ncol)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("original A | decoded (1-t) z_A + t z_B, t = 0 … 1 | original B", fontsize=8)
    ax.set_title("interpolation in latent space", fontsize=9)
    fig.tight_layout()
    return fig


def decoded_image(model, z: torch.Tensor) -> Figure:
    """The image decoded from one code (L,), titled with the code."""
    z = z.detach().cpu().float().reshape(1, model.latent_dim)
    img = to_display(_decode_unit(model, z))[0]
    fig = Figure(figsize=(2.6, 2.9))
    ax = fig.add_axes((0.05, 0.05, 0.9, 0.8))
    ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    fig.suptitle("z = (" + ", ".join(f"{v:.3g}" for v in z[0].tolist()) + ")", fontsize=8)
    return fig
