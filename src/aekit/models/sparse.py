"""Sparse autoencoder: an MLP with an L1 penalty on the code, or the KL-divergence sparsity
penalty with target activation rho and weight beta (Ng, CS294A notes, 2011)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

import torch

from aekit._registry import register_model
from aekit.checked import NonNegFloat, PosInt, Range
from aekit.errors import ConfigError
from aekit.layers import Activation
from aekit.losses import l1_penalty, sparsity_kl
from aekit.models.base import AEOutput, eval_mode
from aekit.models.mlp import MLPAutoencoder, MLPConfig, OutputBias

#: model.penalty
Penalty = Literal["kl", "l1"]
Rate = Annotated[float, Range(gt=0, lt=1)]  # a mean activation: 0 < x < 1


@dataclass
class SparseConfig(MLPConfig):
    hidden: list[PosInt] = field(default_factory=list)  # encoder widths ([]: one layer each way)
    latent_dim: PosInt = 196  # code size (may exceed the input: sparsity regularises it)
    activation: Activation = "sigmoid"  # between hidden layers
    latent_activation: Activation = "sigmoid"  # on the code; KL needs sigmoid (rates in (0, 1))
    output_bias: OutputBias = "torch"  # torch: as drawn, as in Ng's notes
    batchnorm: bool = False  # BatchNorm1d after each hidden Linear (sparse codes: not measured)
    penalty: Penalty = "kl"  # kl: beta * sum_j KL(rho || mean act_j); l1: weight * sum_j |z_j|
    rho: Rate = 0.05  # kl: target mean activation of each code unit
    beta: NonNegFloat = 3.0  # kl: weight of the summed KL (nats), per image
    weight: NonNegFloat = 1e-3  # l1: weight of sum_j |z_j|, per image
    near_zero: NonNegFloat = 0.05  # reported: a code value below this (in absolute value) is off

    def check(self) -> None:
        if self.penalty == "kl" and self.latent_activation != "sigmoid":
            raise ConfigError(
                "the KL sparsity penalty needs code activations in (0, 1); "
                "use --set model.latent_activation=sigmoid or --set model.penalty=l1"
            )


@register_model(
    "sparse", SparseConfig, "MLP with an L1 or KL (rho, beta) sparsity penalty on the code"
)
class SparseAutoencoder(MLPAutoencoder):
    #: squared error (or BCE) summed over pixels per image, as in Ng's notes; batch mean
    loss_reduction = "sum"

    def __init__(self, config: SparseConfig, input_shape, pixel_range="01"):
        super().__init__(config, input_shape, pixel_range)

    def regularizers(self, out: AEOutput, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        if c.penalty == "kl":
            return {"sparsity": c.beta * sparsity_kl(c.rho, out.code.mean(0))}  # rho_hat: (L,)
        return {"sparsity": c.weight * l1_penalty(out.code)}

    @torch.no_grad()
    def val_metrics(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        """Mean code activation, share of code values near zero, and share of dead units."""
        with eval_mode(self):
            z = torch.cat([self.encode(x[i : i + 1024]) for i in range(0, len(x), 1024)])
        off = z.abs() < self.config.near_zero
        return {
            "code_mean_activation": float(z.mean()),
            "code_near_zero_fraction": float(off.float().mean()),
            "code_dead_unit_fraction": float(off.all(0).float().mean()),
        }
