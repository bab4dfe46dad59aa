"""The run folder's README.md model card, so config.json + model.safetensors + README.md can be
shared as they are (the layout of Hugging Face's ``save_pretrained``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aekit._registry import model_entry
from aekit.evaluation.evaluate import format_table
from aekit.report.texts import readable_metrics
from aekit.run import CARD, PRIOR, Run, as_run, atomic_write_text


def model_card(run: Run | str | Path, evaluation: dict[str, Any] | None = None) -> str:
    """Markdown: what the model is, its data, its metrics, how to load and use it."""
    run = as_run(run)
    run_dir, info = run.path, run.info
    m, d = info["model"], info["data"]
    name = m["name"]
    try:
        desc = model_entry(name).description
    except Exception:  # a family that is not installed here: the card is still written
        desc = ""
    keys = ", ".join(f"{k}={v}" for k, v in m.items() if k != "name")
    lines = [
        "---",
        "library_name: aekit",
        f"tags: [autoencoder, pytorch, aekit, {name}]",
        f"datasets: [{d['name']}]",
        "---",
        "",
        f"# {run_dir.name}",
        "",
        f"A `{name}` autoencoder ({desc}) trained with aekit {info.get('aekit_version', '')}.",
        "",
        f"- model: `{name}` with {keys}",
        f"- parameters: {info.get('parameters', 0):,}; input {info['input_shape']}, "
        f"pixels in [{'-1' if info.get('pixel_range') == '-11' else '0'}, 1]",
        f"- data: `{d['name']}`, {d['n_train']} training and {d['n_val']} validation samples "
        f"(split seed {d.get('split')})",
        _training_line(run),
        "",
    ]
    if evaluation:
        lines += [
            "## Metrics",
            "",
            f"On {evaluation.get('dataset')} ({evaluation.get('split')} split, "
            f"{evaluation.get('n_images')} images, pixels in [0, 1]); PCA has the same number of "
            "components and was fitted on the same training data.",
            "",
            _markdown_table(readable_metrics(evaluation)),
            "",
        ]
    lines += _use_and_files(run_dir)
    return "\n".join(lines)


def _training_line(run: Run) -> str:
    info, r = run.info, run.result
    if run.unfinished:
        return f"- training: **{run.unfinished}**"
    return (
        f"- training: {r.get('epochs')} epochs, {r.get('steps')} steps, "
        f"{r.get('train_seconds')} s on {info.get('device')}{_precision(run)}; final "
        "validation loss "
        f"{r.get('val_loss', float('nan')):.5g}"
    )


def _precision(run: Run) -> str:
    """ ", in bf16 autocast" where the run did not train in float32."""
    p = run.config.train.precision
    return "" if p == "fp32" else f", in {p} autocast"


def _use_and_files(run_dir: Path) -> list[str]:
    """The card's "Use" and "Files" sections."""
    return [
        "## Use",
        "",
        "```python",
        "import aekit",
        "",
        f'model = aekit.load("{run_dir.name}")  # config.json + model.safetensors, eval mode',
        "z = model.encode(x)  # x: (N, *input_shape) in the model's pixel range",
        "x_hat = model.decode(z)",
        "```",
        "",
        "```bash",
        f"aekit eval {run_dir.name}                      # metrics beside the PCA baseline",
        f"aekit generate {run_dir.name} --n 64 --out samples.png",
        f"aekit reconstruct {run_dir.name} image.png",
        "```",
        "",
        "## Files",
        "",
        "`config.json` (resolved config, model config, data split, results), `model.safetensors` "
        "(weights), `metrics.jsonl` (training log), `eval.json`, `report.html` (all figures), "
        "`plots/`"
        + (
            ", `prior.json` (Gaussian fitted to the training codes)"
            if (run_dir / PRIOR).is_file()
            else ""
        )
        + ".",
        "",
    ]


def _markdown_table(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)


def write_model_card(run: Run | str | Path, evaluation: dict[str, Any] | None = None) -> Path:
    run = as_run(run)
    out = run.path / CARD
    atomic_write_text(out, model_card(run, evaluation))
    return out


__all__ = ["format_table", "model_card", "write_model_card"]
