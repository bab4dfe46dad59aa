"""report.html: one self-contained page (figures embedded as data URIs, no network, no script)
that explains itself: what the model is, the headline numbers in words, the metrics beside the
PCA baseline, every figure with a title and how to read it, and (folded) the log and config."""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import struct
from pathlib import Path
from typing import Any

from aekit.errors import AekitError
from aekit.report.figures import KINDS, RunFigures
from aekit.report.texts import (
    GLOSSARY,
    figure_text,
    headline,
    log_header,
    model_paragraph,
    readable_metrics,
)
from aekit.run import MODEL_SUMMARY, PLOTS, REPORT, Run, as_run, atomic_write_text

log = logging.getLogger(__name__)

#: a training log longer than this many epochs starts folded
OPEN_LOG_EPOCHS = 20

CSS = """
body{font-family:system-ui,sans-serif;max-width:1600px;margin:1.5em auto;padding:0 1.2em;
color:#222;line-height:1.45}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.2em;border-bottom:1px solid #ddd;
padding-top:.6em} .lead{max-width:60em} .headline{font-size:1.05em;max-width:60em}
.cols{display:flex;flex-wrap:wrap;gap:2em;align-items:flex-start}
table{border-collapse:collapse;font-size:.9em} td,th{border:1px solid #ddd;padding:3px 8px;
text-align:right} th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}
dl{font-size:.85em;flex:1;min-width:20em;max-width:48em;margin:0} dt{font-weight:600} dd{margin:0 0 .4em 1em;color:#444}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.8em}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:1.2em}
figure{margin:0;border:1px solid #e4e4e4;border-radius:4px;padding:.7em;background:#fff}
figure img{max-width:100%;height:auto;display:block;margin:0 auto .4em}
@media (min-width:960px){figure.wide{grid-column:span 2}}
figcaption{font-size:.88em;color:#333} figcaption b{display:block;font-size:1.05em;color:#111}
figcaption .file{color:#888;font-size:.85em}
details{margin:.6em 0} summary{cursor:pointer;font-weight:600}
.log{max-height:32em;overflow:auto;display:inline-block} .note{color:#865}
"""


def _table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows[1:]
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _png_width(data: bytes) -> int:
    """Pixel width of a PNG or GIF from its header (0 if neither)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return struct.unpack(">I", data[16:20])[0]
    if data[:3] == b"GIF":
        return struct.unpack("<H", data[6:8])[0]
    return 0


def figure_html(path: Path, variants: list[str]) -> str:
    """One <figure>: the image embedded, its title, how to read it, and its file name."""
    gif = path.suffix == ".gif"
    stem = "animation" if gif else path.stem
    return _figure(path.read_bytes(), stem, variants, f"plots/{path.name}", path.stem)


def _figure(data: bytes, kind: str, variants: list[str], file: str = "", fig_id: str = "") -> str:
    """A <figure> of the PNG/GIF ``data``, titled by its ``kind`` (FIGURES of texts.py);
    ``file``: where it lies in the run folder (none for a page without one)."""
    mime = "image/gif" if data[:3] == b"GIF" else "image/png"
    title, text = figure_text(kind, variants)
    wide = " class='wide'" if _png_width(data) > 900 else ""
    src = base64.b64encode(data).decode("ascii")
    where = f" <span class='file'>{html.escape(file)}</span>" if file else ""
    return (
        f"<figure{wide} id='fig-{html.escape(fig_id or kind)}'>"
        f'<img src="data:{mime};base64,{src}" alt="{html.escape(title)}">'
        f"<figcaption><b>{html.escape(title)}</b>{html.escape(text)}{where}</figcaption></figure>"
    )


def training_log_rows(records: list[dict]) -> list[list[str]]:
    """One row per epoch: epoch, step, every train_/val_ term, learning rate, seconds."""
    epochs = [r for r in records if r.get("epoch_end")]
    if not epochs:
        return [["epoch"]]
    terms = [k for k in epochs[-1] if k.startswith(("train_", "val_"))]
    rows = [["epoch", "step", *map(log_header, terms), "learning rate", "time (s)"]]
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


def _glossary(rows: list[list[str]]) -> str:
    names = " ".join(r[0] for r in rows[1:])
    items = [
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>"
        for k, v in GLOSSARY.items()
        if k in names
    ]
    return f"<dl>{''.join(items)}</dl>" if items else ""


def write_report(
    run: Run | str | Path,
    model=None,
    evaluation: dict[str, Any] | None = None,
    extra_kinds: list[str] = (),
    kinds: tuple[str, ...] = KINDS,
) -> Path:
    """Write every figure kind to plots/ and run_dir/report.html embedding them; returns its path.

    ``evaluation``: a :meth:`aekit.Run.evaluate` result (default: eval.json, computed when
    missing). Kinds that do not apply to the run are listed with the reason; the run's own
    ``run.after`` figures are always drawn, so a rewrite loses none of them.
    """
    run = as_run(run, model)
    figs = RunFigures(run)
    if evaluation is None:
        evaluation = run.evaluation() or run.evaluate()
    after = run.info.get("config", {}).get("run", {}).get("after") or []  # keep run.after's
    extra = [k for k in dict.fromkeys([*extra_kinds, *after]) if k not in kinds]
    files, notes = _write_figures(figs, [*kinds, *extra])
    info = run.info
    title = f"{run.path.name}: {info['model']['name']} on {info['data']['name']}"
    parts = [
        _head(title),
        _intro(run, evaluation),
        _metrics(evaluation),
        _scores(run),
        "<h2>Figures</h2><div class='figs'>",
        *[figure_html(p, _variants(figs)) for p in files],
        "</div>",
        _notes(notes),
        "<h2>Details</h2>",
        _training_log(run.metrics()),
        _folded("Run overview", _table(_overview(info, run.unfinished))),
        _folded("Model summary (layers and shapes)", _pre_file(run.path / MODEL_SUMMARY)),
        _folded(
            "Config (the resolved settings, as in config.json)",
            "<pre>" + html.escape(json.dumps(info.get("config", {}), indent=2), False) + "</pre>",
        ),
        "</body></html>",
    ]
    out = run.path / REPORT
    atomic_write_text(out, "\n".join(parts))
    return out


def _head(title: str) -> str:
    """The page's head (title, style) and its <h1>."""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
    )


def _write_figures(figs: RunFigures, kinds: list[str]) -> tuple[list[Path], list[str]]:
    """Write each figure kind; (files written, one note per kind that does not apply)."""
    files: list[Path] = []
    notes: list[str] = []
    for kind in kinds:
        try:
            files += figs.write(kind)
        except AekitError as e:
            notes.append(f"{kind}: {e}")
    frames = sorted(p for p in (figs.run_dir / PLOTS).glob("recon_epoch_*.png") if p not in files)
    return files + frames[-1:], notes


def _variants(figs: RunFigures) -> list[str]:
    """Which variant of a figure's text fits this run, most specific first."""
    out = []
    if figs.is_points:
        out.append("points")
    elif not figs.is_image:
        out.append("rows")
    d = figs.run.data_config
    if d.get("noise", "none") != "none" and d.get("noise_level", 0) > 0:
        out.append("denoise")
    if figs.model.variational:
        out.append("variational")
    if not figs.info["data"].get("classes"):
        out.append("unlabeled")
    return out


def _intro(run: Run, evaluation: dict[str, Any]) -> str:
    from aekit._registry import model_entry

    try:
        desc = model_entry(run.info["model"]["name"]).description
    except AekitError:  # a family not installed here: the paragraph still reads
        desc = "a model family not installed here"
    words = " ".join(headline(evaluation, run.info))
    stopped = run.unfinished
    return (
        (
            f"<p class='headline'><b>This run is {_code_spans(html.escape(stopped))}.</b></p>"
            if stopped
            else ""
        )
        + f"<p class='headline'><b>In short:</b> {html.escape(words)}</p>" * bool(words)
        + "<h2>What is this model?</h2><p class='lead'>"
        + _code_spans(html.escape(model_paragraph(run.info, desc, run.model.variational)))
        + "</p>"
    )


def _code_spans(text: str) -> str:
    """Markdown's `name` as <code>name</code> in already escaped text."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def _metrics(ev: dict[str, Any]) -> str:
    rows = readable_metrics(ev)
    return (
        f"<h2>Metrics</h2><p class='lead'>On {html.escape(str(ev.get('n_images')))} "
        f"{html.escape(str(ev.get('split', '')))} samples of "
        f"{html.escape(str(ev.get('dataset', '')))} (scored in [0, 1] units). PCA keeps the same number "
        "of components as the model's code and was fitted on the same training data; "
        "model / PCA below 1 means the model reconstructs better than PCA.</p>"
        f"<div class='cols'>{_table(rows)}{_glossary(rows)}</div>"
    )


def _scores(run: Run) -> str:
    """The "Anomaly scores" section of a run scored with ``aekit score --report`` ("" if none)."""
    from aekit.report.anomaly import score_section

    try:
        sec = score_section(run)
    except Exception as e:  # the rest of the report must still be written
        log.warning(
            "could not draw the anomaly scores of %s: %s: %s", run.path, type(e).__name__, e
        )
        return f"<h2>Anomaly scores</h2><p class='note'>Not drawn: {html.escape(str(e))}</p>"
    return "" if sec is None else score_section_html(sec)


def score_section_html(sec) -> str:
    """The "Anomaly scores" section of a :class:`aekit.report.anomaly.ScoreSection`: its notes,
    sentences, figures (files in plots/, or PNGs in memory) and row tables."""
    from aekit.report.texts import ROW_TABLES

    tables = "".join(
        f"<h3>{html.escape(ROW_TABLES[which].split(':')[0])}</h3><p class='lead'>"
        f"{html.escape(ROW_TABLES[which])}</p>{_table(rows)}"
        for which, rows in sec.tables
    )
    notes = "".join(f"<p class='note'>{_code_spans(html.escape(n))}</p>" for n in sec.notes)
    return (
        f"<h2 id='anomaly-scores'>Anomaly scores</h2>{notes}<p class='lead'>"
        + _code_spans(html.escape(" ".join(sec.sentences)))
        + "</p><div class='figs'>"
        + "".join(figure_html(p, sec.variants) for p in sec.files)
        + "".join(_figure(png, kind, sec.variants) for kind, png in sec.pngs.items())
        + f"</div>{tables}"
    )


def write_scores_page(path: str | Path, title: str, overview: list[list[str]], sec) -> Path:
    """A self-contained page of one "Anomaly scores" section (``sec``) under an overview
    table (``overview``: [["", ""], [name, value], ...]): the report of a model with no run
    folder (:meth:`aekit.sklearn.AutoencoderAnomalyDetector.report`)."""
    out = Path(path)
    page = [
        _head(title),
        _table(overview),
        score_section_html(sec),
        "</body></html>",
    ]
    atomic_write_text(out, "\n".join(page))
    return out


def _training_log(records: list[dict]) -> str:
    rows = training_log_rows(records)
    n = len(rows) - 1
    opened = " open" if n <= OPEN_LOG_EPOCHS else ""
    return (
        f"<details{opened}><summary>Training log: {n} epoch{'s' if n != 1 else ''} "
        "(training: on the batches as they were trained; validation: on the held-out split)"
        "</summary>"
        f"<div class='log'>{_table(rows)}</div></details>"
    )


def _overview(info: dict[str, Any], unfinished: str | None = None) -> list[list[str]]:
    r, d = info.get("result", {}), info["data"]
    if unfinished:
        r = {"epochs": unfinished, "steps": "-", "train_seconds": "-"}
    return [
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


def _notes(notes: list[str]) -> str:
    if not notes:
        return ""
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f"<details class='note'><summary>Not drawn for this run ({len(notes)})</summary><ul>{items}</ul></details>"


def _folded(summary: str, body: str) -> str:
    return f"<details><summary>{html.escape(summary)}</summary>{body}</details>"


def _pre_file(path: Path) -> str:
    text = path.read_text() if path.is_file() else ""
    return "<pre>" + html.escape(text, quote=False) + "</pre>"
