"""What the first and last layers learned: weights shown as image tiles."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from aekit.viz._mpl import Figure
from aekit.viz.grids import tile

LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def find_layer(model, which: str = "encoder") -> nn.Module:
    """The first Linear/Conv layer of ``model.encoder``, or the last of ``model.decoder``."""
    part = getattr(model, which, None)
    if part is None:
        raise ValueError(f"this model has no {which} module")
    layers = [m for m in part.modules() if isinstance(m, LAYERS)]
    if not layers:
        raise ValueError(f"the {which} has no Linear or convolution layer")
    return layers[0] if which == "encoder" else layers[-1]


def weight_tiles(model, which: str = "encoder", max_tiles: int = 64) -> torch.Tensor:
    """(n, C, h, w) weight images, each scaled to [0, 1] around 0.5 = zero weight.

    encoder: each unit's incoming weights from the input (a Linear row reshaped to the input
    image, or a Conv2d filter); decoder: each unit's outgoing weights to the output pixels.
    """
    layer = find_layer(model, which)
    w = layer.weight.detach().cpu().float()
    shape = tuple(model.input_shape)
    if isinstance(layer, nn.Linear):
        w = w if which == "encoder" else w.T  # rows: one unit's weights over the input pixels
        if w.shape[1] != int(np.prod(shape)):
            raise ValueError(f"the {which}'s outer Linear layer does not touch the pixels")
        w = w.reshape(-1, *(shape if len(shape) == 3 else (1, 1, shape[0])))
    else:  # Conv2d (out, in, k, k) or ConvTranspose2d (in, out, k, k): one tile per filter
        w = w if w.shape[1] in (1, 3) else w.flatten(0, 1)[:, None]
    w = w[:max_tiles]
    m = w.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)
    return 0.5 + 0.5 * w / m


def weight_images(model, which: str = "encoder", max_tiles: int = 64) -> Figure:
    """Weight tiles of the first encoder layer (or the last decoder layer): grey is 0, white
    positive, black negative, each tile scaled by its own largest |weight|."""
    w = weight_tiles(model, which, max_tiles)
    ncol = int(np.ceil(np.sqrt(len(w))))
    t = tile(w, ncol, pad=1, pad_value=1.0)
    rows = int(np.ceil(len(w) / ncol))
    fig = Figure(figsize=(max(2.5, 0.55 * ncol), max(2.0, 0.55 * rows) + 0.4))
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.98 - 0.4 / fig.get_figheight()))
    ax.imshow(t, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    label = "first encoder layer" if which == "encoder" else "last decoder layer"
    fig.suptitle(f"{label}: {len(w)} weight images", fontsize=9)
    return fig
