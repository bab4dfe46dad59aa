"""Figures: every function returns a matplotlib Figure; callers decide where it goes."""

from aekit.viz.curves import loss_curves
from aekit.viz.grids import image_grid, recon_grid

__all__ = ["image_grid", "loss_curves", "recon_grid"]
