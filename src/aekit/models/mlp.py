"""Fully-connected autoencoder; the decoder mirrors the encoder unless told otherwise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from aekit._registry import register_model
from aekit.checked import Checked, Fraction, PosInt
from aekit.layers import (
    Activation,
    Flatten,
    OutputActivation,
    Unflatten,
    activation,
    inverse_output_activation,
    mlp_stack,
    output_activation,
)
from aekit.models.base import Autoencoder

#: model.output_bias: the output layer's bias starts at the mean training image, or as drawn
OutputBias = Literal["data_mean", "torch"]


@dataclass
class MLPConfig(Checked):
    hidden: list[PosInt] = field(default_factory=lambda: [256, 64])  # encoder widths, in order
    latent_dim: PosInt = 16  # code size; larger than the input makes it over-complete
    activation: Activation = "relu"  # between layers
    latent_activation: Activation = "none"  # on the code itself (sigmoid for KL sparsity)
    output_activation: OutputActivation = "auto"  # auto: sigmoid for [0,1] data, tanh for [-1,1]
    decoder_hidden: list[PosInt] | None = None  # decoder widths; None mirrors `hidden`
    # MNIST 784-128-64-12-3: the tutorial's 10-epoch error in 2 epochs, not 5 (RESULTS.md)
    batchnorm: bool = True  # BatchNorm1d after each hidden Linear
    dropout: Fraction = 0.0  # dropout probability after each hidden activation
    output_bias: OutputBias = "data_mean"  # data_mean: starts at the mean training image


@register_model("mlp", MLPConfig, "fully-connected encoder and decoder, mirrored layer widths")
class MLPAutoencoder(Autoencoder):
    def __init__(self, config: MLPConfig, input_shape, pixel_range="01"):
        super().__init__(config, input_shape, pixel_range)
        config.check()
        dec_hidden = (
            list(config.decoder_hidden)
            if config.decoder_hidden is not None
            else config.hidden[::-1]
        )
        enc = [self.input_dim, *config.hidden, config.latent_dim]
        dec = [config.latent_dim, *dec_hidden, self.input_dim]
        self.encoder = nn.Sequential(
            Flatten(),  # (B, C, H, W) -> (B, C*H*W)
            mlp_stack(enc, config.activation, config.batchnorm, config.dropout, last_act=False),
            activation(config.latent_activation),
        )
        self.decoder = nn.Sequential(
            mlp_stack(dec, config.activation, config.batchnorm, config.dropout, last_act=False),
            output_activation(config.output_activation, pixel_range),
            Unflatten(self.input_shape),  # (B, C*H*W) -> (B, C, H, W)
        )

    def init_from_data(self, batches) -> None:
        """``output_bias = "data_mean"``: the decoder starts by drawing the mean training image
        (its output layer's bias is the pre-activation of that image) instead of grey noise, the
        first thing a freshly initialised autoencoder would otherwise spend its steps learning."""
        if self.config.output_bias != "data_mean":
            return
        last = [m for m in self.decoder.modules() if isinstance(m, nn.Linear)][-1]
        mean = batches.mean_target().reshape(-1)
        pre = inverse_output_activation(self.config.output_activation, self.pixel_range, mean)
        if pre is not None and pre.shape == last.bias.shape:
            with torch.no_grad():
                last.bias.copy_(pre.to(last.bias))
