"""Variational autoencoders, MLP and convolutional (Kingma & Welling 2014,
https://arxiv.org/abs/1312.6114): a Gaussian encoder q(z|x), the reparameterisation trick, a
Bernoulli or Gaussian decoder p(x|z), a beta weight (Higgins et al. 2017) and KL warm-up.

Units: the loss terms ``recon`` (-log p(x|z)) and ``kl`` (KL(q(z|x) || N(0, I))) are in nats,
SUMMED over the pixels and the latent units of each image and AVERAGED over the batch.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from aekit._registry import register_model
from aekit.checked import Checked, NonNegFloat, NonNegInt, PosFloat, PosInt
from aekit.errors import ConfigError
from aekit.layers import (
    Activation,
    Flatten,
    OutputActivation,
    Unflatten,
    mlp_stack,
    output_activation,
)
from aekit.losses import (
    bernoulli_nll,
    gaussian_kl,
    gaussian_log_density,
    gaussian_nll,
    standard_normal_log_density,
)
from aekit.models.base import AEOutput, Autoencoder, eval_mode
from aekit.models.conv import ConvAutoencoder, ConvConfig


class VariationalMixin(Autoencoder):
    """What both VAEs share. Subclasses set ``self.encoder`` (x -> (B, 2L): mu then logvar) and
    ``self.decoder`` (z -> (B, *input_shape) logits (Bernoulli) or pre-activation means)."""

    loss_reduction = "sum"
    has_prior = True  # p(z) = N(0, I)
    variational = True

    def _setup(self, config, pixel_range: str) -> None:
        if config.likelihood == "bernoulli" and pixel_range != "01":
            raise ConfigError(
                "a Bernoulli likelihood needs pixels in [0, 1]; use --pixel-range 01 or "
                "--set model.likelihood=gaussian"
            )
        self.mean_act = (
            nn.Sigmoid()
            if config.likelihood == "bernoulli"
            else output_activation(config.output_activation, pixel_range)
        )
        self.kl_weight = float(config.beta)  # beta, times the warm-up factor during training

    # -- the contract -----------------------------------------------------------------------
    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): (mu, logvar), each (B, L)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)  # keeps exp() finite early in training

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean (B, L): the deterministic code."""
        return self.posterior(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The mean of p(x|z), in the pixel range: (B, L) -> (B, *input_shape)."""
        return self.mean_act(self.decoder(z))

    def forward(self, x: torch.Tensor) -> AEOutput:
        mu, logvar = self.posterior(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()  # reparameterisation trick
        raw = self.decoder(z)
        return AEOutput(
            recon=self.mean_act(raw), code=z, extras={"mu": mu, "logvar": logvar, "raw": raw}
        )

    def neg_log_likelihood(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """-log p(target | z) in nats per image (B,), from the decoder's raw output."""
        if self.config.likelihood == "bernoulli":
            return bernoulli_nll(raw, target)
        return gaussian_nll(self.mean_act(raw), target, self.config.sigma)

    def loss_terms(self, out: AEOutput, x, target, loss: str = "mse") -> dict[str, torch.Tensor]:
        """recon: -log p(x|z); kl: beta_t * KL(q(z|x) || p(z)). Nats summed per image, batch mean.

        ``loss`` is not used: the likelihood (model.likelihood) fixes the reconstruction term.
        """
        e = out.extras
        return {
            "recon": self.neg_log_likelihood(e["raw"], target).mean(),
            "kl": self.kl_weight * gaussian_kl(e["mu"], e["logvar"]).mean(),
        }

    # -- hooks and capabilities ---------------------------------------------------------------
    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """KL warm-up: the weight rises linearly to beta over the first warmup_epochs epochs."""
        n = self.config.warmup_epochs
        self.kl_weight = self.config.beta * (min(1.0, (epoch + 1) / n) if n > 0 else 1.0)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """decode(posterior mean), eval mode: the deterministic reconstruction."""
        with eval_mode(self):
            return self.decode(self.encode(x))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images decoded from z ~ N(0, I) (the means of p(x|z)), eval mode."""
        with eval_mode(self):
            z = torch.randn(n, self.latent_dim, generator=generator, device=self.device)
            return self.decode(z)

    @torch.no_grad()
    def nll(self, x: torch.Tensor, k: int = 100, batch_size: int = 100) -> torch.Tensor:
        """Importance-sampled -log p(x) in nats per image (B,), with k samples from q(z|x)
        (Burda et al. 2016, https://arxiv.org/abs/1509.00519): an upper bound in expectation
        that tightens as k grows; k = 1 gives the negative ELBO. Eval mode."""
        out = []
        with eval_mode(self):
            for i in range(0, len(x), batch_size):
                xb = x[i : i + batch_size]
                mu, logvar = self.posterior(xb)  # (B, L)
                eps = torch.randn(k, *mu.shape, device=mu.device, dtype=mu.dtype)
                z = mu + eps * (0.5 * logvar).exp()  # (k, B, L)
                raw = self.decoder(z.flatten(0, 1))  # (k*B, *input_shape)
                target = xb.expand(k, *xb.shape).flatten(0, 1)
                log_px_z = -self.neg_log_likelihood(raw, target).view(k, -1)  # (k, B)
                log_w = (
                    log_px_z + standard_normal_log_density(z) - gaussian_log_density(z, mu, logvar)
                )
                out.append(-(torch.logsumexp(log_w, 0) - math.log(k)))
        return torch.cat(out)

    def val_metrics(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        """KL and -log p(x|z) in nats per image (beta = 1), the negative ELBO, and the
        importance-sampled NLL with model.nll_samples samples on the first nll_images images."""
        c = self.config
        with torch.no_grad(), eval_mode(self):
            rec, kl = [], []
            for i in range(0, len(x), 500):
                out = self(x[i : i + 500])
                rec.append(self.neg_log_likelihood(out.extras["raw"], target[i : i + 500]))
                kl.append(gaussian_kl(out.extras["mu"], out.extras["logvar"]))
        rec_t, kl_t = torch.cat(rec), torch.cat(kl)
        res = {
            "val_recon_nats": float(rec_t.mean()),
            "val_kl_nats": float(kl_t.mean()),
            "val_neg_elbo_nats": float((rec_t + kl_t).mean()),
        }
        if c.nll_samples > 0:
            n = min(len(target), c.nll_images)
            res[f"val_nll_is{c.nll_samples}_nats"] = float(
                self.nll(target[:n], k=c.nll_samples).mean()
            )
            res["nll_images"] = n
        return res


#: model.likelihood: p(x|z)
Likelihood = Literal["bernoulli", "gaussian"]


@dataclass
class VariationalConfig(Checked):
    """The fields both VAEs share (not a model of its own)."""

    latent_dim: PosInt = 16  # size of z
    activation: Activation = "relu"  # between layers
    likelihood: Likelihood = "bernoulli"  # bernoulli (pixels in [0, 1]) or gaussian (fixed sigma)
    sigma: PosFloat = 0.1  # gaussian likelihood: standard deviation, in pixel units
    output_activation: OutputActivation = "auto"  # gaussian: of the mean (auto: by pixel range)
    beta: NonNegFloat = 1.0  # weight of the KL term (beta-VAE when > 1)
    warmup_epochs: NonNegInt = 0  # KL weight rises linearly from beta/N to beta over N epochs
    nll_samples: NonNegInt = 100  # end of run: importance samples k for the NLL estimate (0: skip)
    nll_images: PosInt = 1000  # end of run: validation images the NLL estimate uses


@dataclass
class VAEConfig(VariationalConfig):
    hidden: list[PosInt] = field(
        default_factory=lambda: [512, 256]
    )  # encoder widths; decoder mirrors


@register_model(
    "vae",
    VAEConfig,
    "MLP variational AE: Gaussian q(z|x), Bernoulli/Gaussian p(x|z), beta, warm-up",
)
class VAE(VariationalMixin):
    def __init__(self, config: VAEConfig, input_shape, pixel_range="01"):
        super().__init__(config, input_shape, pixel_range)
        self._setup(config, pixel_range)
        L, widths = config.latent_dim, list(config.hidden)
        self.encoder = nn.Sequential(
            Flatten(),  # (B, C, H, W) -> (B, D)
            mlp_stack([self.input_dim, *widths], config.activation) if widths else nn.Identity(),
            nn.Linear(widths[-1] if widths else self.input_dim, 2 * L),  # (B, 2L): mu, logvar
        )
        self.decoder = nn.Sequential(
            mlp_stack([L, *widths[::-1], self.input_dim], config.activation, last_act=False),
            Unflatten(self.input_shape),  # (B, D) -> (B, C, H, W)
        )


@dataclass
class ConvVAEConfig(VariationalConfig):
    channels: list[PosInt] = field(
        default_factory=lambda: [32, 64]
    )  # conv channels; each halves H, W
    kernel_size: PosInt = 3  # encoder kernel (odd)
    batchnorm: bool = True  # BatchNorm2d between conv layers


@register_model(
    "conv_vae", ConvVAEConfig, "convolutional variational AE (the conv model's layers), any HxWxC"
)
class ConvVAE(VariationalMixin):
    def __init__(self, config: ConvVAEConfig, input_shape, pixel_range="01"):
        super().__init__(config, input_shape, pixel_range)
        self._setup(config, pixel_range)
        conv = ConvConfig(
            channels=list(config.channels),
            kernel_size=config.kernel_size,
            batchnorm=config.batchnorm,
            activation=config.activation,
            latent_dim=2 * config.latent_dim,  # the encoder's last Linear gives mu and logvar
            output_activation="none",  # the decoder gives logits / pre-activation means
        )
        self.encoder = ConvAutoencoder(conv, input_shape, pixel_range).encoder
        conv = dataclasses.replace(conv, latent_dim=config.latent_dim)
        self.decoder = ConvAutoencoder(conv, input_shape, pixel_range).decoder
