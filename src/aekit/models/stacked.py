"""Stacked autoencoder with greedy layer-wise pretraining (Bengio et al. 2007,
https://papers.nips.cc/paper/3048; Hinton & Salakhutdinov 2006 used RBMs for the same role).

For hidden sizes n -> m -> k: train n -> m -> n, freeze it, train m -> k -> m on its codes, and
so on; the encoders and decoders stacked are one deep autoencoder that the trainer's main
epochs then fine-tune end to end (train.pretrain_epochs: epochs per layer; 0: no pretraining).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from aekit._registry import register_model
from aekit.checked import Checked, PosInt
from aekit.layers import (
    Activation,
    Flatten,
    OutputActivation,
    Unflatten,
    activation,
    output_activation,
)
from aekit.losses import reconstruction_loss
from aekit.models.base import Autoencoder


@dataclass
class StackedConfig(Checked):
    hidden: list[PosInt] = field(default_factory=lambda: [500, 250])  # widths below the code
    latent_dim: PosInt = 30  # code size (the top layer)
    activation: Activation = "sigmoid"  # of every hidden layer (and each layer's reconstruction)
    latent_activation: Activation = "none"  # on the code (Hinton & Salakhutdinov: linear units)
    output_activation: OutputActivation = "auto"  # auto: sigmoid for [0,1] data, tanh for [-1,1]


@register_model(
    "stacked", StackedConfig, "deep MLP AE with greedy layer-wise pretraining, then fine-tuning"
)
class StackedAutoencoder(Autoencoder):
    def __init__(self, config: StackedConfig, input_shape, pixel_range="01"):
        super().__init__(config, input_shape, pixel_range)
        sizes = [self.input_dim, *config.hidden, config.latent_dim]
        self.n_layers = len(sizes) - 1
        acts = [config.activation] * (self.n_layers - 1) + [config.latent_activation]
        enc = [
            nn.Sequential(nn.Linear(a, b), activation(f)) for a, b, f in zip(sizes, sizes[1:], acts)
        ]
        # decoder block i maps level i+1 back to level i, with level i's activation
        dec_acts = [output_activation(config.output_activation, pixel_range)] + [
            activation(config.activation) for _ in range(self.n_layers - 1)
        ]
        dec = [
            nn.Sequential(nn.Linear(sizes[i + 1], sizes[i]), dec_acts[i])
            for i in range(self.n_layers)
        ]
        self.encoder = nn.Sequential(Flatten(), *enc)  # (B, C, H, W) -> (B, latent_dim)
        self.decoder = nn.Sequential(*dec[::-1], Unflatten(self.input_shape))
        self.pretrain_losses: list[float] = []  # final-epoch loss of each layer's pretraining
        self._stacked_state: dict[str, torch.Tensor] | None = None  # weights right after stacking

    def enc_block(self, i: int) -> nn.Module:
        return self.encoder[1 + i]

    def dec_block(self, i: int) -> nn.Module:
        return self.decoder[self.n_layers - 1 - i]

    def codes(self, x: torch.Tensor, level: int) -> torch.Tensor:
        """The activations of hidden level ``level`` (0: the flattened input)."""
        h = x.flatten(1)
        for i in range(level):
            h = self.enc_block(i)(h)
        return h

    def pretrain(self, fit, epochs: int, loss: str = "mse") -> None:
        """Greedy layer-wise pretraining: ``epochs`` epochs per layer, lower layers frozen.

        ``fit`` is the base class's hook argument. Layer 0 uses the run's ``loss`` (and
        denoises when noise is on); higher layers reconstruct the codes below them with
        squared error.
        """
        self.train()
        self.pretrain_losses = []
        for layer in range(self.n_layers):
            enc, dec = self.enc_block(layer), self.dec_block(layer)

            def layer_loss(x, target, layer=layer, enc=enc, dec=dec) -> torch.Tensor:
                with torch.no_grad():  # the layers below are frozen
                    h_in, h_target = self.codes(x, layer), self.codes(target, layer)
                recon = dec(enc(h_in))
                if layer == 0:
                    return reconstruction_loss(loss, recon, h_target)
                return F.mse_loss(recon, h_target)

            params = [*enc.parameters(), *dec.parameters()]
            self.pretrain_losses.append(fit(params, layer_loss, epochs))
        self._stacked_state = {k: v.detach().clone() for k, v in self.state_dict().items()}

    def run_metrics(self) -> dict[str, float]:
        return {f"pretrain_layer{i + 1}_loss": v for i, v in enumerate(self.pretrain_losses)}

    @torch.no_grad()
    def val_metrics(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        """Validation MSE per pixel right after stacking (before fine-tuning) and now."""
        after = float(F.mse_loss(self.reconstruct(x), target))
        if self._stacked_state is None:
            return {"val_mse_end_to_end": after}
        now = {k: v.clone() for k, v in self.state_dict().items()}
        self.load_state_dict(self._stacked_state)
        stacked = float(F.mse_loss(self.reconstruct(x), target))
        self.load_state_dict(now)
        return {"val_mse_after_stacking": stacked, "val_mse_after_finetune": after}
