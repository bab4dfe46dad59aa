"""Loss curves from a run's metrics.jsonl records."""

from __future__ import annotations

from aekit.viz._mpl import Figure


def loss_curves(records: list[dict], log_scale: bool = True) -> Figure:
    """Train loss per step (faint), train and validation loss per epoch, and each extra loss term."""
    epochs = [r for r in records if "epoch_end" in r]
    steps = [r for r in records if "step" in r and "loss" in r and "epoch_end" not in r]
    terms = sorted(
        {k[6:] for r in epochs for k in r if k.startswith("train_") and k != "train_loss"}
    )
    ncols = 1 + (1 if len(terms) > 1 else 0)
    fig = Figure(figsize=(6 * ncols, 4))
    ax = fig.add_subplot(1, ncols, 1)
    if steps:
        ax.plot(
            [r["epoch_float"] for r in steps],
            [r["loss"] for r in steps],
            alpha=0.3,
            lw=0.8,
            label="train (step)",
        )
    if epochs:
        ex = [r["epoch"] for r in epochs]
        ax.plot(ex, [r["train_loss"] for r in epochs], "o-", label="train (epoch)")
        if any("val_loss" in r for r in epochs):
            ax.plot(ex, [r.get("val_loss", float("nan")) for r in epochs], "s-", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if log_scale:
        ax.set_yscale("log")
    ax.set_title("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    if ncols == 2:
        ax2 = fig.add_subplot(1, 2, 2)
        for t in terms:
            ax2.plot(
                [r["epoch"] for r in epochs],
                [r[f"train_{t}"] for r in epochs],
                "o-",
                label=f"train {t}",
            )
            if any(f"val_{t}" in r for r in epochs):
                ax2.plot(
                    [r["epoch"] for r in epochs],
                    [r.get(f"val_{t}", float("nan")) for r in epochs],
                    "--",
                    label=f"val {t}",
                )
        ax2.set_xlabel("epoch")
        ax2.set_title("loss terms")
        ax2.legend()
        ax2.grid(alpha=0.3)
    fig.tight_layout()
    return fig
