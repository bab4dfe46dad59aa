"""Convolutional autoencoder built from explicit layer lists in its config, so a published
architecture can be written down exactly; every output shape is checked at build time.

Layer entries (in_channels / in_features are inferred):
  ["conv", out_ch, kernel, stride, padding]        Conv2d
  ["convT", out_ch, kernel, stride, padding, out_pad]  ConvTranspose2d (out_pad optional)
  ["maxpool", kernel, stride]                      MaxPool2d
  ["bn"]                                           BatchNorm2d / BatchNorm1d, by the input
  ["flatten"]                                      (B, C, H, W) -> (B, C*H*W)
  ["linear", n]                                    Linear; n may be "latent" (model.latent_dim)
  ["project"]                                      decoder only: Linear to the size of the
                                                   encoder's last feature map, then reshape to it
  ["output"]                                       Sigmoid for [0, 1] data, Tanh for [-1, 1]
  ["relu"], ["sigmoid"], ["tanh"], ...             any activation by name
The code is the encoder's output flattened: its size is the latent size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from aekit._registry import register_model
from aekit.checked import Checked, PosInt
from aekit.errors import ConfigError
from aekit.layers import Flatten, Unflatten, activation, output_activation
from aekit.models.base import Autoencoder


@dataclass
class ConvSpecConfig(Checked):
    encoder: list[list[Any]] = field(
        default_factory=lambda: [
            ["conv", 16, 3, 2, 1],
            ["relu"],
            ["conv", 32, 3, 2, 1],
            ["relu"],
            ["flatten"],
            ["linear", "latent"],
        ]
    )  # encoder layers, in order (see the module docstring); input (C, H, W) -> code
    decoder: list[list[Any]] = field(
        default_factory=lambda: [
            ["project"],
            ["convT", 16, 3, 2, 1, 1],
            ["relu"],
            ["convT", "input", 3, 2, 1, 1],
            ["output"],
        ]
    )  # decoder layers: code -> exactly the input shape; out_ch "input" = image channels
    latent_dim: PosInt = 16  # the size "latent" stands for in the layer lists


def _layer(kind: str, args: list, shape: tuple[int, ...], pixel_range: str, project_to, where: str):
    """The module for one spec entry ``[kind, *args]`` taking inputs of ``shape``."""
    try:
        if kind == "conv":
            layer = nn.Conv2d(shape[0], *args)
        elif kind == "convT":
            layer = nn.ConvTranspose2d(shape[0], *args)
        elif kind == "maxpool":
            layer = nn.MaxPool2d(*args)
        elif kind == "bn":
            layer = nn.BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0])
        elif kind == "flatten":
            layer = Flatten()
        elif kind == "linear":
            layer = nn.Linear(math.prod(shape), *args)
        elif kind == "project":
            if project_to is None:
                raise ConfigError(
                    f'{where.split(" = ")[0].rsplit("[", 1)[0]}: ["project"] needs an encoder that flattens'
                )
            layer = nn.Sequential(
                nn.Linear(math.prod(shape), math.prod(project_to)), Unflatten(project_to)
            )
        elif kind == "output":
            layer = output_activation("auto", pixel_range)
        else:
            layer = activation(kind)
    except (TypeError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{where}: {e}") from None
    if kind in ("conv", "convT", "maxpool") and len(shape) != 3:
        raise ConfigError(f"{where} needs a (C, H, W) input; got {shape}")
    if kind == "linear" and len(shape) != 1:
        layer = nn.Sequential(Flatten(), layer)
    return layer


def _build(
    spec: list[list[Any]],
    shape: tuple[int, ...],
    latent: int,
    channels: int,
    pixel_range: str,
    project_to: tuple[int, ...] | None,
    where: str,
) -> tuple[nn.Sequential, tuple[int, ...], tuple[int, ...] | None]:
    """Layers from ``spec`` for inputs of ``shape`` (no batch dim); returns (module, output
    shape, shape before the last flatten)."""
    layers: list[nn.Module] = []
    before_flatten = None
    for i, entry in enumerate(spec):
        if not isinstance(entry, list) or not entry or not isinstance(entry[0], str):
            raise ConfigError(f'model.{where}[{i}] must be a list like ["conv", 16, 3, 2, 1]')
        kind = entry[0]
        args = [latent if a == "latent" else channels if a == "input" else a for a in entry[1:]]
        if kind == "flatten":
            before_flatten = shape
        layer = _layer(kind, args, shape, pixel_range, project_to, f"model.{where}[{i}] = {entry}")
        with torch.no_grad():
            layer.eval()
            try:
                out = layer(torch.zeros(2, *shape))
            except RuntimeError as e:
                raise ConfigError(
                    f"model.{where}[{i}] = {entry} cannot take input of shape {shape}: {e}"
                ) from None
        shape = tuple(out.shape[1:])
        if min(shape) < 1:
            raise ConfigError(f"model.{where}[{i}] = {entry} shrinks the input to {shape}")
        layers.append(layer)
    return nn.Sequential(*layers), shape, before_flatten


@register_model(
    "convspec", ConvSpecConfig, "conv encoder/decoder from explicit layer lists, shapes checked"
)
class ConvSpecAutoencoder(Autoencoder):
    def __init__(self, config: ConvSpecConfig, input_shape, pixel_range="01"):
        super().__init__(config, input_shape, pixel_range)
        if len(self.input_shape) != 3:
            raise ConfigError(
                f"convspec needs images (C, H, W); this data has shape {self.input_shape}"
            )
        c = self.input_shape[0]
        self.encoder, self.code_shape, feat = _build(
            config.encoder, self.input_shape, config.latent_dim, c, pixel_range, None, "encoder"
        )
        self.decoder, out_shape, _ = _build(
            config.decoder, self.code_shape, config.latent_dim, c, pixel_range, feat, "decoder"
        )
        if out_shape != self.input_shape:
            raise ConfigError(
                f"the decoder ends at shape {out_shape} but the input is {self.input_shape}: "
                "change the last convT's kernel, stride or padding "
                "(out = (in - 1) * stride - 2 * padding + kernel + out_pad)"
            )

    @property
    def latent_dim(self) -> int:
        return math.prod(self.code_shape)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).flatten(1)  # (B, *code_shape) -> (B, latent_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z.view(z.shape[0], *self.code_shape))
