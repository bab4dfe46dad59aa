"""The contract every autoencoder keeps: encode, decode, forward -> AEOutput, loss terms."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from aekit.losses import reconstruction_loss


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``with eval_mode(model):`` runs the block in eval mode (no dropout, BatchNorm's running
    statistics) and gives every submodule its own train/eval mode back after, also on error."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, was in modes:
            m.training = was


@dataclass
class AEOutput:
    recon: torch.Tensor  # (B, *input_shape) in the data's pixel range
    code: torch.Tensor  # (B, latent_dim): the code decode() takes (for VAEs, the sampled z)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # e.g. mu, logvar


class Autoencoder(nn.Module):
    """Base class. Subclasses build ``self.encoder``/``self.decoder`` or override encode/decode.

    Capabilities that a family lacks raise a clear error rather than being dispatched on names.
    """

    registry_name: str = "?"
    #: "mean": loss averaged over pixels; "sum": summed per image, averaged over the batch
    loss_reduction: str = "mean"
    # Capabilities, declared by each family (callers read these, never probe with getattr):
    #: sample() draws from the model's own prior p(z) (a VAE); others need a fitted prior
    has_prior: bool = False
    #: encode() is the mean of a posterior q(z|x); posterior() and nll() work (a VAE)
    variational: bool = False
    #: decoder_basis() works: the decoder is linear (compared with PCA's principal subspace)
    has_decoder_basis: bool = False

    def __init__(self, config, input_shape: tuple[int, ...], pixel_range: str = "01"):
        super().__init__()
        self.config = config
        self.input_shape = tuple(input_shape)  # (C, H, W) for images, (D,) for tables
        self.pixel_range = pixel_range  # "01" or "-11": the range decode() produces
        self.input_dim = math.prod(self.input_shape)

    # -- the contract -----------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return int(self.config.latent_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *input_shape) -> (B, latent_dim)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim) -> (B, *input_shape)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> AEOutput:
        z = self.encode(x)
        return AEOutput(recon=self.decode(z), code=z)

    def loss_terms(
        self, out: AEOutput, x: torch.Tensor, target: torch.Tensor, loss: str = "mse"
    ) -> dict[str, torch.Tensor]:
        """Named loss terms for one batch; the trainer minimises their sum.

        ``x`` is the (possibly corrupted) input, ``target`` the clean image to reconstruct.
        """
        terms = {"recon": reconstruction_loss(loss, out.recon, target, self.loss_reduction)}
        terms.update(self.regularizers(out, x))
        return terms

    def regularizers(self, out: AEOutput, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Extra loss terms (sparsity, KL, contraction...). None by default."""
        return {}

    # -- hooks for the trainer ----------------------------------------------------------------
    def init_from_data(self, batches) -> None:
        """Data-dependent initialisation, called once before a fresh run trains, with the
        training set's :class:`aekit.data.BatchMaker` (e.g. ``batches.mean_target()``); a
        model asks only for what it uses, so the others pay nothing at start-up."""

    def pretrain(self, fit, epochs: int, loss: str = "mse") -> None:
        """A phase of the model's own before a fresh run's main epochs, when
        ``train.pretrain_epochs`` (``epochs``) > 0; e.g. greedy layer-wise pretraining.
        ``fit(params, loss_fn, epochs)`` trains ``params`` with a fresh optimiser of the run's
        kind to minimise ``loss_fn(x, target)`` over shuffled training batches (input, clean
        target) and returns the last epoch's mean loss; ``loss``: the run's loss name. Default:
        nothing."""

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Called before each epoch (0-based); e.g. KL warm-up."""

    def after_training(self, batches) -> bool:
        """Called once after the last epoch, with the training set's BatchMaker, before the
        run is marked finished: e.g. scales fitted on the trained model's outputs. Returns
        whether the weights (buffers included) changed, so the trainer saves them again."""
        return False

    def run_metrics(self) -> dict[str, float]:
        """Model-specific numbers to report at the end of a run (e.g. sparsity)."""
        return {}

    def val_metrics(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        """Model-specific numbers on the validation data at the end of a run (input ``x``,
        clean ``target``, both in the model's pixel range): e.g. a VAE's NLL estimate."""
        return {}

    def decoder_basis(self) -> torch.Tensor:
        """(D, latent_dim) matrix whose columns span the decoder's image, for linear decoders
        (compared with the principal subspace at the end of a run): see has_decoder_basis."""
        raise NotImplementedError(f"{self.registry_name} has a nonlinear decoder")

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x) as (mu, logvar), each (B, latent_dim): see ``variational``."""
        raise NotImplementedError(f"{self.registry_name} has a deterministic encoder")

    def nll(self, x: torch.Tensor, k: int = 100, batch_size: int = 100) -> torch.Tensor:
        """Estimated -log p(x) in nats per image (B,): see ``variational``."""
        raise NotImplementedError(f"{self.registry_name} has no likelihood to estimate")

    # -- conveniences -------------------------------------------------------------------------
    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction in eval mode, without gradients."""
        with eval_mode(self):
            return self(x).recon

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError(
            f"{self.registry_name} has no prior to sample from; fit one to the training codes "
            "(aekit generate RUN_DIR --n 64 fits a Gaussian) or use a variational model (vae)"
        )

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
