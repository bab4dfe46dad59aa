"""Image-quality metrics on images in [0, 1]."""

from __future__ import annotations

import torch


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB between batches ``a`` and ``b`` (B, ...), computed per
    image and averaged (as scikit-image's peak_signal_noise_ratio does for one image)."""
    mse = (a.double() - b.double()).pow(2).flatten(1).mean(1).clamp_min(1e-20)
    return float((10 * torch.log10(data_range**2 / mse)).mean())
