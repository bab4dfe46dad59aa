"""Sparse autoencoder: an MLP with an L1 penalty on the code, or the KL-divergence sparsity
penalty with target activation rho and weight beta (Ng, CS294A notes, 2011)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from aekit._registry import register_model
from aekit.errors import ConfigError
from aekit.losses import l1_penalty, sparsity_kl
from aekit.models.base import AEOutput
from aekit.models.mlp import MLPAutoencoder

PENALTIES = ("kl", "l1")


@dataclass
class SparseConfig:
    hidden: list[int] = field(default_factory=list)  # encoder widths ([]: one layer each way)
    latent_dim: int = 196  # code size (may exceed the input: sparsity regularises it)
    activation: str = "sigmoid"  # between hidden layers
    latent_activation: str = "sigmoid"  # on the code; the KL penalty needs sigmoid (rates in (0,1))
    output_activation: str = "auto"  # auto: sigmoid for [0,1] data, tanh for [-1,1]; or none
    decoder_hidden: list[int] | None = None  # decoder widths; None mirrors `hidden`
    batchnorm: bool = False  # BatchNorm1d after each hidden Linear
    dropout: float = 0.0  # dropout after each hidden activation
    penalty: str = "kl"  # kl: beta * sum_j KL(rho || mean activation_j); l1: weight * sum_j |z_j|
    rho: float = 0.05  # kl: target mean activation of each code unit
    beta: float = 3.0  # kl: weight of the summed KL (nats), per image
    weight: float = 1e-3  # l1: weight of sum_j |z_j|, per image
    near_zero: float = 0.05  # reported: a code value below this (in absolute value) counts as off


@register_model(
    "sparse", SparseConfig, "MLP with an L1 or KL (rho, beta) sparsity penalty on the code"
)
class SparseAutoencoder(MLPAutoencoder):
    #: squared error (or BCE) summed over pixels per image, as in Ng's notes; batch mean
    loss_reduction = "sum"

    def __init__(self, config: SparseConfig, input_shape, pixel_range="01"):
        super().__init__(config, input_shape, pixel_range)
        if config.penalty not in PENALTIES:
            raise ConfigError(
                f"unknown sparsity penalty {config.penalty!r}; choose one of: {', '.join(PENALTIES)}"
            )
        if config.penalty == "kl" and config.latent_activation != "sigmoid":
            raise ConfigError(
                "the KL sparsity penalty needs code activations in (0, 1); "
                "use --set model.latent_activation=sigmoid or --set model.penalty=l1"
            )
        if not 0 < config.rho < 1:
            raise ConfigError(f"model.rho must be in (0, 1); got {config.rho}")

    def regularizers(self, out: AEOutput, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        if c.penalty == "kl":
            return {"sparsity": c.beta * sparsity_kl(c.rho, out.code.mean(0))}  # rho_hat: (L,)
        return {"sparsity": c.weight * l1_penalty(out.code)}

    @torch.no_grad()
    def val_metrics(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        """Mean code activation, share of code values near zero, and share of dead units."""
        was = self.training
        self.eval()
        try:
            z = torch.cat([self.encode(x[i : i + 1024]) for i in range(0, len(x), 1024)])
        finally:
            self.train(was)
        off = z.abs() < self.config.near_zero
        return {
            "code_mean_activation": float(z.mean()),
            "code_near_zero_fraction": float(off.float().mean()),
            "code_dead_unit_fraction": float(off.all(0).float().mean()),
        }
