"""Optional TensorBoard logging of the same scalars and reconstruction images."""

from __future__ import annotations

import torch

from aekit.errors import ConfigError
from aekit.models.base import eval_mode


class TensorBoardLogger:
    """Trainer callback writing event files to RUN_DIR/tensorboard (needs `tensorboard`)."""

    def __init__(self):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "--tensorboard needs the tensorboard package: pip install 'aekit[tensorboard]'"
            ) from None
        self._cls = SummaryWriter
        self.writer = None

    def on_train_start(self, state) -> None:
        self.writer = self._cls(log_dir=str(state.run_dir / "tensorboard"))

    def on_step(self, state) -> None:
        self.writer.add_scalar("train/step_loss", state.last["loss"], state.step)

    def on_epoch_end(self, state) -> None:
        for k, v in state.last.items():
            if k.startswith(("train_", "val_")):
                split, name = k.split("_", 1)
                self.writer.add_scalar(f"{split}/{name}", v, state.epoch)
        self.writer.add_scalar("lr", state.last["lr"], state.epoch)
        if state.preview is not None and state.train_data.is_image:
            x, clean = state.preview
            with torch.no_grad(), eval_mode(state.model):
                recon = state.model(x).recon
            grid = torch.cat([clean, recon]).float()
            if state.config.data.pixel_range == "-11":
                grid = (grid + 1) / 2
            self.writer.add_images("reconstruction", grid.clamp(0, 1).cpu(), state.epoch)

    def on_train_end(self, state) -> None:
        if self.writer is not None:
            self.writer.close()
