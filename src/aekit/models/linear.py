"""Linear autoencoder: one Linear each way. With MSE its optimum spans the top principal
components (Baldi & Hornik 1989; Eckart–Young gives the error)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from aekit._registry import register_model
from aekit.checked import Checked, PosInt
from aekit.layers import Flatten, Unflatten
from aekit.models.base import Autoencoder


@dataclass
class LinearConfig(Checked):
    latent_dim: PosInt = 16  # code size = number of principal components it competes with
    bias: bool = True  # biases let it learn the data mean, as PCA centres the data
    # "pca" starts where training would end (an SVD of the training set in memory: meant for
    # small data sets); "random" is PyTorch's default, so training has to find the components
    init: Literal["random", "pca"] = "random"  # start: random, or the principal components


@register_model("linear", LinearConfig, "one linear encoder and decoder: the PCA-equivalent model")
class LinearAutoencoder(Autoencoder):
    has_decoder_basis = True

    def __init__(self, config: LinearConfig, input_shape, pixel_range="01"):
        super().__init__(config, input_shape, pixel_range)
        self.encoder = nn.Sequential(
            Flatten(), nn.Linear(self.input_dim, config.latent_dim, bias=config.bias)
        )
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_dim, self.input_dim, bias=config.bias),
            Unflatten(self.input_shape),
        )

    def init_from_data(self, batches) -> None:
        """The decoder's bias starts at the training mean, as PCA centres the data: without it
        the weights spend their steps learning the mean (a 600x10 table, 3,000 steps: 1.32x
        PCA's error without it, 1.007x with it). With ``init = "pca"`` the weights start at
        the principal components too."""
        last = self.decoder[0]
        if self.config.init == "pca":
            self._init_pca(batches)
        elif last.bias is not None:
            with torch.no_grad():
                last.bias.copy_(batches.mean_target().reshape(-1).to(last.bias))

    @torch.no_grad()
    def _init_pca(self, batches) -> None:
        """Encoder rows and decoder columns at the top principal directions of the training
        targets, the encoder's bias centring the input and the decoder's adding the mean back:
        the PCA reconstruction exactly (without biases: the uncentred directions). Code units
        beyond the data's rank start silent (zero decoder columns)."""
        enc, dec = self.encoder[1], self.decoder[0]
        x = batches(slice(None))[1].flatten(1).double()
        mean = x.mean(0) if dec.bias is not None else torch.zeros_like(x[0])
        if min(x.shape) <= 4096:
            v = torch.linalg.svd(x - mean, full_matrices=False)[2]
        else:
            q = min(self.config.latent_dim + 10, *x.shape)
            v = torch.svd_lowrank(x - mean, q=q)[2].T
        k = min(self.config.latent_dim, len(v))
        enc.weight[:k] = v[:k].to(enc.weight)
        dec.weight.zero_()
        dec.weight[:, :k] = v[:k].T.to(dec.weight)
        if dec.bias is not None:
            dec.bias.copy_(mean.to(dec.bias))
            enc.bias[:k] = -(v[:k] @ mean).to(enc.bias)

    def decoder_basis(self):
        """(D, latent_dim): the decoder weight; its columns span the reconstructions (minus bias)."""
        return self.decoder[0].weight
