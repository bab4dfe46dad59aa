"""Input corruption for denoising autoencoders (Vincent et al. 2008), on images in [0, 1]."""

from __future__ import annotations

import torch

NOISES = ("none", "gaussian", "masking", "salt_pepper")


def corrupt(
    x: torch.Tensor, kind: str, level: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Corrupt a batch with pixels in [0, 1].

    gaussian: x + N(0, level²), clipped to [0, 1]; masking: a ``level`` fraction of pixels set
    to 0; salt_pepper: a ``level`` fraction set to 0 or 1 with equal odds.
    """
    if kind == "none" or level <= 0:
        return x
    if kind == "gaussian":
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (x + level * noise).clamp_(0.0, 1.0)
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    if kind == "masking":
        return x.masked_fill(u < level, 0.0)
    if kind == "salt_pepper":
        salt = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) < 0.5
        hit = u < level
        return torch.where(hit, salt.to(x.dtype), x)
    raise ValueError(f"unknown noise {kind!r}; choose one of: {', '.join(NOISES)}")
