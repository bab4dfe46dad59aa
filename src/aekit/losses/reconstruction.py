"""Reconstruction losses: MSE, BCE, L1, each per element or summed per image."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("mse", "bce", "l1")
#: BCE clamps reconstructions to [BCE_EPS, 1 - BCE_EPS]: log() stays finite when a Sigmoid saturates
BCE_EPS = 1e-6


def reconstruction_loss(
    name: str, recon: torch.Tensor, target: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Loss between ``recon`` and ``target`` of shape (B, ...).

    reduction "mean": averaged over every element (pixel) and the batch (the usual AE loss);
    "sum": summed over the pixels of each image, averaged over the batch (the VAE convention).
    """
    if name == "mse":
        if reduction == "mean":  # one fused kernel, no (B, ...) temporary
            return F.mse_loss(recon, target)
        per = F.mse_loss(recon, target, reduction="none")
    elif name == "l1":
        per = F.l1_loss(recon, target, reduction="none")
    elif name == "bce":
        per = F.binary_cross_entropy(recon.clamp(BCE_EPS, 1 - BCE_EPS), target, reduction="none")
    else:
        raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}")
    if reduction == "mean":
        return per.mean()
    if reduction == "sum":
        return per.flatten(1).sum(1).mean()
    raise ValueError(f"unknown reduction {reduction!r}; use 'mean' or 'sum'")
