"""The channels-last bottleneck (layers/flatten.py, use_nhwc_bottleneck) computes what Flatten ->
Linear and Linear -> Unflatten compute, without changing a parameter, and only where it may."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import quick
from torch import nn

import aekit
from aekit.layers import flatten as base
from aekit.layers import use_fast_cpu_layers
from aekit.layers.flatten import Flatten, Unflatten, use_nhwc_bottleneck

CL = torch.channels_last


def models(shape=(3, 12, 10), **kw):
    """(the model, a copy with the channels-last bottleneck), channels-last, same weights."""
    torch.manual_seed(0)
    ref = aekit.create_model("conv", shape, channels=[4, 6], latent_dim=5, **kw)
    ref = ref.to(memory_format=CL)
    swapped = copy.deepcopy(ref)
    assert use_nhwc_bottleneck(swapped) == 2
    return ref, swapped


def step(model, x):
    """The reconstruction, the code and every parameter's gradient for a fixed loss."""
    model.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_()
    out = model(x)
    g = torch.randn(out.recon.shape, generator=torch.Generator().manual_seed(1))
    (out.recon * g).sum().backward()
    return [out.recon, out.code, x.grad, *(p.grad for p in model.parameters())]


@pytest.mark.parametrize("shape", [(3, 12, 10), (1, 9, 7)])
def test_outputs_and_gradients_equal_the_plain_bottleneck(shape):
    ref, swapped = models(shape)
    x = torch.rand(4, *shape).contiguous(memory_format=CL)
    for a, b in zip(step(swapped, x), step(ref, x), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * (1 + b.abs().max().item()))


def test_the_state_dict_is_unchanged_and_loads_into_a_fresh_model():
    ref, swapped = models()
    a, b = swapped.state_dict(), ref.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], v) for k, v in b.items())
    aekit.create_model("conv", (3, 12, 10), channels=[4, 6], latent_dim=5).load_state_dict(a)


def test_no_layout_copy_at_the_bottleneck():
    _, swapped = models()
    seen = {}
    up = swapped.decoder[2]  # the first ConvTranspose2d, after Linear and Unflatten
    up.register_forward_pre_hook(lambda m, inp: seen.update(x=inp[0]) and None)
    x = torch.rand(4, 3, 12, 10).contiguous(memory_format=CL)
    feat = swapped.encoder[:-2](x)  # the last conv block's output, before the flatten
    assert feat.is_contiguous(memory_format=CL)
    step(swapped, x)
    assert seen["x"].is_contiguous(memory_format=CL) and not seen["x"].is_contiguous()


def test_no_grad_and_nchw_inputs_take_the_plain_path():
    ref, swapped = models()
    x = torch.rand(4, 3, 12, 10)
    with torch.no_grad():
        torch.testing.assert_close(swapped(x).recon, ref(x).recon)
        z = torch.randn(2, 5)
        assert swapped.decoder[:2](z).is_contiguous()  # NCHW, as Unflatten gives it
    torch.testing.assert_close(step(swapped, x)[0], step(ref, x)[0])  # NCHW input


def test_only_flatten_linear_and_linear_unflatten_pairs_are_turned():
    seq = nn.Sequential(Flatten(), nn.ReLU(), nn.Linear(4, 4), Unflatten((4,)))
    assert use_nhwc_bottleneck(seq) == 0
    assert [type(m) for m in seq] == [Flatten, nn.ReLU, nn.Linear, Unflatten]
    seq = nn.Sequential(Flatten(), nn.Linear(12, 2), nn.Linear(2, 12), Unflatten((12,)))
    ref = copy.deepcopy(seq)
    assert use_nhwc_bottleneck(seq) == 1  # a 1-D Unflatten is left as it is
    for x in (torch.rand(5, 12), torch.rand(5, 3, 2, 2).contiguous(memory_format=CL)):
        torch.testing.assert_close(seq(x.requires_grad_()), ref(x))


def test_torch_export_of_a_turned_model_equals_the_model():
    ref, swapped = models()
    swapped.eval()
    x = torch.rand(2, 3, 12, 10).contiguous(memory_format=CL)
    z = torch.randn(2, 5)
    encoder = torch.export.export(swapped.encoder, (x,)).module()
    decoder = torch.export.export(swapped.decoder, (z,)).module()
    ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(encoder(x), ref.encoder(x))
        torch.testing.assert_close(decoder(z), ref.decoder(z))


def test_the_trainer_turns_the_bottleneck_of_a_channels_last_cpu_model(runs):
    model = {"name": "conv", "channels": [4, 6], "latent_dim": 3}
    run = aekit.train(quick(runs, model=model))
    kinds = {type(m) for m in run.model.modules()}
    assert {base._FlattenLinear, base._UnflattenLinear} <= kinds
    assert run.history[1]["train_loss"] < run.history[0]["train_loss"]
    loaded = aekit.load(run.run_dir)
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).recon, run.model(x).recon)
    off = aekit.train(quick(runs, model=model, train={"channels_last": False}))
    assert base._FlattenLinear not in {type(m) for m in off.model.modules()}


def test_the_cpu_training_form_keeps_every_parameter_and_says_what_it_turned():
    torch.manual_seed(0)
    conv = aekit.create_model("conv", (1, 28, 28), channels=[4, 6], latent_dim=3)
    params = {k: p for k, p in conv.named_parameters()}
    state = {k: v.clone() for k, v in conv.state_dict().items()}
    done = use_fast_cpu_layers(conv)
    assert done == {"channels_last": 4, "bottleneck": 2, "conv_transpose": 2}
    assert all(p is params[k] for k, p in conv.named_parameters())  # optimisers keep working
    assert all(torch.equal(v, state[k]) for k, v in conv.state_dict().items())
    assert conv.encoder[0].weight.is_contiguous(memory_format=CL)
    mlp = aekit.create_model("mlp", (1, 28, 28))
    assert use_fast_cpu_layers(mlp) == {"channels_last": 0, "bottleneck": 0, "conv_transpose": 0}
    off = aekit.create_model("conv", (1, 28, 28), channels=[4, 6], latent_dim=3)
    assert use_fast_cpu_layers(off, channels_last=False) == {
        "channels_last": 0,
        "bottleneck": 0,
        "conv_transpose": 2,
    }
