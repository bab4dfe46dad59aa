"""Numbers computed once at the end of a run and stored in config.json's "result".

Every run: the validation MSE per pixel (in the model's pixel range), the PCA baseline at the
same latent size (fitted exactly on the same training images: the Eckart–Young optimum for a
linear code) and the ratio. Linear decoders: the training-data comparison with PCA and the
principal angles between the decoder's column space and the top principal components.
Denoising runs: the PSNR of the noisy input and of the reconstruction against the clean image.
Then whatever the model adds (``model.val_metrics``: a VAE's NLL, sparsity, ...).
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from aekit.config import Config
from aekit.data import BatchMaker, Dataset, chunks, from_range
from aekit.evaluation import PCABaseline, principal_angles
from aekit.evaluation.metrics import psnr
from aekit.evaluation.pca import over_pca

log = logging.getLogger(__name__)


def _reconstruct(model, x: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    return torch.cat([model.reconstruct(x[i : i + chunk]) for i in range(0, len(x), chunk)])


def _mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).pow(2).mean())


def _sse(a: torch.Tensor, b: torch.Tensor) -> float:
    """Squared error summed over a chunk, divided by the elements per sample: summed over the
    chunks and divided by N, it is the mean squared error per element."""
    return float((a.double() - b.double()).pow(2).sum()) / a[0].numel()


@torch.no_grad()
def end_of_run_metrics(
    model, train_data: Dataset, val_batches: BatchMaker, cfg: Config
) -> dict[str, Any]:
    """Comparisons that every run reports (see the module docstring); MSEs are per pixel."""
    pr = cfg.data.pixel_range
    device = val_batches.device
    if val_batches.generator is not None:
        val_batches.generator.manual_seed(cfg.train.seed + 1)  # the corruption of val_loss
    x_val, clean_val = val_batches(torch.arange(len(val_batches), device=device))
    recon_val = _reconstruct(model, x_val)
    out: dict[str, Any] = {"val_mse": _mse(recon_val, clean_val)}

    gen = torch.Generator(device=device)
    train = BatchMaker(train_data, device, pr, cfg.data.binarize, generator=gen)
    n = len(train)

    def rows(s: slice) -> torch.Tensor:
        """Clean training images in the model's range, a chunk at a time (full MNIST as float32
        would be 188 MB more at peak); the same chunk is the same draw when binarising
        stochastically."""
        gen.manual_seed(cfg.train.seed + 2 + s.start)
        return train(s)[1]

    k = min(model.latent_dim, train_data.x[0].numel(), n - 1)
    pca = PCABaseline.fit_rows(rows, n, k)
    pca_val = _mse(pca.reconstruct(x_val.cpu()), clean_val.cpu())
    out.update({"pca_components": k, "pca_val_mse": pca_val})
    if (ratio := over_pca(out["val_mse"], pca_val)) is not None:
        out["val_mse_over_pca"] = ratio

    if model.has_decoder_basis:
        basis = model.decoder_basis().detach().cpu()  # (D, latent_dim)
        parts = chunks(n)
        mse_train = sum(_sse(_reconstruct(model, x := rows(s)), x) for s in parts) / n
        pca_train = sum(_sse(pca.reconstruct(x := rows(s).cpu()), x) for s in parts) / n
        angles = principal_angles(basis, pca.components.T)  # degrees, smallest first
        out.update(
            {
                "train_mse": mse_train,
                "pca_train_mse": pca_train,
                "train_mse_over_pca": over_pca(mse_train, pca_train),
                "pca_max_principal_angle_deg": float(angles.max()),
                "pca_principal_angles_deg": [round(float(a), 4) for a in angles[:16]],
            }
        )

    if cfg.data.noise != "none":
        clean01 = from_range(clean_val, pr)
        out["psnr_noisy_input_db"] = psnr(from_range(x_val, pr), clean01)
        out["psnr_reconstruction_db"] = psnr(from_range(recon_val, pr).clamp(0, 1), clean01)

    out.update(model.val_metrics(x_val, clean_val))
    return out
