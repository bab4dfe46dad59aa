"""report.html: one self-contained page (figures embedded as data URIs, no network) with the
metrics beside the PCA baseline, every figure, the config, the model summary and the log."""

from __future__ import annotations

import base64
import html
import json
import logging
from pathlib import Path
from typing import Any

from aekit.errors import AekitError
from aekit.evaluation.evaluate import metrics_table
from aekit.report.figures import KINDS, RunFigures
from aekit.run import MODEL_SUMMARY, PLOTS, REPORT, Run, as_run, atomic_write_text

log = logging.getLogger(__name__)

CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em} h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-top:.6em}
table{border-collapse:collapse;font-size:.9em} td,th{border:1px solid #ddd;padding:3px 8px;
text-align:right} th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.8em}
figure{display:inline-block;margin:.5em;vertical-align:top} img{max-width:100%}
figcaption{font-size:.85em;color:#555} .note{color:#a60}
"""


def _table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows[1:]
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _embed(path: Path) -> str:
    mime = "image/gif" if path.suffix == ".gif" else "image/png"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img src="data:{mime};base64,{data}" alt="{html.escape(path.stem)}">'
        f"<figcaption>{html.escape(path.name)}</figcaption></figure>"
    )


def training_log_rows(records: list[dict]) -> list[list[str]]:
    """One row per epoch: epoch, step, every train_/val_ term, learning rate, seconds."""
    epochs = [r for r in records if r.get("epoch_end")]
    if not epochs:
        return [["epoch"]]
    terms = [k for k in epochs[-1] if k.startswith(("train_", "val_"))]
    rows = [["epoch", "step", *terms, "lr", "time (s)"]]
    for r in epochs:
        vals = [f"{r[k]:.5g}" if isinstance(r.get(k), float) else str(r.get(k, "")) for k in terms]
        rows.append(
            [
                str(r["epoch"]),
                str(r.get("step", "")),
                *vals,
                f"{r.get('lr', 0):.3g}",
                str(r.get("time_s", "")),
            ]
        )
    return rows


def write_report(
    run: Run | str | Path,
    model=None,
    evaluation: dict[str, Any] | None = None,
    extra_kinds: list[str] = (),
    kinds: tuple[str, ...] = KINDS,
) -> Path:
    """Write every figure kind to plots/ and run_dir/report.html embedding them; returns its path.

    ``evaluation``: a :meth:`aekit.Run.evaluate` result (default: eval.json, computed when
    missing). Kinds that do not apply to the run are listed with the reason.
    """
    run = as_run(run, model)
    run_dir, info = run.path, run.info
    figs = RunFigures(run)
    if evaluation is None:
        evaluation = run.evaluation() or run.evaluate()
    files: list[Path] = []
    notes: list[str] = []
    for kind in [*kinds, *[k for k in extra_kinds if k not in kinds]]:
        try:
            files += figs.write(kind)
        except AekitError as e:
            notes.append(f"{kind}: {e}")
    files += sorted(p for p in (run_dir / PLOTS).glob("recon_epoch_*.png") if p not in files)[-1:]

    r = info.get("result", {})
    d = info["data"]
    title = f"{run_dir.name}: {info['model']['name']} on {d['name']}"
    overview = [
        ["", ""],
        ["model", info["model"]["name"]],
        ["parameters", f"{info.get('parameters', 0):,}"],
        ["input shape", str(info["input_shape"])],
        ["latent size", str(info["model"].get("latent_dim", ""))],
        ["pixel range", info.get("pixel_range", "")],
        ["data", f"{d['name']}: {d['n_train']} train / {d['n_val']} validation"],
        ["epochs / steps", f"{r.get('epochs')} / {r.get('steps')}"],
        ["training time", f"{r.get('train_seconds')} s on {info.get('device')}"],
        ["created", info.get("created", "")],
    ]
    summary = run_dir / MODEL_SUMMARY
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        _table(overview),
        f"<h2>Metrics</h2><p>{html.escape(evaluation.get('dataset', ''))} "
        f"{html.escape(str(evaluation.get('split', '')))} split, "
        f"{evaluation.get('n_images')} images, pixels in [0, 1]; PCA with the same number of "
        "components, fitted on the same training data.</p>",
        _table(metrics_table(evaluation)),
        "<h2>Figures</h2>",
        *[_embed(p) for p in files],
        *[f"<p class='note'>{html.escape(n)}</p>" for n in notes],
        "<h2>Training log</h2>",
        _table(training_log_rows(run.metrics())),
        "<h2>Model summary</h2><pre>"
        + html.escape(summary.read_text() if summary.is_file() else "", quote=False)
        + "</pre>",
        "<h2>Config</h2><pre>"
        + html.escape(json.dumps(info.get("config", {}), indent=2), quote=False)
        + "</pre>",
        "</body></html>",
    ]
    out = run_dir / REPORT
    atomic_write_text(out, "\n".join(parts))
    return out
