"""The "Anomaly scores" section of report.html: what ``aekit score --report`` keeps in the run
folder (scores/: the scores CSV exactly as written, what was scored, the most normal and most
anomalous inputs) and the figures and tables drawn from it.

The section reads only scores/: the scores are computed once, by ``aekit score``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from aekit.errors import DataError
from aekit.run import PLOTS, WEIGHTS, Run, atomic_write_text, save_tensors

log = logging.getLogger(__name__)

SCORES = "scores"  # the folder in the run folder
EXAMPLES = 8  # most normal and most anomalous inputs kept
#: label values read as "normal" / "anomaly" when no --normal is given (lower case)
NORMAL_WORDS = {"0", "false", "no", "normal", "inlier", "good", "ok", "negative"}
ANOMALY_WORDS = {"1", "true", "yes", "anomaly", "anomalous", "outlier", "bad", "defect", "positive"}
LABEL_HEADERS = {"label", "labels", "target", "y", "class", "anomaly", "is_anomaly", "outlier"}


# -- labels: which scored samples are anomalies ---------------------------------------------
def _text(v: Any) -> str:
    """A label as text: 1.0 -> "1", " Good " -> "Good"."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    s = str(v).strip()
    try:
        f = float(s)
    except ValueError:
        return s
    return str(int(f)) if f.is_integer() else s


def read_label_file(path: str | Path) -> list[str]:
    """One label per sample, in input order: a 1-D .npy, or a text/CSV file with one value a
    line (a header line is skipped when it names the column: label, anomaly, y, ...; with
    several columns, that named column is read)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"--labels {str(p)!r}: no such file; give a .npy or a CSV of labels")
    if p.suffix == ".npy":
        try:
            a = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise DataError(f"--labels {str(p)!r} is not a readable .npy ({e})") from None
        return [_text(v) for v in a.reshape(-1).tolist()]
    rows = [r for r in csv.reader(p.read_text().splitlines()) if r]
    if not rows:
        raise DataError(f"--labels {str(p)!r} is empty; write one label per line")
    head = [c.strip().lower() for c in rows[0]]
    col = next((j for j, h in enumerate(head) if h in LABEL_HEADERS), None)
    if len(head) > 1 and col is None:
        raise DataError(
            f"--labels {str(p)!r} has {len(head)} columns; name the label column 'label'"
        )
    col = col or 0
    body = rows[1:] if head[col] in LABEL_HEADERS else rows
    return [_text(r[col]) if col < len(r) else "" for r in body]


def data_labels(labels: torch.Tensor | None, classes: list[str] | None) -> list[str] | None:
    """A dataset's own labels as class names (image folders: the sub-folder names)."""
    if labels is None:
        return None
    return [_text(classes[i] if classes else i) for i in labels.tolist()]


def anomaly_truth(values: list[str], n: int, normal: list[str] | None, source: str) -> np.ndarray:
    """1 = anomaly for each of ``n`` samples from their labels: the classes in ``normal`` are
    normal and every other is an anomaly; without ``normal`` the labels must read as yes/no
    (0/1, false/true, normal/anomaly, good/bad...). DataError, in one line, otherwise."""
    if len(values) != n:
        raise DataError(f"{source} has {len(values)} labels for {n} samples; give one per sample")
    names = sorted(set(values))
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    if normal:
        missing = [c for c in normal if c not in names]
        if missing:
            raise DataError(f"{source} has no class {missing[0]!r}; its classes are {shown}")
        truth = np.array([v not in normal for v in values])
    elif {v.lower() for v in names} <= NORMAL_WORDS | ANOMALY_WORDS:
        truth = np.array([v.lower() in ANOMALY_WORDS for v in values])
    else:
        raise DataError(
            f"{source} has the classes {shown}; say which are normal with --normal CLASS[,CLASS]"
        )
    if truth.all() or not truth.any():
        kind = "an anomaly" if truth.all() else "normal"
        raise DataError(
            f"{source}: every sample is {kind}, and a ROC curve needs both; pass labels with both "
            "(or --normal CLASS to say which classes are normal)"
        )
    return truth.astype(np.int8)


# -- what aekit score keeps in the run folder ------------------------------------------------
def weights_digest(run: Run) -> str:
    """sha256 of the run's weights: the section says when the scores predate the weights."""
    return hashlib.sha256((run.path / WEIGHTS).read_bytes()).hexdigest()


def extremes(scores: np.ndarray, k: int = EXAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the k lowest scores (lowest first) and the k highest (highest first); a
    non-finite score counts as the highest."""
    s = np.where(np.isfinite(scores), scores, np.inf)
    order = np.argsort(s, kind="stable")
    k = min(k, len(s))
    return order[:k].copy(), order[::-1][:k].copy()


def keep_scores(run: Run, csv_text: str, meta: dict[str, Any], x: torch.Tensor) -> Path:
    """Store the scores of ``x`` (all scored samples, in [0, 1], input order) in run/scores/:
    scores.csv (``csv_text``, as written by ``aekit score``), meta.json (``meta``: what was
    scored, the rule, the threshold, where the labels came from) and examples.safetensors (the
    most normal and most anomalous inputs). The folder is replaced as a whole."""
    scores = np.array([float(r["score"]) for r in csv.DictReader(csv_text.splitlines())])
    if len(scores) != len(x):
        raise ValueError(f"{len(scores)} scores for {len(x)} samples")  # a caller's bug
    lo, hi = extremes(scores)
    dest = run.path / SCORES
    tmp, old = dest.with_name(SCORES + ".tmp"), dest.with_name(SCORES + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        atomic_write_text(tmp / "scores.csv", csv_text)
        meta = {**meta, "weights_sha256": weights_digest(run), "examples": int(len(lo))}
        atomic_write_text(tmp / "meta.json", json.dumps(meta, indent=2))
        tensors = {
            "normal": x[torch.from_numpy(lo)].float().contiguous(),
            "anomalous": x[torch.from_numpy(hi)].float().contiguous(),
            "normal_index": torch.from_numpy(lo.astype(np.int64)),
            "anomalous_index": torch.from_numpy(hi.astype(np.int64)),
        }
        save_tensors(tensors, tmp / "examples.safetensors")
        if dest.exists():
            dest.rename(old)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return dest


# -- what the report shows -------------------------------------------------------------------
@dataclass
class ScoreSection:
    """What report.html shows of run/scores/: figures written to plots/, sentences, tables."""

    meta: dict[str, Any]
    sentences: list[str]
    files: list[Path] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)
    tables: list[tuple[str, list[list[str]]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pngs: dict[str, bytes] = field(default_factory=dict)  # figures with no file: kind -> PNG


@dataclass
class Scored:
    """run/scores/ read back: the CSV's columns and the kept examples."""

    scores: np.ndarray  # (N,)
    flags: np.ndarray  # (N,) 0/1
    threshold: float
    truth: np.ndarray | None  # (N,) 1 = anomaly, when labels were known
    examples: dict[str, torch.Tensor]

    @classmethod
    def read(cls, folder: Path) -> Scored:
        rows = list(csv.DictReader((folder / "scores.csv").read_text().splitlines()))
        col = lambda k, t: np.array([t(r[k]) for r in rows])  # noqa: E731
        truth = col("true_anomaly", int) if rows and "true_anomaly" in rows[0] else None
        thr = float(rows[0]["threshold"]) if rows else float("nan")
        ex = load_file(str(folder / "examples.safetensors"))
        return cls(col("score", float), col("anomaly", int), thr, truth, ex)


def score_section(run: Run) -> ScoreSection | None:
    """The section of a run scored with ``aekit score --report``; None for a run never scored.
    A part that cannot be drawn becomes a note, never a failed report."""
    from aekit.report.texts import score_sentences

    folder = run.path / SCORES
    if not (folder / "meta.json").is_file():
        return None
    meta = json.loads((folder / "meta.json").read_text())
    try:
        s = Scored.read(folder)
    except (OSError, KeyError, ValueError) as e:
        return ScoreSection(meta, [], notes=[f"{SCORES}/ could not be read ({e})"])
    sec = ScoreSection(meta, score_sentences(meta, s.scores, s.flags, s.threshold, s.truth))
    sec.variants = ["labeled"] * (s.truth is not None) + ["table"] * ("score" in sec.meta)
    if (run.path / WEIGHTS).is_file() and weights_digest(run) != meta.get("weights_sha256"):
        sec.notes.append(
            f"The model changed after these scores were computed; run `aekit score {run.path} "
            "--report` again"
        )
    _draw(run, s, sec)
    return sec


def _draw(run: Run, s: Scored, sec: ScoreSection) -> None:
    """Write plots/scores_*.png (and, for tables, the rows' tables) into ``sec``."""
    plots = run.path / PLOTS
    plots.mkdir(exist_ok=True)
    for old in plots.glob("scores_*.png"):  # a previous scoring's figures
        old.unlink()
    unit = "anomaly score" if "score" in sec.meta else "mean squared reconstruction error"
    figs = score_figures(s.scores, s.threshold, s.truth, unit)
    for which in ("normal", "anomalous"):
        x, idx = s.examples[which], s.examples[f"{which}_index"].numpy()
        if run.is_image:
            figs[f"scores_{which}"] = extremes_grid(which, x, run.reconstruct(x), s, idx)
        else:
            sec.tables.insert(0, (which, row_table(run, x, idx, s, sec.meta)))  # anomalous first
    for stem, fig in figs.items():
        fig.savefig(plots / f"{stem}.png", dpi=100)
        sec.files.append(plots / f"{stem}.png")


def memory_section(
    s: Scored,
    meta: dict[str, Any],
    images: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    rows: dict[str, list[list[str]]] | None = None,
) -> ScoreSection:
    """The section of scores kept in no run folder (a scikit-learn detector's), its figures
    as PNG bytes. ``s.examples``: normal_index / anomalous_index; ``images``: per end,
    (inputs, reconstructions) (k, C, H, W) in [0, 1]; ``rows``: per end, its
    :func:`contribution_table`."""
    import io

    from aekit.report.texts import score_sentences

    sec = ScoreSection(meta, score_sentences(meta, s.scores, s.flags, s.threshold, s.truth))
    sec.variants = ["labeled"] * (s.truth is not None) + ["table"] * ("score" in sec.meta)
    unit = "anomaly score" if "score" in meta else "mean squared reconstruction error"
    figs = score_figures(s.scores, s.threshold, s.truth, unit)
    for which in ("normal", "anomalous"):
        idx = s.examples[f"{which}_index"].numpy()
        if images:
            figs[f"scores_{which}"] = extremes_grid(which, *images[which], s, idx)
    sec.tables = [(w, rows[w]) for w in ("anomalous", "normal")] if rows else []
    for kind, fig in figs.items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        sec.pngs[kind] = buf.getvalue()
    return sec


def score_figures(scores: np.ndarray, threshold: float, truth: np.ndarray | None, unit: str):
    """{"scores_hist": the histogram with the threshold, "scores_roc": the ROC curve (with
    ``truth``, 1 = anomaly)}: Figures, named as report.html's texts name them."""
    from aekit.viz.scores import roc_figure, score_histogram

    figs = {"scores_hist": score_histogram(scores, threshold, truth, unit)}
    if truth is not None:
        figs["scores_roc"] = roc_figure(scores, truth, threshold)
    return figs


def extremes_grid(which: str, x: torch.Tensor, recon: torch.Tensor, s: Scored, idx: np.ndarray):
    """The most ``which`` (normal / anomalous) images ``x`` (k, C, H, W) in [0, 1], their
    reconstructions, and their scores and flags from ``s`` at indices ``idx``: a Figure."""
    from aekit.viz.scores import scored_grid

    title = f"The {len(x)} most {which} inputs (score above each; * flagged)"
    return scored_grid(x, s.scores[idx], recon, title, s.flags[idx])


def row_table(
    run: Run, x: torch.Tensor, idx: np.ndarray, s: Scored, meta: dict[str, Any], top: int = 3
) -> list[list[str]]:
    """Rows ``x`` (k, D) with their index, score and the ``top`` columns with the largest
    share of the row's score (:func:`aekit.evaluation.contributions.column_contributions`);
    for a plain model also the value and its reconstruction in the data's units (``meta``'s lo
    and hi: the scaling the scored data was read with)."""
    from aekit.evaluation.contributions import column_contributions, column_names, is_table_model

    names = column_names(run.model, run.info["data"].get("features"))
    contrib = column_contributions(run.model, x)
    if is_table_model(run.model):  # the tabular model's rows are encoded: no values shown
        return contribution_table(idx, s, contrib, names, top=top)
    x64, rec = x.double().numpy(), run.reconstruct(x).double().numpy()
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo and hi:  # [0, 1] -> the data's units
        lo, hi = np.asarray(lo), np.asarray(hi)
        x64, rec = x64 * (hi - lo) + lo, rec * (hi - lo) + lo
    return contribution_table(idx, s, contrib, names, (x64, rec), top)


def contribution_table(
    idx: np.ndarray,
    s: Scored,
    contrib: np.ndarray,
    names: list[str],
    values: tuple[np.ndarray, np.ndarray] | None = None,
    top: int = 3,
) -> list[list[str]]:
    """A table of the rows at ``idx``: index, score, flagged, and the ``top`` columns with the
    largest share of ``contrib`` (k, D), each row's contributions to its score; ``values``:
    (the rows, the model's rows) (k, D) in the data's units, shown beside the column names."""
    head = "largest contributions: column" + " = value (model's value)" * bool(values) + ", share"
    out = [["row", "score", "flagged", head]]
    for r, i in enumerate(idx.tolist()):
        share = contrib[r] / max(contrib[r].sum(), 1e-300)
        cols = np.argsort(-contrib[r], kind="stable")[:top]
        parts = [
            f"{names[j]} = {values[0][r, j]:.4g} ({values[1][r, j]:.4g}), {share[j]:.0%}"
            if values
            else f"{names[j]}, {share[j]:.0%}"
            for j in cols
        ]
        flag = "yes" if s.flags[i] else "no"
        out.append([str(i), f"{s.scores[i]:.4g}", flag, "; ".join(parts)])
    return out


def scored_truth(
    data, labels_path: str | None, normal: list[str] | None, own_source: str | None = None
) -> tuple[np.ndarray | None, str | None, str | None]:
    """(1 = anomaly per sample or None, where the labels came from, a note when the data's own
    labels could not be used). ``labels_path`` (a file) wins over the data's own labels (a CSV's
    label column, an image folder's sub-folders); ``normal``: the classes that are normal.
    Labels the user asked for (a file, or ``own_source``: the data's labels named by the user,
    e.g. a --label-column) that do not fit raise DataError; the data's own labels that do not
    read as normal/anomaly only give the note."""
    n = len(data)
    if labels_path:
        src = f"--labels {labels_path}"
        return anomaly_truth(read_label_file(labels_path), n, normal, src), labels_path, None
    own = data_labels(data.labels, data.classes)
    if own is None:
        if normal:
            raise DataError(
                f"--normal needs labels, and {data.name} has none; add --labels FILE or --label-column NAME"
            )
        return None, None, None
    src = own_source or f"the labels of {data.name}"
    try:
        return anomaly_truth(own, n, normal, src), src, None
    except DataError as e:
        if normal or own_source:
            raise
        return None, None, f"No ROC curve: {e}."
