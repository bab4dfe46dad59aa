"""Every registered model keeps the Autoencoder contract (parametrised over list_models())."""

from __future__ import annotations

import pytest
import torch

import aekit
from aekit.training.run_dir import load_model, save_weights

SHAPE = (1, 12, 12)


def make(name):
    torch.manual_seed(0)
    return aekit.create_model(name, SHAPE, latent_dim=4)


@pytest.mark.parametrize("name", aekit.list_models())
def test_forward_shapes(name):
    m = make(name)
    x = torch.rand(5, *SHAPE)
    out = m(x)
    assert out.recon.shape == x.shape
    assert out.code.shape == (5, m.latent_dim)
    assert m.decode(m.encode(x)).shape == x.shape


@pytest.mark.parametrize("name", aekit.list_models())
def test_every_parameter_gets_a_gradient(name):
    m = make(name)
    x = torch.rand(6, *SHAPE)
    loss = sum(m.loss_terms(m(x), x, x, "mse").values())
    loss.backward()
    missing = [
        n
        for n, p in m.named_parameters()
        if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)
    ]
    assert not missing, f"no gradient for {missing}"


@pytest.mark.parametrize("name", aekit.list_models())
def test_one_step_lowers_the_loss_on_a_fixed_batch(name):
    m = make(name)
    x = torch.rand(16, *SHAPE)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    m.train()
    # the loss the step descends: train mode (batch statistics), and the same noise draws
    # (dropout, a VAE's sample) before and after, from the same seed
    torch.manual_seed(1)
    before = sum(m.loss_terms(m(x), x, x, "mse").values())
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        torch.manual_seed(1)
        after = sum(m.loss_terms(m(x), x, x, "mse").values())
    assert m.training and after.item() < before.item()


@pytest.mark.parametrize("name", aekit.list_models())
def test_save_then_load_gives_identical_outputs(name, tmp_path):
    import json

    m = make(name).eval()
    x = torch.rand(3, *SHAPE)
    save_weights(m, tmp_path / "model.safetensors")
    cfg = {k: v for k, v in __import__("dataclasses").asdict(m.config).items()}
    (tmp_path / "config.json").write_text(
        json.dumps(
            {"model": {"name": name, **cfg}, "input_shape": list(SHAPE), "pixel_range": "01"}
        )
    )
    m2 = load_model(tmp_path)
    torch.manual_seed(0)
    a = m(x).recon
    torch.manual_seed(0)
    b = m2(x).recon
    assert torch.equal(a, b)


def test_unknown_model_name_lists_the_valid_ones():
    with pytest.raises(aekit.ConfigError, match="choose one of: .*mlp"):
        aekit.create_model("nope")


def test_unknown_model_key_lists_valid_keys():
    with pytest.raises(aekit.ConfigError, match="valid keys: .*latent_dim"):
        aekit.create_model("mlp", latent=3)


@pytest.mark.parametrize("name", ["mlp", "conv", "linear"])
def test_latent_size_must_be_positive(name):
    with pytest.raises(aekit.ConfigError, match="latent_dim"):
        aekit.create_model(name, SHAPE, latent_dim=0)


def test_tutorial_architecture_784_128_64_12_3_is_expressible():
    m = aekit.create_model("mlp", (1, 28, 28), "-11", hidden=[128, 64, 12], latent_dim=3)
    linears = [mod for mod in m.modules() if isinstance(mod, torch.nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [
        (784, 128),
        (128, 64),
        (64, 12),
        (12, 3),
        (3, 12),
        (12, 64),
        (64, 128),
        (128, 784),
    ]
    assert isinstance(m.decoder[1], torch.nn.Tanh)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 17, 23), (1, 8, 8)])
@pytest.mark.parametrize("pool", [False, True])
def test_conv_decoder_retraces_any_input_size(shape, pool):
    m = aekit.create_model("conv", shape, pool=pool, channels=[8, 16])
    assert m(torch.rand(2, *shape)).recon.shape == (2, *shape)
    assert any(isinstance(mod, torch.nn.ConvTranspose2d) for mod in m.decoder)


def test_summary_lists_layers_shapes_and_total():
    m = aekit.create_model("mlp", (1, 28, 28), hidden=[128], latent_dim=8)
    text = aekit.model_summary(m)
    total = sum(p.numel() for p in m.parameters())
    assert f"total parameters: {total:,}" in text
    assert "(B, 128)" in text and "(B, 1, 28, 28)" in text


def test_tanh_layer_equals_torch_tanh_with_its_gradient():
    from aekit.layers.blocks import Tanh

    x = (torch.randn(64, 784, dtype=torch.float64) * 4).requires_grad_()
    y = Tanh()(x)
    assert torch.allclose(y, torch.tanh(x), atol=1e-12)
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.allclose(g, 1 - torch.tanh(x) ** 2, atol=1e-12)
    x32 = torch.linspace(-20, 20, 10001)
    assert (Tanh()(x32) - torch.tanh(x32)).abs().max() < 5e-7
