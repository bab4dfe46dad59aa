"""Image-quality metrics on images in [0, 1]."""

from __future__ import annotations

import torch


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB between batches ``a`` and ``b`` (B, ...), computed per
    image and averaged (as scikit-image's peak_signal_noise_ratio does for one image)."""
    mse = (a.double() - b.double()).pow(2).flatten(1).mean(1).clamp_min(1e-20)
    return float((10 * torch.log10(data_range**2 / mse)).mean())


def mse_per_pixel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image (B,), averaged over its pixels."""
    return (a.double() - b.double()).pow(2).flatten(1).mean(1)


def sse_per_image(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared error summed over each image's pixels (B,): the measure of Hinton &
    Salakhutdinov 2006 (https://doi.org/10.1126/science.1127647) for pixels in [0, 1]."""
    return (a.double() - b.double()).pow(2).flatten(1).sum(1)


def bce_per_image(recon: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Binary cross-entropy in nats summed over each image's pixels (B,); both in [0, 1].

    Reconstructions are clipped to [eps, 1 - eps] so a saturated pixel costs at most -log(eps).
    """
    p = recon.double().clamp(eps, 1 - eps).flatten(1)
    t = target.double().flatten(1)
    return -(t * p.log() + (1 - t) * (1 - p).log()).sum(1)


def psnr_per_image(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """PSNR in dB per image (B,); identical images are capped at 200 dB."""
    mse = mse_per_pixel(a, b).clamp_min(1e-20)
    return 10 * torch.log10(data_range**2 / mse)


def ssim_per_image(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per image (B,), by scikit-image's
    ``structural_similarity`` with its default 7x7 uniform window (smaller for smaller images).

    Images are (B, C, H, W); colour images average the per-channel SSIM.
    """
    from skimage.metrics import structural_similarity

    if a.dim() != 4:
        raise ValueError(f"SSIM needs images (B, C, H, W); got shape {tuple(a.shape)}")
    an = a.detach().cpu().double().numpy()
    bn = b.detach().cpu().double().numpy()
    win = min(7, an.shape[2], an.shape[3])
    win -= 1 - win % 2  # odd, as scikit-image requires
    kw = {"data_range": data_range, "win_size": win}
    if an.shape[1] > 1:
        kw["channel_axis"] = 0
        vals = [structural_similarity(x, y, **kw) for x, y in zip(an, bn)]
    else:
        vals = [structural_similarity(x[0], y[0], **kw) for x, y in zip(an, bn)]
    return torch.tensor(vals, dtype=torch.float64)


def reconstruction_metrics(
    recon: torch.Tensor, target: torch.Tensor, chunk: int = 1024
) -> dict[str, torch.Tensor]:
    """Per-image error measures (each (B,)) of reconstructions of images in [0, 1].

    mse: per pixel; sse: summed per image; psnr (dB); ssim for images (B, C, H, W) of at least
    3x3 pixels; bce (nats per image) when the reconstructions lie in [0, 1]. Computed
    ``chunk`` images at a time: the float64 temporaries of 10,000 MNIST images at once took
    360 MB.
    """
    if len(recon) > chunk:
        parts = [
            reconstruction_metrics(recon[i : i + chunk], target[i : i + chunk], chunk)
            for i in range(0, len(recon), chunk)
        ]
        bce = all("bce_per_image" in p for p in parts)  # every chunk in [0, 1]
        keys = [k for k in parts[0] if k != "bce_per_image" or bce]
        return {k: torch.cat([p[k] for p in parts]) for k in keys}
    out = {
        "mse": mse_per_pixel(recon, target),
        "sse_per_image": sse_per_image(recon, target),
        "psnr": psnr_per_image(recon, target),
    }
    if recon.dim() == 4 and min(recon.shape[2:]) >= 3:
        out["ssim"] = ssim_per_image(recon, target)
    if float(recon.min()) >= 0.0 and float(recon.max()) <= 1.0:
        out["bce_per_image"] = bce_per_image(recon, target)
    return out
