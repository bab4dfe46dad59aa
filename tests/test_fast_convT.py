"""FastConvTranspose2d computes what nn.ConvTranspose2d computes, and only where it may."""

from __future__ import annotations

import itertools
import logging

import pytest
import torch
from conftest import quick
from torch import nn

import aekit
from aekit.layers import convt
from aekit.layers.convt import FastConvTranspose2d, use_fast_conv_transpose

CL = torch.channels_last

# (C_in, C_out, kernel, stride, padding, output_padding, dilation, groups): C_out 1 with
# C_in >= 9 takes the matrix-product forward, the others oneDNN's forward
SHAPES = [
    (9, 1, 3, 2, 1, 1, 1, 1),  # a grayscale decoder's last layer
    (16, 1, 4, 2, 1, 0, 1, 1),
    (12, 1, (2, 3), (3, 2), (0, 1), (2, 1), 1, 1),
    (18, 2, 3, 1, 2, 0, 2, 1),
    (9, 1, 3, 2, 0, 1, 2, 1),
    (4, 6, 3, 2, 1, 1, 1, 1),  # a middle layer: oneDNN forward, convolution backward
    (4, 6, 4, 2, 1, 0, 1, 2),
    (6, 3, 3, 1, 1, 0, 1, 1),
    (5, 3, 3, 3, 2, 2, 1, 1),
]


def pair(shape, bias: bool, channels_last: bool, dtype=torch.float32):
    """(nn.ConvTranspose2d, FastConvTranspose2d) with the same weights."""
    cin, cout, k, s, p, op, d, g = shape
    torch.manual_seed(0)
    ref = nn.ConvTranspose2d(cin, cout, k, s, p, op, groups=g, bias=bias, dilation=d)
    fast = FastConvTranspose2d(cin, cout, k, s, p, op, groups=g, bias=bias, dilation=d)
    fast.load_state_dict(ref.state_dict())
    fmt = CL if channels_last else torch.contiguous_format
    return ref.to(dtype, memory_format=fmt), fast.to(dtype, memory_format=fmt)


def grads(m: nn.Module, x: torch.Tensor):
    """The output and the gradients of the input and of every parameter, for a fixed output
    gradient."""
    x = x.clone().requires_grad_()
    y = m(x)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=y.dtype)
    return [y, *torch.autograd.grad(y, [x, *m.parameters()], g)]


@pytest.mark.parametrize(
    "shape,bias,channels_last", list(itertools.product(SHAPES, [True, False], [True, False]))
)
def test_outputs_and_gradients_equal_nn_convtranspose2d(shape, bias, channels_last):
    ref, fast = pair(shape, bias, channels_last)
    x = torch.randn(3, shape[0], 5, 6, generator=torch.Generator().manual_seed(2))
    if channels_last:
        x = x.contiguous(memory_format=CL)
    assert fast._fast_dtype(x) == torch.float32
    for a, b in zip(grads(fast, x), grads(ref, x), strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * b.abs().max().item())
    assert fast.fast_ok is True  # its run-time check passed and it stayed on the fast path


def test_the_output_keeps_the_input_layout():
    _, fast = pair((18, 2, 3, 2, 1, 1, 1, 1), True, True)  # matrix-product forward, 2 channels
    x = torch.randn(2, 18, 4, 4).contiguous(memory_format=CL)
    assert fast(x).is_contiguous(memory_format=CL)
    assert fast(x.contiguous()).is_contiguous()


@pytest.mark.parametrize("gemm", [True, False])
def test_gradcheck_in_float64(gemm):
    _, fast = pair((9, 1, 3, 2, 1, 1, 1, 1) if gemm else (3, 2, 3, 2, 1, 1, 1, 1), True, False)
    fast = fast.double()
    assert fast._gemm() == gemm
    x = torch.randn(2, fast.in_channels, 3, 4, dtype=torch.float64, requires_grad=True)
    w = fast.weight.detach().clone().requires_grad_()
    b = fast.bias.detach().clone().requires_grad_()

    def f(x, w, b):
        return convt._ConvTranspose2dFn.apply(x, w, b, fast, gemm)

    assert torch.autograd.gradcheck(f, (x, w, b))
    assert torch.autograd.gradgradcheck(f, (x, w, b))  # its backward is differentiable too


@pytest.mark.parametrize("shape,channels_last", list(itertools.product(SHAPES, [True, False])))
def test_under_bf16_autocast_it_computes_what_autocast_computes(shape, channels_last):
    ref, fast = pair(shape, True, channels_last)
    x = torch.randn(3, shape[0], 5, 6, generator=torch.Generator().manual_seed(2))
    if channels_last:
        x = x.contiguous(memory_format=CL)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert fast._fast_dtype(x) == torch.bfloat16
        got, want = grads(fast, x), grads(ref, x)
    for a, b in zip(got, want, strict=True):
        assert (a.dtype, a.shape) == (b.dtype, b.shape)  # bf16 output, float32 gradients
        # each side rounds once to bf16's 8-bit mantissa (~0.4%); a wrong tap is off by ~100%
        torch.testing.assert_close(a.float(), b.float(), rtol=0, atol=2e-2 * b.abs().max().item())
    assert fast.fast_ok is True


def test_falls_back_to_nn_convtranspose2d_outside_cpu_autograd(monkeypatch):
    ref, fast = pair((9, 1, 3, 2, 1, 1, 1, 1), True, True)
    x = torch.randn(2, 9, 4, 4)
    calls = []
    apply = convt._ConvTranspose2dFn.apply
    monkeypatch.setattr(convt._ConvTranspose2dFn, "apply", lambda *a: calls.append(1) or apply(*a))
    with torch.no_grad():
        assert torch.equal(fast(x), ref(x))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert torch.equal(fast(x), ref(x))  # inference under autocast: oneDNN's kernels
    with torch.autocast("cpu", dtype=torch.float16):
        assert torch.equal(fast(x), ref(x))  # fp16 autocast: not a dtype the fast path takes
    assert torch.equal(fast.double()(x.double()), ref.double()(x.double()))
    assert torch.equal(fast.float()(x, output_size=[8, 8]), ref.float()(x, output_size=[8, 8]))
    assert calls == []
    fast(x)
    assert calls  # and float32 CPU autograd takes the fast path


@pytest.mark.parametrize("bf16", [False, True])
def test_a_fast_path_that_differs_is_refused_at_run_time(monkeypatch, caplog, bf16):
    ref, fast = pair((9, 1, 3, 2, 1, 1, 1, 1), True, False)

    def wrong(x, weight, bias, y_hw, conf):  # a forward with a bug: all zeros
        return torch.zeros(x.shape[0], weight.shape[1], *y_hw, dtype=x.dtype)

    monkeypatch.setattr(convt, "_gemm_forward", wrong)
    x = torch.randn(2, 9, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        with caplog.at_level(logging.WARNING, logger="aekit.layers.convt"):
            y = fast(x)
        assert fast.fast_ok is False
        assert "differs from nn.ConvTranspose2d" in caplog.text
        torch.testing.assert_close(y, ref(x))
        torch.testing.assert_close(fast(x), ref(x))  # and it stays on nn.ConvTranspose2d


def test_turning_a_model_fast_keeps_its_state_dict_and_outputs():
    torch.manual_seed(0)
    model = aekit.create_model("conv", (1, 28, 28), channels=[16, 8]).eval()  # BN stats fixed
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(4, 1, 28, 28)
    ref = grads(model.decoder, model.encode(x).detach())
    assert use_fast_conv_transpose(model) == 2
    assert all(
        type(m) is FastConvTranspose2d for m in model.decoder if isinstance(m, nn.ConvTranspose2d)
    )
    after = model.state_dict()
    assert list(after) == list(before)
    assert all(torch.equal(after[k], v) for k, v in before.items())
    for a, b in zip(grads(model.decoder, model.encode(x).detach()), ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    fresh = aekit.create_model("conv", (1, 28, 28), channels=[16, 8])
    fresh.load_state_dict(after)  # a run folder written with the fast layers loads as before


def test_torch_export_of_a_fast_model_equals_the_model():
    torch.manual_seed(0)
    model = aekit.create_model("conv", (1, 28, 28), channels=[16, 8]).eval()
    use_fast_conv_transpose(model)
    x = torch.rand(2, 1, 28, 28)
    program = torch.export.export(model.decoder, (model.encode(x).detach(),))
    code = str(program.graph_module.code)
    assert code.count("aten.conv_transpose2d") == 2  # nn.ConvTranspose2d's op, not the fast path's
    z = torch.randn(2, model.latent_dim)  # the example batch size (export specialises it)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(z), model.decoder(z))


@pytest.mark.parametrize("on", [True, False])
def test_the_trainer_switch_turns_the_fast_layers_on_and_off(runs, on):
    model = {"name": "conv", "channels": [16, 8], "latent_dim": 4}  # both kinds of fast layer
    train = {"fast_conv_transpose": on}
    run = aekit.train(quick(runs, model=model, train=train))
    kinds = {type(m) for m in run.model.modules() if isinstance(m, nn.ConvTranspose2d)}
    assert kinds == ({FastConvTranspose2d} if on else {nn.ConvTranspose2d})
    if on:
        assert all(m.fast_ok for m in run.model.modules() if isinstance(m, FastConvTranspose2d))
    assert run.history[1]["train_loss"] < run.history[0]["train_loss"]
    loaded = aekit.load(run.run_dir)
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).recon, run.model(x).recon)
