"""Loss curves from a run's metrics.jsonl records: the total loss, and each term on its own axis."""

from __future__ import annotations

from aekit.viz._mpl import Figure
from aekit.viz.palette import LINES

#: readable names of the loss terms models log (train_<term>, val_<term>)
TERM_NAMES = {
    "recon": "reconstruction term",
    "kl": "KL term",
    "sparsity": "sparsity penalty",
    "contractive": "contractive penalty",
}


def loss_curves(records: list[dict], log_scale: bool = True, unit: str = "") -> Figure:
    """Train loss per step (faint), train and validation loss per epoch; when the loss has
    several terms (a VAE's reconstruction + KL), one more panel per term, each with its own
    y axis. ``unit``: what the loss measures, e.g. "nats per image" (the axis label)."""
    epochs = [r for r in records if "epoch_end" in r]
    steps = [r for r in records if "step" in r and "loss" in r and "epoch_end" not in r]
    terms = sorted(
        {k[6:] for r in epochs for k in r if k.startswith("train_") and k != "train_loss"}
    )
    terms = (["recon"] if "recon" in terms else []) + [t for t in terms if t != "recon"]
    shown = terms[:3] if len(terms) > 1 else []
    ncols = 1 + len(shown)
    fig = Figure(figsize=(4.6 * ncols, 3.8))
    ax = fig.add_subplot(1, ncols, 1)
    if steps:
        ax.plot(
            [r["epoch_float"] for r in steps],
            [r["loss"] for r in steps],
            alpha=0.3,
            lw=0.8,
            color=LINES[0],
            label="train (each step)",
        )
    _epoch_lines(ax, epochs, "loss")
    _finish(ax, "Total loss = sum of the terms" if shown else "Loss", unit, log_scale)
    for i, t in enumerate(shown):
        axt = fig.add_subplot(1, ncols, i + 2)
        _epoch_lines(axt, epochs, t)
        name = TERM_NAMES.get(t, f"{t} term")
        _finish(axt, name[0].upper() + name[1:], unit, log_scale and t == "recon")
    fig.tight_layout()
    return fig


def _epoch_lines(ax, epochs: list[dict], key: str) -> None:
    """Train and validation ``key`` per epoch; markers only while they do not crowd."""
    if not epochs:
        return
    ex = [r["epoch"] for r in epochs]
    mark = len(epochs) <= 50
    train = [r.get(f"train_{key}", float("nan")) for r in epochs]
    ax.plot(ex, train, "o-" if mark else "-", ms=3, color=LINES[0], label="train (epoch mean)")
    if any(f"val_{key}" in r for r in epochs):
        val = [r.get(f"val_{key}", float("nan")) for r in epochs]
        ax.plot(ex, val, "s--" if mark else "--", ms=3, color=LINES[1], label="validation")


def _finish(ax, title: str, unit: str, log_scale: bool) -> None:
    ax.set_xlabel("epoch")
    ax.set_ylabel(unit or "loss")
    if log_scale:
        ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
