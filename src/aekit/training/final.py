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
from aekit.evaluation.evaluate import EVAL_CHUNK
from aekit.evaluation.metrics import psnr
from aekit.evaluation.pca import over_pca

log = logging.getLogger(__name__)


def _reconstruct(model, x: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    return torch.cat([model.reconstruct(x[i : i + chunk]) for i in range(0, len(x), chunk)])


def _sse(a: torch.Tensor, b: torch.Tensor) -> float:
    """Squared error summed over a chunk, divided by the elements per sample: summed over the
    chunks and divided by N, it is the mean squared error per element."""
    return float((a.double() - b.double()).pow(2).sum()) / a[0].numel()


def _val_pass(model, val_batches: BatchMaker, pca, pr: str, noisy: bool, chunk: int):
    """The validation split ``chunk`` samples at a time (a mapped split larger than memory is
    never one float tensor): the model's and PCA's MSE per element, the PSNRs of noisy inputs
    and of their reconstructions (``noisy``), and the first chunk's (input, clean) batch."""
    n, device = len(val_batches), val_batches.device
    sums = {"val_mse": 0.0, "pca_val_mse": 0.0, "psnr_in": 0.0, "psnr_out": 0.0}
    first = None
    for s in chunks(n, chunk):
        x, clean = val_batches(torch.arange(s.start, s.stop, device=device))
        recon = _reconstruct(model, x)
        sums["val_mse"] += _sse(recon, clean)
        sums["pca_val_mse"] += _sse(pca.reconstruct(x.cpu()), clean.cpu())
        if noisy:
            clean01 = from_range(clean, pr)
            sums["psnr_in"] += psnr(from_range(x, pr), clean01) * len(x)
            sums["psnr_out"] += psnr(from_range(recon, pr).clamp(0, 1), clean01) * len(x)
        first = (x, clean) if first is None else first
    return {k: v / n for k, v in sums.items()}, first


@torch.no_grad()
def end_of_run_metrics(
    model, train_data: Dataset, val_batches: BatchMaker, cfg: Config, chunk: int = EVAL_CHUNK
) -> dict[str, Any]:
    """Comparisons that every run reports (see the module docstring); MSEs are per pixel. The
    validation split is read ``chunk`` samples at a time; the model's own numbers
    (``val_metrics``) are those of its first chunk (the whole split up to 16,384 samples)."""
    pr = cfg.data.pixel_range
    device = val_batches.device
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
    if val_batches.generator is not None:
        val_batches.generator.manual_seed(cfg.train.seed + 1)  # the corruption of val_loss
    noisy = cfg.data.noise != "none"
    val, (x_val, clean_val) = _val_pass(model, val_batches, pca, pr, noisy, chunk)
    out: dict[str, Any] = {"val_mse": val["val_mse"]}
    out.update({"pca_components": k, "pca_val_mse": val["pca_val_mse"]})
    if (ratio := over_pca(out["val_mse"], val["pca_val_mse"])) is not None:
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
            }
        )
        if angles.numel():  # none when the data are too few for a principal component
            out["pca_max_principal_angle_deg"] = float(angles.max())
            out["pca_principal_angles_deg"] = [round(float(a), 4) for a in angles[:16]]

    if noisy:
        out["psnr_noisy_input_db"] = val["psnr_in"]
        out["psnr_reconstruction_db"] = val["psnr_out"]

    out.update(model.val_metrics(x_val, clean_val))
    return out
