"""`aekit score`: an anomaly score and a flag for every row or image, in input order."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path


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
    p.add_argument("run_dir")
    p.add_argument("--data", help="dataset name or path (default: the run's data)")
    p.add_argument("--data-dir", help="folder with the IDX files (mnist, fashion-mnist)")
    p.add_argument(
        "--split", default="test", choices=["all", "train", "val", "test"], help="(default test)"
    )
    p.add_argument("--threshold", default="fpr:0.05", help="fpr:A, contamination:Q or auto")
    p.add_argument("--out", default="scores.csv", help="CSV: index, score, anomaly, threshold")
    return ["score"]


def run(args) -> int:
    import torch

    from aekit.anomaly import ThresholdRule
    from aekit.errors import ConfigError
    from aekit.run import Run, atomic_write_text

    rule = ThresholdRule.parse(args.threshold)  # before any work
    out = Path(args.out)
    if args.data and out.resolve() == Path(args.data).resolve():
        raise ConfigError(f"--out {out} is the input data; write the scores elsewhere")
    run_ = Run.load(args.run_dir)
    data = run_.data(args.split, args.data, args.data_dir)
    scores = per_sample_error(run_, run_.unit(data))
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
    labels = None if data.labels is None else data.labels.tolist()
    atomic_write_text(out, scores_csv(scores.tolist(), flags.tolist(), threshold, labels))
    n, k = len(scores), int(flags.sum())
    print(
        f"{out}  ({n} scores of {data.name} {data.split}; {k} flagged = {k / max(n, 1):.1%} "
        f"above {threshold:.6g}, rule {rule})"
    )
    if not torch.isfinite(scores).all():
        print("aekit: note: some scores are not finite (NaN input?)", file=sys.stderr)
    return 0


def per_sample_error(run, x):
    """Mean squared reconstruction error of each sample, in [0, 1] units: (N,)."""
    import torch

    out = []
    for i in range(0, len(x), 1024):
        xb = x[i : i + 1024]
        out.append((run.reconstruct(xb) - xb).pow(2).flatten(1).mean(1))
    return torch.cat(out) if out else torch.zeros(0)


def scores_csv(scores, flags, threshold: float, labels=None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", "score", "anomaly", "threshold", *(["label"] if labels else [])])
    for i, (s, f) in enumerate(zip(scores, flags)):
        w.writerow([i, f"{s:.8g}", int(f), f"{threshold:.8g}", *([labels[i]] if labels else [])])
    return buf.getvalue()
