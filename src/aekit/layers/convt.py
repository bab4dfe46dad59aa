"""ConvTranspose2d with a faster CPU training step: the same parameters, state_dict and outputs
as ``nn.ConvTranspose2d``, computed with the kernels that run fastest on the CPU.

A transposed convolution is the adjoint of the convolution with the same weight, so its input
gradient is that convolution, ``F.conv2d(grad_out, weight, stride, padding)``, and its weight
gradient is the convolution's weight gradient with input and output swapped. oneDNN's own
deconvolution backward took longer than these two convolution kernels on the shapes measured,
and its forward to few output channels (a grayscale decoder's last layer) took several times
longer than one matrix product plus k*k strided adds (col2im). benchmarks/RESULTS.md,
"Conv: faster transposed convolutions", has the figures.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)


def _span(n_in: int, n_out: int, s: int, p: int, d: int, k: int) -> tuple[slice, slice]:
    """(input slice, output slice) of one kernel tap along one axis: input i feeds output
    s*i - p + d*k, for the i whose output lies in [0, n_out)."""
    off = d * k - p  # output of input 0
    i0 = max(0, -(off // s)) if off < 0 else 0
    i1 = min(n_in, (n_out - 1 - off) // s + 1) if n_out - 1 - off >= 0 else 0
    if i1 <= i0:
        return slice(0, 0), slice(0, 0)
    o0 = s * i0 + off
    return slice(i0, i1), slice(o0, o0 + s * (i1 - i0 - 1) + 1, s)


def _taps(x_hw, y_hw, kernel, stride, padding, dilation):
    """Each kernel tap (ky, kx) with its (input rows, input cols, output rows, output cols)."""
    for ky in range(kernel[0]):
        iy, oy = _span(x_hw[0], y_hw[0], stride[0], padding[0], dilation[0], ky)
        for kx in range(kernel[1]):
            ix, ox = _span(x_hw[1], y_hw[1], stride[1], padding[1], dilation[1], kx)
            if iy.stop > iy.start and ix.stop > ix.start:
                yield ky, kx, iy, ix, oy, ox


def _gemm_forward(x, weight, bias, y_hw, conf):
    """conv_transpose2d as one product W^T x and k*k strided adds; for few output channels."""
    b, c, h, w = x.shape
    cout, (kh, kw) = weight.shape[1], weight.shape[2:]
    xt = x.transpose(0, 1).reshape(c, -1)  # (C, B*H*W); a view of a channels-last x
    wt = weight.permute(2, 3, 1, 0).reshape(kh * kw * cout, c)
    t = (wt @ xt).view(kh, kw, cout, b, h, w)  # each tap's contribution, pixel by pixel
    acc = torch.promote_types(x.dtype, torch.float32)  # bf16: one rounding, as oneDNN's
    if bias is None:
        y = x.new_zeros(cout, b, *y_hw, dtype=acc)
    else:
        y = bias.to(acc).view(-1, 1, 1, 1).expand(cout, b, *y_hw).clone()
    for ky, kx, iy, ix, oy, ox in _taps((h, w), y_hw, (kh, kw), *conf):
        y[:, :, oy, ox] += t[ky, kx, :, :, iy, ix]
    return y.to(x.dtype).transpose(0, 1)  # (B, C_out, H_out, W_out)


def _conv_backward(x, weight, gy, needs, conf, groups):
    """Input and weight gradients of conv_transpose2d on the convolution kernels."""
    stride, padding, dilation = conf
    gx = gw = None
    if needs[0]:  # the adjoint of a transposed convolution is the convolution
        gx = F.conv2d(gy, weight, None, stride, padding, dilation, groups)
        gx = gx[:, :, : x.shape[2], : x.shape[3]]
    if needs[1]:  # the weight gradient of the mirror convolution gy -> x
        mask = [False, True, False]
        gw = torch.ops.aten.convolution_backward(
            x, gy, weight, None, stride, padding, dilation, False, [0, 0], groups, mask
        )[1]
    return gx, gw


class _ConvTranspose2dFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, m: FastConvTranspose2d, gemm: bool):
        conf = (m.stride, m.padding, m.dilation)
        if gemm:
            y_hw = [
                (n - 1) * s - 2 * p + d * (k - 1) + op + 1
                for n, s, p, d, k, op in zip(
                    x.shape[2:], m.stride, m.padding, m.dilation, m.kernel_size, m.output_padding
                )
            ]
            y = _gemm_forward(x, weight, bias, y_hw, conf)
            if y.shape[1] > 1:  # (C_out, B, ...) memory: give it the input's layout
                cl = x.is_contiguous(memory_format=torch.channels_last)
                y = y.contiguous(
                    memory_format=torch.channels_last if cl else torch.contiguous_format
                )
        else:
            y = F.conv_transpose2d(
                x, weight, bias, m.stride, m.padding, m.output_padding, m.groups, m.dilation
            )
        ctx.save_for_backward(x, weight)
        ctx.conf, ctx.groups, ctx.has_bias = conf, m.groups, bias is not None
        return y

    @staticmethod
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        gy = gy.to(x.dtype)  # bf16 autocast: the incoming gradient may be float32
        needs = ctx.needs_input_grad
        gx, gw = _conv_backward(x, weight, gy, needs, ctx.conf, ctx.groups)
        gb = gy.sum((0, 2, 3)) if ctx.has_bias and needs[2] else None
        return gx, gw, gb, None, None


#: the largest accepted |fast - nn.ConvTranspose2d| in the run-time check, relative to the
#: largest entry: float32 sums of a few hundred products differ by ~1e-6 of it; bfloat16
#: results, each rounded once to 8 bits of mantissa, by up to ~1e-2 (a wrong tap: ~1)
RTOL = {torch.float32: 1e-4, torch.bfloat16: 3e-2}


class FastConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` with a faster CPU training path: the same parameters and
    state_dict, outputs and gradients equal to float rounding. Layers with few output channels
    (k_h * k_w * C_out <= C_in, one group) compute their forward as a matrix product; the
    others keep oneDNN's forward; both take their gradients from the convolution kernels.

    Only under autograd (grad enabled) on a CPU tensor, in float32 or under bf16 autocast
    (where it computes in bfloat16, as autocast's own transposed convolution does); anywhere
    else (no_grad or inference, CUDA, other dtypes, torch.compile/export, TorchScript,
    ``output_size=``) it is ``nn.ConvTranspose2d`` itself. Its first fast call compares itself
    with ``nn.ConvTranspose2d`` on two samples of the batch (output, input, weight and bias
    gradients); on any difference it logs a warning and is ``nn.ConvTranspose2d`` from then on.
    """

    fast_ok: bool | None = None  # None: not checked yet; an instance attribute once checked

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        dtype = None if output_size is not None else self._fast_dtype(x)
        if dtype is not None and self.fast_ok is None:
            self.fast_ok = self._check(x[:2].detach(), dtype)
        if dtype is None or not self.fast_ok:
            return super().forward(x, output_size)
        # under bf16 autocast: the casts autocast would make; autograd casts the gradients back
        with torch.autocast("cpu", enabled=False):
            x, w, b = (t if t is None else t.to(dtype) for t in (x, self.weight, self.bias))
            return _ConvTranspose2dFn.apply(x, w, b, self, self._gemm())

    def _gemm(self) -> bool:
        """Whether the forward is one matrix product (few output channels; see the class)."""
        taps = self.kernel_size[0] * self.kernel_size[1]
        return self.groups == 1 and taps * self.out_channels <= self.in_channels

    def _fast_dtype(self, x: torch.Tensor) -> torch.dtype | None:
        """The dtype the fast path computes ``x`` in, or None where it does not apply."""
        applies = (
            self.fast_ok is not False
            and x.device.type == "cpu"
            and x.dim() == 4
            and x.numel() > 0
            and self.padding_mode == "zeros"
            and all(op < s for op, s in zip(self.output_padding, self.stride))
            and torch.is_grad_enabled()
            and not torch.compiler.is_compiling()
            and not torch.jit.is_scripting()
            and not torch.jit.is_tracing()
        )
        if not applies or self.weight.dtype != torch.float32:
            return None
        if not torch.is_autocast_enabled("cpu"):
            return torch.float32 if x.dtype == torch.float32 else None
        dtype = torch.get_autocast_dtype("cpu")
        ok = dtype == torch.bfloat16 and x.dtype in (torch.float32, dtype)
        return dtype if ok else None

    def _check(self, x: torch.Tensor, dtype: torch.dtype) -> bool:
        """Whether the fast path's output and gradients on ``x`` in ``dtype`` equal
        nn.ConvTranspose2d's."""
        with torch.autocast("cpu", enabled=False):
            params = [
                p.detach().to(dtype).requires_grad_()
                for p in (self.weight, self.bias)
                if p is not None
            ]
            w, b = params[0], params[1] if len(params) > 1 else None
            xs = [x.to(dtype).requires_grad_(), x.to(dtype).requires_grad_()]
            m = (self.stride, self.padding, self.output_padding, self.groups, self.dilation)
            want = F.conv_transpose2d(xs[0], w, b, *m)
            got = _ConvTranspose2dFn.apply(xs[1], w, b, self, self._gemm())
            g = want.detach() + 1  # a deterministic output gradient: no random draw
            ref = torch.autograd.grad(want, [xs[0], *params], g)
            out = torch.autograd.grad(got, [xs[1], *params], g)
        names = ["output", "input gradient", "weight gradient", "bias gradient"]
        for name, a, r in zip(names, [got, *out], [want, *ref]):
            err, scale = (a - r).abs().max().item(), r.abs().max().item()
            if not err <= RTOL[dtype] * scale + 1e-30:
                log.warning(
                    "%s: the fast CPU path's %s differs from nn.ConvTranspose2d's by %.3g "
                    "(largest entry %.3g, %s); this layer uses nn.ConvTranspose2d",
                    self,
                    name,
                    err,
                    scale,
                    str(dtype).removeprefix("torch."),
                )
                return False
        return True


def use_fast_conv_transpose(model: nn.Module) -> int:
    """Turn every ``nn.ConvTranspose2d`` in ``model`` into a :class:`FastConvTranspose2d`, in
    place (the same parameter tensors, so optimisers and state_dicts are unaffected); returns
    how many were turned."""
    n = 0
    for mod in model.modules():
        if type(mod) is nn.ConvTranspose2d:
            mod.__class__ = FastConvTranspose2d
            n += 1
    return n
