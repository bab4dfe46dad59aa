"""Fully-connected autoencoder; the decoder mirrors the encoder unless told otherwise."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from aekit._registry import register_model
from aekit.errors import ConfigError
from aekit.layers import (
    activation,
    inverse_output_activation,
    mlp_stack,
    output_activation,
)
from aekit.models.base import Autoencoder, Flatten, Unflatten


@dataclass
class MLPConfig:
    hidden: list[int] = field(default_factory=lambda: [256, 64])  # encoder hidden widths, in order
    latent_dim: int = 16  # code size; larger than the input makes it over-complete
    activation: str = "relu"  # between layers: relu, leaky_relu, elu, gelu, silu, sigmoid, tanh
    latent_activation: str = "none"  # on the code itself (sigmoid for KL sparsity)
    output_activation: str = "auto"  # auto: sigmoid for [0,1] data, tanh for [-1,1]; or none
    decoder_hidden: list[int] | None = None  # decoder widths; None mirrors `hidden`
    batchnorm: bool = False  # BatchNorm1d after each hidden Linear
    dropout: float = 0.0  # dropout after each hidden activation
    output_bias: str = "data_mean"  # output bias starts at the training mean image; torch: not


def check_latent(latent_dim: int) -> None:
    if latent_dim <= 0:
        raise ConfigError(
            f"latent_dim must be a positive integer; got {latent_dim} (try --set model.latent_dim=16)"
        )


@register_model(
    "mlp", MLPConfig, "fully-connected encoder/decoder (e.g. 784-128-64-12-3), any activation"
)
class MLPAutoencoder(Autoencoder):
    def __init__(self, config: MLPConfig, input_shape, pixel_range="01"):
        super().__init__(config, input_shape, pixel_range)
        check_latent(config.latent_dim)
        if any(h <= 0 for h in config.hidden):
            raise ConfigError(f"model.hidden sizes must be positive; got {config.hidden}")
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
        # subclasses with their own configs (sparse, contractive) keep the bias PyTorch draws
        bias = getattr(config, "output_bias", "torch")
        if bias not in ("data_mean", "torch"):
            raise ConfigError(
                f"unknown model.output_bias {bias!r}; choose one of: data_mean, torch"
            )

    def init_from_data(self, batches) -> None:
        """``output_bias = "data_mean"``: the decoder starts by drawing the mean training image
        (its output layer's bias is the pre-activation of that image) instead of grey noise, the
        first thing a freshly initialised autoencoder would otherwise spend its steps learning."""
        if getattr(self.config, "output_bias", "torch") != "data_mean":
            return
        last = [m for m in self.decoder.modules() if isinstance(m, nn.Linear)][-1]
        mean = batches.mean_target().reshape(-1)
        pre = inverse_output_activation(self.config.output_activation, self.pixel_range, mean)
        if pre is not None and pre.shape == last.bias.shape:
            with torch.no_grad():
                last.bias.copy_(pre.to(last.bias))
