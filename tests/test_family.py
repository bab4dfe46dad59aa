"""The autoencoder family: each regulariser and likelihood against an independent oracle."""

from __future__ import annotations

import logging
import math

import pytest
import torch
from torch.distributions import Bernoulli, MultivariateNormal, Normal, kl_divergence

import aekit
from aekit.config import Config
from aekit.evaluation import PCABaseline, principal_angles
from aekit.losses import (
    gaussian_kl,
    jacobian_frobenius_autograd,
    jacobian_frobenius_sigmoid,
    sparsity_kl,
)
from aekit.training.trainer import overcomplete_warning
from tests.conftest import quick

# the end-of-run figures are not what these tests are about (conftest.without_end_plots)
pytestmark = pytest.mark.usefixtures("no_end_plots")


def test_gaussian_kl_matches_torch_distributions():
    torch.manual_seed(0)
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    q = Normal(mu, (0.5 * logvar).exp())
    ref = kl_divergence(q, Normal(torch.zeros(3), torch.ones(3))).sum(1)
    assert torch.allclose(gaussian_kl(mu, logvar), ref, atol=1e-5)


def test_sparsity_kl_matches_bernoulli_kl():
    rho_hat = torch.tensor([0.01, 0.05, 0.3, 0.9])
    ref = kl_divergence(Bernoulli(torch.full((4,), 0.05)), Bernoulli(rho_hat)).sum()
    assert torch.allclose(sparsity_kl(0.05, rho_hat), ref, atol=1e-6)


def _jacobian_norm2_oracle(f, x):
    """||df/dx||^2_F per sample with torch.autograd.functional.jacobian, one sample at a time."""
    return torch.stack([torch.autograd.functional.jacobian(f, xi[None]).pow(2).sum() for xi in x])


def test_sigmoid_jacobian_closed_form_matches_autograd_jacobian():
    torch.manual_seed(0)
    lin = torch.nn.Linear(6, 4)
    x = torch.randn(3, 6)
    h = torch.sigmoid(lin(x))
    ours = jacobian_frobenius_sigmoid(h, lin.weight)
    ref = _jacobian_norm2_oracle(lambda v: torch.sigmoid(lin(v)), x)
    assert torch.allclose(ours, ref, atol=1e-6)


@pytest.mark.parametrize("hidden", [[], [5]])
def test_contractive_penalty_is_the_jacobian_frobenius_norm(hidden):
    torch.manual_seed(0)
    m = aekit.create_model("contractive", (1, 3, 3), hidden=hidden, latent_dim=4, weight=0.5)
    assert m.closed_form == (hidden == [])
    x = torch.rand(3, 1, 3, 3)
    pen = m.regularizers(m(x), x)["contractive"]
    ref = _jacobian_norm2_oracle(m.encode, x).mean()
    assert torch.allclose(pen, 0.5 * ref, rtol=1e-5)
    xg = x.clone().requires_grad_(True)
    assert torch.allclose(jacobian_frobenius_autograd(m.encode(xg), xg).mean(), ref, rtol=1e-5)


def _linear_gaussian_vae(d=5, latent=2, sigma=0.5):
    """A VAE whose decoder is x = W z + b + N(0, sigma^2) and whose encoder is the exact
    posterior (W has orthogonal columns, so the posterior covariance is diagonal)."""
    torch.manual_seed(0)
    m = aekit.create_model(
        "vae",
        (d,),
        hidden=[],
        latent_dim=latent,
        likelihood="gaussian",
        sigma=sigma,
        output_activation="none",
    )
    w, _ = torch.linalg.qr(torch.randn(d, latent))
    w = w * torch.tensor([2.0, 0.7])  # orthogonal columns of different lengths
    b = torch.randn(d)
    dec, enc = m.decoder[0][0], m.encoder[2]
    cov = torch.linalg.inv(torch.eye(latent) + w.T @ w / sigma**2)  # diagonal
    with torch.no_grad():
        dec.weight.copy_(w)
        dec.bias.copy_(b)
        gain = cov @ w.T / sigma**2  # posterior mean = gain (x - b)
        enc.weight.copy_(torch.cat([gain, torch.zeros(latent, d)]))
        enc.bias.copy_(torch.cat([-gain @ b, cov.diagonal().log()]))
    return m, MultivariateNormal(b, w @ w.T + sigma**2 * torch.eye(d))


def test_vae_nll_is_exact_when_the_encoder_is_the_true_posterior():
    m, marginal = _linear_gaussian_vae()
    x = marginal.sample((50,))
    for k in (1, 20):  # exact posterior: every importance weight equals p(x)
        assert torch.allclose(m.nll(x, k=k), -marginal.log_prob(x), atol=1e-3)


def test_vae_nll_bound_tightens_with_more_samples():
    m, marginal = _linear_gaussian_vae()
    with torch.no_grad():
        m.encoder[2].bias[2:] += 1.0  # a too-wide posterior: the bound is loose
    torch.manual_seed(1)
    x = marginal.sample((400,))
    exact = -marginal.log_prob(x).mean()
    k1, k200 = m.nll(x, k=1).mean(), m.nll(x, k=200).mean()
    assert k1 > k200 > exact - 0.02
    assert k200 - exact < 0.2 * (k1 - exact)


def test_vae_terms_are_summed_per_image_and_averaged_over_the_batch():
    torch.manual_seed(0)
    m = aekit.create_model("vae", (1, 4, 4), latent_dim=3, hidden=[8])
    x = (torch.rand(6, 1, 4, 4) > 0.5).float()
    out = m(x)
    terms = m.loss_terms(out, x, x)
    logits, mu, logvar = out.extras["raw"], out.extras["mu"], out.extras["logvar"]
    nll = -Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1).mean()
    kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1).mean()
    assert torch.allclose(terms["recon"], nll, rtol=1e-5)
    assert torch.allclose(terms["kl"], kl, rtol=1e-5)


def test_kl_warmup_rises_linearly_to_beta():
    m = aekit.create_model("vae", (1, 4, 4), latent_dim=2, hidden=[8], beta=2.0, warmup_epochs=4)
    weights = []
    for e in range(6):
        m.on_epoch_start(e, 6)
        weights.append(m.kl_weight)
    assert weights == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]


@pytest.mark.parametrize("name", ["vae", "conv_vae"])
def test_vae_samples_from_the_prior_are_images(name):
    m = aekit.create_model(name, (1, 12, 12), latent_dim=3)
    s = m.sample(5, torch.Generator().manual_seed(0))
    assert s.shape == (5, 1, 12, 12) and 0 <= s.min() and s.max() <= 1


def test_bernoulli_vae_refuses_minus_one_to_one_pixels():
    with pytest.raises(aekit.ConfigError, match="pixel-range 01"):
        aekit.create_model("vae", (1, 4, 4), "-11")


def _train_linear_ae(x, k, steps=400, lr=0.05):
    torch.manual_seed(0)
    m = aekit.create_model("linear", (x.shape[1],), latent_dim=k)
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        loss = (m(x).recon - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return m


def test_linear_autoencoder_reaches_the_pca_error_and_subspace():
    g = torch.Generator().manual_seed(0)
    scales = torch.tensor([3.0, 2.5, 2.0, 0.6, 0.5, 0.4, 0.3, 0.2])  # a clear gap after 3
    q, _ = torch.linalg.qr(torch.randn(8, 8, generator=g))
    x = (torch.randn(300, 8, generator=g) * scales) @ q.T + 1.0
    m = _train_linear_ae(x, 3)
    pca = PCABaseline.fit(x, 3)
    ae = float((m.reconstruct(x) - x).pow(2).mean())
    assert ae <= pca.errors(x)["mse"] * 1.01
    assert principal_angles(m.decoder_basis().detach(), pca.components.T).max() < 2.0


def test_linear_run_reports_pca_ratio_and_angles(runs):
    cfg = quick(
        runs,
        data={"name": "points2d", "val_fraction": 0.0},
        model={"name": "linear", "latent_dim": 1},
        # 100 points, one full batch a step: 400 steps at lr 0.1 end at 1.0001x PCA, 0.02 degrees
        train={"epochs": 400, "batch_size": 100, "optimizer": "sgd", "lr": 0.1, "log_every": 0},
    )
    r = aekit.train(cfg, report=False).result  # "result" is written before the report
    assert 1.0 - 1e-6 < r["train_mse_over_pca"] < 1.01
    assert r["pca_max_principal_angle_deg"] < 2.0
    assert len(r["pca_principal_angles_deg"]) == 1


def test_every_run_reports_the_pca_baseline_and_denoising_psnr(runs):
    cfg = quick(
        runs,
        data={"noise": "gaussian", "noise_level": 0.3},
        model={"name": "mlp", "latent_dim": 5, "hidden": [32]},
    )
    run = aekit.train(cfg, report=False)
    r = run.result
    train = aekit.load_dataset("digits", split="train").images()
    val = aekit.load_dataset("digits", split="val").images()
    pca = PCABaseline.fit(train, 5)
    assert r["pca_components"] == 5
    assert math.isclose(r["pca_val_mse"], pca.errors(val)["mse"], rel_tol=0.5)  # noisy input
    assert math.isclose(r["val_mse_over_pca"], r["val_mse"] / r["pca_val_mse"])
    assert 5 < r["psnr_noisy_input_db"] < 15  # sigma 0.3: ~11 dB
    # PSNR is averaged per image, on the same batch as val_mse ([0, 1] pixels): by Jensen's
    # inequality, at least the PSNR of the mean squared error
    bound = 10 * math.log10(1 / r["val_mse"])
    assert bound <= r["psnr_reconstruction_db"] < bound + 10


def test_sparse_kl_penalty_pulls_mean_activation_towards_rho():
    torch.manual_seed(0)
    x = aekit.load_dataset("digits", split="train").images()[:512]
    acts = {}
    for beta in (0.0, 3.0):
        torch.manual_seed(0)
        m = aekit.create_model("sparse", (1, 8, 8), latent_dim=32, rho=0.05, beta=beta)
        opt = torch.optim.Adam(m.parameters(), lr=1e-2)
        for _ in range(300):
            loss = sum(m.loss_terms(m(x), x, x, "mse").values())
            opt.zero_grad()
            loss.backward()
            opt.step()
        acts[beta] = m.val_metrics(x, x)["code_mean_activation"]
    assert abs(acts[3.0] - 0.05) < 0.03 < abs(acts[0.0] - 0.05)


def test_sparse_l1_penalty_is_the_summed_absolute_code():
    m = aekit.create_model("sparse", (1, 4, 4), latent_dim=3, penalty="l1", weight=0.1)
    x = torch.rand(4, 1, 4, 4)
    out = m(x)
    assert torch.allclose(m.regularizers(out, x)["sparsity"], 0.1 * out.code.abs().sum(1).mean())


def test_regularised_overcomplete_models_get_no_identity_warning(caplog):
    cfg = Config()
    with caplog.at_level(logging.WARNING):
        overcomplete_warning(aekit.create_model("mlp", (1, 4, 4), latent_dim=20), cfg)
        assert "identity" in caplog.text
        caplog.clear()
        for name in ("sparse", "contractive"):
            overcomplete_warning(aekit.create_model(name, (1, 4, 4), latent_dim=20), cfg)
        assert "identity" not in caplog.text


def test_greedy_pretraining_trains_one_layer_pair_at_a_time():
    from aekit.data import BatchMaker
    from aekit.training.loop import fit_params

    m = aekit.create_model("stacked", (1, 8, 8), hidden=[32, 16], latent_dim=4)
    data = aekit.load_dataset("digits", split="train", limit=200)
    batches = BatchMaker(data, torch.device("cpu"), generator=torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    fit, groups = fit_params(batches, Config().train), []

    def recording_fit(params, loss_fn, epochs):
        params = list(params)
        groups.append({id(p) for p in params})
        return fit(params, loss_fn, epochs)

    m.pretrain(recording_fit, epochs=1)
    assert len(groups) == 3 and len(m.pretrain_losses) == 3
    assert all(math.isfinite(v) and v > 0 for v in m.pretrain_losses)
    for i, group in enumerate(groups):
        want = {id(p) for p in [*m.enc_block(i).parameters(), *m.dec_block(i).parameters()]}
        assert group == want
    changed = [k for k, v in m.state_dict().items() if not torch.equal(v, before[k])]
    assert len(changed) == len(before)  # every layer was pretrained once


def test_stacked_run_reports_error_after_stacking_and_after_finetuning(runs):
    cfg = quick(
        runs,
        model={"name": "stacked", "hidden": [32, 16], "latent_dim": 8},
        train={"pretrain_epochs": 2, "epochs": 2, "lr": 3e-3},
    )
    r = aekit.train(cfg, report=False).result
    assert {"pretrain_layer1_loss", "pretrain_layer3_loss"} <= set(r)
    assert r["val_mse_after_finetune"] == pytest.approx(r["val_mse"])
    assert r["val_mse_after_finetune"] < r["val_mse_after_stacking"]  # fine-tuning helps


def test_convspec_builds_the_conv_mnist_stack_exactly():
    from aekit.config import apply_config_dict
    from aekit.recipes import load_recipe

    cfg = apply_config_dict(Config(), load_recipe("conv-mnist")[0])
    m = aekit.create_model(
        "convspec", (1, 28, 28), "-11", **{k: v for k, v in cfg.model.items() if k != "name"}
    )
    convs = [
        mod for mod in m.modules() if isinstance(mod, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))
    ]
    got = [
        (
            type(c).__name__,
            c.in_channels,
            c.out_channels,
            c.kernel_size[0],
            c.stride[0],
            c.padding[0],
        )
        for c in convs
    ]
    assert got == [
        ("Conv2d", 1, 16, 3, 3, 1),
        ("Conv2d", 16, 8, 3, 2, 1),
        ("ConvTranspose2d", 8, 16, 3, 2, 0),
        ("ConvTranspose2d", 16, 8, 5, 3, 1),
        ("ConvTranspose2d", 8, 1, 2, 2, 1),
    ]
    assert m.latent_dim == 32 and m.code_shape == (8, 2, 2)
    assert m(torch.zeros(2, 1, 28, 28)).recon.shape == (2, 1, 28, 28)


def test_convspec_says_which_layer_misses_the_input_shape():
    with pytest.raises(aekit.ConfigError, match=r"decoder ends at shape \(1, 27, 27\)"):
        aekit.create_model(
            "convspec",
            (1, 28, 28),
            encoder=[["conv", 4, 3, 2, 1], ["relu"]],
            decoder=[["convT", 1, 3, 2, 1]],
        )
