"""Convolutional autoencoder: Conv2d encoder, linear bottleneck, ConvTranspose2d decoder.

Sizes are computed for any (C, H, W) input: the decoder retraces the encoder's feature-map
sizes exactly, choosing each transposed convolution's kernel and output padding to do so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from torch import nn

from aekit._registry import register_model
from aekit.checked import Checked, PosInt
from aekit.errors import ConfigError
from aekit.layers import (
    Activation,
    Flatten,
    OutputActivation,
    Unflatten,
    activation,
    output_activation,
)
from aekit.models.base import Autoencoder


@dataclass
class ConvConfig(Checked):
    channels: list[PosInt] = field(
        default_factory=lambda: [32, 64]
    )  # conv channels per block; each halves H and W
    kernel_size: PosInt = 3  # encoder kernel (odd)
    pool: bool = False  # downsample with MaxPool2d(2) after a stride-1 conv instead of stride 2
    batchnorm: bool = True  # BatchNorm2d after every conv / transposed conv but the last
    activation: Activation = "relu"  # between layers
    latent_dim: PosInt = 16  # size of the linear bottleneck
    output_activation: OutputActivation = "auto"  # auto: sigmoid for [0,1] data, tanh for [-1,1]


def _up_layer(c_in: int, c_out: int, size_in: int, size_out: int) -> nn.ConvTranspose2d:
    """A stride-2 ConvTranspose2d taking size_in to exactly size_out (kernel 3 or 4, out-pad 0/1)."""
    for k in (3, 4):
        op = size_out - ((size_in - 1) * 2 - 2 + k)  # out = (in-1)*s - 2p + k + op, s=2, p=1
        if op in (0, 1):
            return nn.ConvTranspose2d(c_in, c_out, k, stride=2, padding=1, output_padding=op)
    raise ConfigError(f"cannot upsample {size_in} to {size_out} by 2; use fewer conv blocks")


@register_model(
    "conv",
    ConvConfig,
    "Conv2d+BatchNorm encoder, linear bottleneck, ConvTranspose2d+BatchNorm decoder, any HxWxC",
)
class ConvAutoencoder(Autoencoder):
    def __init__(self, config: ConvConfig, input_shape, pixel_range="01"):
        super().__init__(config, input_shape, pixel_range)
        if len(self.input_shape) != 3:
            raise ConfigError(
                f"the conv model needs images (C, H, W); this data has shape {self.input_shape} "
                "(use --model mlp for tabular data)"
            )
        c, h, w = self.input_shape
        k = config.kernel_size
        sizes = [(h, w)]
        enc: list[nn.Module] = []
        c_prev = c
        for ch in config.channels:
            hh, ww = sizes[-1]
            if min(hh, ww) < 2:
                raise ConfigError(
                    f"{len(config.channels)} conv blocks shrink {h}x{w} images below 1 pixel; "
                    "use fewer model.channels"
                )
            if config.pool:
                enc.append(nn.Conv2d(c_prev, ch, k, stride=1, padding=k // 2))
                nxt = (hh // 2, ww // 2)
            else:
                enc.append(nn.Conv2d(c_prev, ch, k, stride=2, padding=k // 2))
                nxt = ((hh + 2 * (k // 2) - k) // 2 + 1, (ww + 2 * (k // 2) - k) // 2 + 1)
            if config.batchnorm:
                enc.append(nn.BatchNorm2d(ch))
            enc.append(activation(config.activation))
            if config.pool:
                enc.append(nn.MaxPool2d(2))
            sizes.append(nxt)
            c_prev = ch
        feat = (c_prev, *sizes[-1])  # (C_last, h, w) at the bottleneck
        self.encoder = nn.Sequential(*enc, Flatten(), nn.Linear(math.prod(feat), config.latent_dim))

        dec: list[nn.Module] = [nn.Linear(config.latent_dim, math.prod(feat)), Unflatten(feat)]
        chans = [*config.channels[::-1], c]  # C_last ... C_1, then the image channels
        for i in range(len(config.channels)):
            (hi, wi), (ho, wo) = sizes[-1 - i], sizes[-2 - i]
            up_h = _up_layer(chans[i], chans[i + 1], hi, ho)
            if (hi, ho) != (wi, wo):
                up_w = _up_layer(chans[i], chans[i + 1], wi, wo)
                up = nn.ConvTranspose2d(
                    chans[i],
                    chans[i + 1],
                    (up_h.kernel_size[0], up_w.kernel_size[0]),
                    stride=2,
                    padding=1,
                    output_padding=(up_h.output_padding[0], up_w.output_padding[0]),
                )
            else:
                up = up_h
            dec.append(up)
            last = i == len(config.channels) - 1
            if not last:
                if config.batchnorm:
                    dec.append(nn.BatchNorm2d(chans[i + 1]))
                dec.append(activation(config.activation))
        dec.append(output_activation(config.output_activation, pixel_range))
        self.decoder = nn.Sequential(*dec)
