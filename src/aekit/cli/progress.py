"""A tqdm progress bar as a trainer callback."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


class ProgressBar:
    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bar = None

    def on_train_start(self, state) -> None:
        if self.enabled:
            self.bar = tqdm(
                total=state.epochs * state.steps_per_epoch,
                unit="step",
                file=sys.stderr,
                dynamic_ncols=True,
                desc=f"epoch 1/{state.epochs}",
                leave=True,
            )

    def on_step(self, state) -> None:
        if self.bar is not None:
            self.bar.n = state.step
            self.bar.set_postfix(loss=f"{state.last['loss']:.4g}")

    def on_epoch_end(self, state) -> None:
        if self.bar is not None:
            self.bar.n = state.step
            self.bar.set_description(f"epoch {min(state.epoch + 1, state.epochs)}/{state.epochs}")
            self.bar.set_postfix(
                train=f"{state.last['train_loss']:.4g}", val=f"{state.last['val_loss']:.4g}"
            )

    def on_train_end(self, state) -> None:
        if self.bar is not None:
            self.bar.close()
