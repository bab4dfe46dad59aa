"""`aekit score`: an anomaly score and a flag for every row or image, in input order."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

from aekit.cli.flags import add_run_and_data


def add_parser(sub) -> list[str]:
    p = sub.add_parser(
        "score",
        help="anomaly scores and flags of a dataset to a CSV (reconstruction error)",
        description="Scores each sample by its mean squared reconstruction error in [0, 1] "
        "units (higher = more anomalous) and flags those above the threshold. --threshold: "
        "fpr:A calibrates on the run's validation split (held-out inliers) so that about a "
        "share A of fresh inliers is flagged; contamination:Q flags the highest Q of the "
        "scored data; auto uses median + 3.5 robust SDs of the log-scores.",
    )
    add_run_and_data(
        p,
        "test",
        "which data to score (default test: where the data have no test set, the run's own "
        "validation split, or all of --data)",
    )
    p.add_argument("--threshold", default="fpr:0.05", help="fpr:A, contamination:Q or auto")
    p.add_argument("--out", default="scores.csv", help="CSV: index, score, anomaly, threshold")
    p.add_argument("--labels", help="file of one label per sample (.npy or CSV; 1 = anomaly)")
    p.add_argument(
        "--label-column",
        metavar="NAME",
        help="a CSV's column of labels (1 = anomaly, or classes with --normal): read as the "
        "labels, not fed to the model (default: the run's data.label_column)",
    )
    p.add_argument("--normal", help="the classes that are normal, e.g. 0 or good,ok (for ROC)")
    p.add_argument(
        "--report", action="store_true", help="add an Anomaly scores section to RUN/report.html"
    )
    return ["score"]


def run(args) -> int:
    import torch

    from aekit.anomaly import ThresholdRule
    from aekit.errors import ConfigError
    from aekit.report.anomaly import data_labels, scored_truth
    from aekit.run import Run, atomic_write_text

    rule = ThresholdRule.parse(args.threshold)  # before any work
    if args.labels and args.label_column:
        raise ConfigError(
            "--labels FILE and --label-column NAME both give the labels; use one of them"
        )
    out = Path(args.out)
    if args.data and out.resolve() == Path(args.data).resolve():
        raise ConfigError(f"--out {out} is the input data; write the scores elsewhere")
    run_ = Run.load(args.run_dir)
    data = run_.data(args.split, args.data, args.data_dir, args.label_column)
    normal = [c.strip() for c in args.normal.split(",") if c.strip()] if args.normal else None
    own = f"the column {args.label_column} of {data.name}" if args.label_column else None
    truth, truth_from, note = scored_truth(data, args.labels, normal, own)  # before any work
    x = run_.unit(data)
    scores = per_sample_error(run_, x)
    inliers = None
    if rule.needs_inliers:
        if not run_.data_config.get("val_fraction"):
            raise ConfigError(
                f"{rule} calibrates on held-out inliers, but this run held none out "
                "(data.val_fraction = 0); use --threshold auto or contamination:Q"
            )
        inliers = per_sample_error(run_, run_.unit(run_.data("val")))
    threshold = rule.fit(scores.numpy(), None if inliers is None else inliers.numpy())
    flags = scores > threshold
    labels = data_labels(data.labels, data.classes)  # names, not class numbers: 1 = anomaly
    text = scores_csv(scores.tolist(), flags.tolist(), threshold, labels, truth)
    out.parent.mkdir(parents=True, exist_ok=True)  # as `aekit train --out` makes its folder
    atomic_write_text(out, text)
    n, k = len(scores), int(flags.sum())
    print(
        f"{out}  ({n} scores of {data.name} {data.split}; {k} flagged = {k / max(n, 1):.1%} "
        f"above {threshold:.6g}, rule {rule})"
    )
    if not torch.isfinite(scores).all():
        print("aekit: note: some scores are not finite (NaN input?)", file=sys.stderr)
    if args.report:
        meta = {"rule": str(rule), "labels": truth_from, "labels_note": note}
        print(add_to_report(run_, args, data, text, x, meta))
    return 0


def add_to_report(run, args, data, csv_text: str, x, meta: dict):
    """Keep the scores in RUN/scores/ and rewrite report.html with its Anomaly scores section,
    under the run folder's lock; returns the report's path."""
    from aekit.evaluation.contributions import is_table_model
    from aekit.report import write_report
    from aekit.report.anomaly import keep_scores
    from aekit.training.run_dir import run_lock

    cmd = f"aekit score {args.run_dir}" + f" --data {args.data}" * bool(args.data)
    cmd += f" --label-column {args.label_column}" * bool(args.label_column)
    meta = {**meta, "data": data.name, "split": data.split, "command": cmd}
    if is_table_model(run.model):
        meta["score"] = (
            "the sum of their column terms (squared error for numbers, cross-entropy for "
            "categories), each in units of its column's usual term on the training rows"
        )
    if data.lo is not None:  # table columns: the scaling the rows were read with
        meta.update(lo=data.lo.flatten().tolist(), hi=data.hi.flatten().tolist())
    with run_lock(run.path, otherwise="or score without --report"):
        keep_scores(run, csv_text, meta, x)
        return write_report(run, evaluation=run.evaluation() or run.evaluate())


def per_sample_error(run, x):
    """Mean squared reconstruction error of each sample, in [0, 1] units: (N,); for a mixed
    table (the tabular model), the sum of its column terms, each in units of the column's usual
    term (``term_scale``; aekit.evaluation.contributions). The scikit-learn detector adds a
    code-distance part that a run folder cannot give: it keeps no training codes."""
    import torch

    from aekit.evaluation.contributions import is_table_model, table_scores

    if is_table_model(run.model):
        return torch.from_numpy(table_scores(run.model, x))
    out = []
    for i in range(0, len(x), 1024):
        xb = x[i : i + 1024]
        out.append((run.reconstruct(xb) - xb).pow(2).flatten(1).mean(1))
    return torch.cat(out) if out else torch.zeros(0)


def scores_csv(scores, flags, threshold: float, labels=None, truth=None) -> str:
    """index, score, anomaly (the flag), threshold; label (the data's own label: a CSV's
    value, an image folder's sub-folder) and true_anomaly (1 = anomaly, from --labels /
    --normal) when known."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    extra = ["label"] * bool(labels) + ["true_anomaly"] * (truth is not None)
    w.writerow(["index", "score", "anomaly", "threshold", *extra])
    for i, (s, f) in enumerate(zip(scores, flags)):
        more = ([labels[i]] if labels else []) + ([int(truth[i])] if truth is not None else [])
        w.writerow([i, f"{s:.8g}", int(f), f"{threshold:.8g}", *more])
    return buf.getvalue()
