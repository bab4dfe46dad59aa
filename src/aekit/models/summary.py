"""A printed model summary: each layer, its output shape and parameter count, and totals."""

from __future__ import annotations

import torch
from torch import nn

from aekit.models.base import eval_mode


def summary_rows(model: nn.Module, input_shape: tuple[int, ...]) -> list[tuple[str, str, int]]:
    """(layer path and type, output shape, parameters) for each leaf layer, in call order."""
    rows: list[tuple[str, str, int]] = []
    hooks = []
    names = {m: n for n, m in model.named_modules()}

    def hook(mod, _inp, out):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else "-"
        params = sum(p.numel() for p in mod.parameters(recurse=False))
        rows.append((f"{names[mod]} ({type(mod).__name__})", str(shape), params))

    for m in model.modules():
        if not list(m.children()):
            hooks.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad(), eval_mode(model):
            model(torch.zeros(2, *input_shape, device=next(model.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
    return [(n, s.replace("(2,", "(B,"), p) for n, s, p in rows]


def model_summary(
    model: nn.Module, input_shape: tuple[int, ...] | None = None, trainable: bool = True
) -> str:
    """The summary as a fixed-width table; ``trainable=False`` leaves out the count of
    parameters that require gradients (a loaded run's are all frozen for inference)."""
    shape = input_shape or model.input_shape
    rows = summary_rows(model, shape)
    w = max(len(r[0]) for r in rows) + 2
    lines = [f"{'layer':<{w}}{'output shape':<22}{'params':>12}", "-" * (w + 34)]
    lines.append(f"{'input':<{w}}{str((-1, *shape)).replace('(-1,', '(B,'):<22}{'':>12}")
    lines += [f"{n:<{w}}{s:<22}{p:>12,}" for n, s, p in rows]
    total = sum(p.numel() for p in model.parameters())
    count = f"total parameters: {total:,}"
    if trainable:
        count += f"  trainable: {sum(p.numel() for p in model.parameters() if p.requires_grad):,}"
    lines += ["-" * (w + 34), count]
    return "\n".join(lines)
