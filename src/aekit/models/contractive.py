"""Contractive autoencoder: the squared Frobenius norm of the encoder Jacobian as a penalty
(Rifai et al. 2011, https://icml.cc/2011/papers/455_icmlpaper.pdf)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from aekit._registry import register_model
from aekit.checked import NonNegFloat, PosInt
from aekit.errors import ConfigError
from aekit.layers import Activation
from aekit.losses import jacobian_frobenius_autograd, jacobian_frobenius_sigmoid
from aekit.models.base import AEOutput, eval_mode
from aekit.models.mlp import MLPAutoencoder, MLPConfig, OutputBias

#: model.jacobian: how ||dz/dx||_F is computed; auto: the closed form where it applies
Jacobian = Literal["auto", "sigmoid", "autograd"]


@dataclass
class ContractiveConfig(MLPConfig):
    hidden: list[PosInt] = field(default_factory=list)  # encoder widths ([]: one layer, as Rifai)
    latent_dim: PosInt = 256  # code size
    activation: Activation = "sigmoid"  # between hidden layers
    latent_activation: Activation = "sigmoid"  # on the code
    batchnorm: bool = False  # BatchNorm1d after each hidden Linear (not with jacobian=autograd)
    output_bias: OutputBias = "torch"  # torch: as drawn, as in Rifai et al.
    weight: NonNegFloat = 0.1  # lambda: weight of ||dz/dx||_F^2 per image
    jacobian: Jacobian = "auto"  # sigmoid: closed form (1 sigmoid layer); autograd: any encoder

    def check(self) -> None:
        one_sigmoid_layer = not self.hidden and self.latent_activation == "sigmoid"
        if self.jacobian == "sigmoid" and not one_sigmoid_layer:
            raise ConfigError(
                "the closed-form Jacobian needs one sigmoid encoder layer (model.hidden=[] and "
                "model.latent_activation=sigmoid); use --set model.jacobian=autograd"
            )


@register_model(
    "contractive", ContractiveConfig, "MLP with the encoder Jacobian's Frobenius norm as a penalty"
)
class ContractiveAutoencoder(MLPAutoencoder):
    #: reconstruction summed over pixels per image (Rifai et al.), batch mean
    loss_reduction = "sum"

    def __init__(self, config: ContractiveConfig, input_shape, pixel_range="01"):
        super().__init__(config, input_shape, pixel_range)
        one_sigmoid_layer = not config.hidden and config.latent_activation == "sigmoid"
        self.closed_form = config.jacobian == "sigmoid" or (
            config.jacobian == "auto" and one_sigmoid_layer
        )

    def jacobian_norm2(self, x: torch.Tensor, code: torch.Tensor | None = None) -> torch.Tensor:
        """||dz/dx||²_F per image (B,), differentiable; ``code`` reuses encode(x) when closed-form."""
        if self.closed_form:
            lin = next(m for m in self.encoder.modules() if isinstance(m, nn.Linear))
            h = self.encode(x) if code is None else code
            return jacobian_frobenius_sigmoid(h, lin.weight)  # (B,)
        xg = x.detach().requires_grad_(True)
        with torch.enable_grad():
            return jacobian_frobenius_autograd(self.encode(xg), xg)

    def regularizers(self, out: AEOutput, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"contractive": self.config.weight * self.jacobian_norm2(x, out.code).mean()}

    def val_metrics(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        """Mean ||dz/dx||_F over the validation images (lower: a more contractive encoder)."""
        with eval_mode(self):
            norms = [
                self.jacobian_norm2(x[i : i + 256]).detach().sqrt() for i in range(0, len(x), 256)
            ]
        return {"jacobian_frobenius": float(torch.cat(norms).mean())}
