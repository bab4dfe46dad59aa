"""The reconstruction losses against hand-computed values and torch.nn.functional."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from aekit.losses import LOSSES, reconstruction_loss
from aekit.losses.reconstruction import BCE_EPS

# two 1x2 "images": recon and target, with the per-pixel losses worked out by hand
RECON = torch.tensor([[[0.2, 0.9]], [[0.5, 0.0]]])
TARGET = torch.tensor([[[0.0, 1.0]], [[1.0, 0.0]]])
BCE = [-math.log(0.8), -math.log(0.9), -math.log(0.5), -math.log(1 - BCE_EPS)]
BY_HAND = {  # per-pixel, in the order (image 0: two pixels, image 1: two pixels)
    "mse": [0.04, 0.01, 0.25, 0.0],
    "l1": [0.2, 0.1, 0.5, 0.0],
    "bce": BCE,
}


@pytest.mark.parametrize("name", LOSSES)
def test_reconstruction_loss_equals_the_hand_computed_value(name):
    per = BY_HAND[name]
    mean = reconstruction_loss(name, RECON, TARGET)
    assert mean.item() == pytest.approx(sum(per) / 4, rel=1e-6)
    # "sum": summed over the pixels of each image, averaged over the batch (the VAE convention)
    summed = reconstruction_loss(name, RECON, TARGET, reduction="sum")
    assert summed.item() == pytest.approx((per[0] + per[1] + per[2] + per[3]) / 2, rel=1e-6)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_reconstruction_loss_and_its_gradient_equal_torch_functional(name, reduction):
    torch.manual_seed(0)
    recon = torch.rand(5, 1, 4, 4, dtype=torch.float64).requires_grad_()
    target = torch.rand(5, 1, 4, 4, dtype=torch.float64)
    oracle = {
        "mse": lambda r: F.mse_loss(r, target, reduction="none"),
        "l1": lambda r: F.l1_loss(r, target, reduction="none"),
        "bce": lambda r: F.binary_cross_entropy(r, target, reduction="none"),
    }[name]
    per = oracle(recon)
    want = per.mean() if reduction == "mean" else per.flatten(1).sum(1).mean()
    got = reconstruction_loss(name, recon, target, reduction)
    torch.testing.assert_close(got, want)
    (g_got,) = torch.autograd.grad(got, recon)
    (g_want,) = torch.autograd.grad(want, recon)
    torch.testing.assert_close(g_got, g_want)


def test_bce_stays_finite_on_saturated_outputs_and_passes_no_gradient_there():
    recon = torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64).requires_grad_()
    target = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)  # the worst case: log(eps)
    loss = reconstruction_loss("bce", recon, target)
    assert loss.item() == pytest.approx((-2 * math.log(BCE_EPS) - math.log(0.5)) / 3, rel=1e-9)
    (g,) = torch.autograd.grad(loss, recon)
    assert g[0] == 0 and g[1] == 0 and g[2] == pytest.approx(-2 / 3)


def test_an_unknown_loss_or_reduction_names_the_valid_ones():
    with pytest.raises(ValueError, match="choose one of: mse, bce, l1"):
        reconstruction_loss("huber", RECON, TARGET)
    with pytest.raises(ValueError, match="'mean' or 'sum'"):
        reconstruction_loss("l1", RECON, TARGET, reduction="max")
