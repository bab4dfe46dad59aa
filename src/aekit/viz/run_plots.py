"""A trainer callback that writes a run's figures: the loss curve and reconstruction grids."""

from __future__ import annotations

import torch

from aekit.data import from_range
from aekit.models.base import eval_mode
from aekit.run import read_metrics
from aekit.viz.curves import loss_curves
from aekit.viz.grids import recon_grid


class RunPlots:
    """Writes plots/recon_epoch_NNN.png every ``recon_every`` epochs and at the end, and
    plots/loss.png at the end. Duck-typed trainer callback."""

    def __init__(self, recon_every: int = 5):
        self.recon_every = recon_every

    def on_epoch_end(self, state) -> None:
        if self.recon_every and state.epoch % self.recon_every == 0 and state.epoch < state.epochs:
            self.write_recon(state)

    def on_train_end(self, state) -> None:
        self.write_recon(state)
        fig = loss_curves(read_metrics(state.run_dir))
        fig.savefig(state.run_dir / "plots" / "loss.png", dpi=100)

    def write_recon(self, state) -> None:
        if state.preview is None or not state.train_data.is_image:
            return
        x, clean = state.preview
        pr = state.config.data.pixel_range
        with torch.no_grad(), eval_mode(state.model):
            recon = state.model(x).recon
        noisy = from_range(x, pr) if state.config.data.noise != "none" else None
        fig = recon_grid(
            from_range(clean, pr), from_range(recon, pr), noisy, title=f"epoch {state.epoch}"
        )
        fig.savefig(state.run_dir / "plots" / f"recon_epoch_{state.epoch:03d}.png", dpi=100)
