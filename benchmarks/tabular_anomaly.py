"""Anomaly detection on tables, side by side on identical splits: aekit's detector (the
``tabular`` model) vs scikit-learn's IsolationForest vs pyod's AutoEncoder. AUROC, mean +- std
over seeds. Accuracy only: nothing here is timed.

- ``breastw``: scikit-learn's bundled breast-cancer data as in ODDS "breastw" (Rayana 2016):
  the 357 benign rows are inliers, a random subsample of malignant rows the outliers (10%
  contamination, a new subsample per seed); unsupervised (outlier) setting: every method fits
  on all rows, unlabelled, and scores the same rows.
- ``mixed``: a generated table of correlated numbers, categories tied to them, a boolean and
  missing cells, with 5% planted anomalies (a shifted number, a swapped category, a cell missing
  where it never is); the peers get one-hot categories, median-imputed numbers and mask columns.
  Besides the AUROC of all outliers, each kind's rows alone against the inliers.

``--setting novelty`` (or ``both``): every method fits on a seeded half of the inliers only and
scores the other half and the outliers, the protocol autoencoders are usually published under.

    python benchmarks/tabular_anomaly.py --seeds 5            # both tables, outlier setting
    python benchmarks/tabular_anomaly.py --data breastw --seeds 3 --setting both

Needs pandas and pyod (``pip install -e ".[tables]" pyod``); pyod is skipped if absent.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from aekit.sklearn import AutoencoderAnomalyDetector

#: aekit's settings, fixed before any run (not tuned on the labels)
AEKIT = dict(hidden=[64], latent_dim=8, epochs=100, batch_size=32, lr=3e-3)
#: pyod's AutoEncoder with its defaults except the epochs (10 is too few for 400 rows)
PYOD = dict(epoch_num=100, verbose=0)
#: the planted kinds of ``mixed``, in the order of their codes 1, 2, 3
KINDS = ["shifted number", "swapped category", "missing pattern"]


def breastw(seed: int, contamination: float = 0.1) -> tuple[pd.DataFrame, np.ndarray]:
    """Benign rows + a seeded subsample of malignant rows as outliers: (X, y with 1 = outlier)."""
    data = load_breast_cancer(as_frame=True)
    X, target = data.data, data.target.to_numpy()  # target 0 = malignant, 1 = benign
    benign, malignant = np.flatnonzero(target == 1), np.flatnonzero(target == 0)
    k = round(len(benign) * contamination / (1 - contamination))
    out = np.random.default_rng(seed).choice(malignant, k, replace=False)
    rows = np.concatenate([benign, out])
    y = np.r_[np.zeros(len(benign), int), np.ones(k, int)]
    return X.iloc[rows].reset_index(drop=True), y


def mixed(seed: int, n: int = 2000, contamination: float = 0.05):
    """The generated mixed table with planted anomalies of three kinds: (X, kind), kind 0 for
    an inlier and 1-3 for the kinds in ``KINDS``."""
    rng = np.random.default_rng(seed)
    z1, z2 = rng.normal(size=n), rng.normal(size=n)
    df = pd.DataFrame(
        {
            "a": z1 + 0.1 * rng.normal(size=n),
            "b": 2 * z1 - z2 + 0.1 * rng.normal(size=n),
            "c": 3 * z2 + 10 + 0.1 * rng.normal(size=n),
            "d": z1 + z2 + 0.1 * rng.normal(size=n),
            "size": np.where(z1 < -0.43, "low", np.where(z1 < 0.43, "mid", "high")),
            "side": np.where(z2 > 0, "up", "down"),
            "quad": [f"q{int(u > 0)}{int(v > 0)}" for u, v in zip(z1, z2)],
            "pos": z1 + z2 > 0,
        }
    )
    df.loc[rng.random(n) < 0.1, "d"] = np.nan
    idx = rng.choice(n, round(n * contamination), replace=False)
    kinds = np.array_split(idx, 3)
    df.loc[kinds[0], "a"] += rng.choice([-4.0, 4.0], size=len(kinds[0]))
    far = np.where(df.loc[kinds[1], "a"] > 0, "low", "high")
    df.loc[kinds[1], "size"] = np.where(df.loc[kinds[1], "size"] == "low", "high", far)
    df.loc[kinds[2], "c"] = np.nan
    y = np.zeros(n, int)
    for k, rows in enumerate(kinds, 1):
        y[rows] = k  # 1 shifted number, 2 swapped category, 3 missing where never missing
    return df, y


def one_hot(df: pd.DataFrame) -> np.ndarray:
    """What a numeric-only detector gets: median-imputed numbers, a 0/1 mask per number with
    missing cells, one-hot categories (missing as its own category), booleans as 0/1."""
    parts = []
    for name in df.columns:
        s = df[name]
        if s.dtype.kind in "biuf":
            s = s.astype(float)
            parts.append(s.fillna(s.median()).to_frame())
            if s.isna().any():
                parts.append(s.isna().astype(float).rename(f"{name}_missing").to_frame())
        else:
            parts.append(pd.get_dummies(s.fillna("<missing>"), prefix=name, dtype=float))
    return pd.concat(parts, axis=1).to_numpy(np.float64)


def scores(method: str, X: pd.DataFrame, fit: np.ndarray, seed: int) -> np.ndarray:
    """Scores of every row of X (higher = more anomalous) by ``method`` fitted on rows ``fit``."""
    if method == "aekit":
        det = AutoencoderAnomalyDetector(**AEKIT, random_state=seed).fit(X.iloc[fit])
        return det.decision_function(X)
    Xn = one_hot(X)
    if method == "iforest":
        return -IsolationForest(random_state=seed).fit(Xn[fit]).score_samples(Xn)
    from pyod.models.auto_encoder import AutoEncoder

    torch.manual_seed(seed)
    return AutoEncoder(**PYOD, random_state=seed).fit(Xn[fit]).decision_function(Xn)


def methods() -> list[str]:
    try:
        import pyod  # noqa: F401
    except ImportError:
        return ["aekit", "iforest"]
    return ["aekit", "iforest", "pyod_ae"]


def split(kind: np.ndarray, setting: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows to fit on, rows scored). outlier: all rows, unlabelled, both. novelty: a seeded
    half of the inliers to fit on; the other half and every outlier are scored."""
    rows = np.arange(len(kind))
    if setting == "outlier":
        return rows, rows
    inl = np.random.default_rng(seed + 1000).permutation(np.flatnonzero(kind == 0))
    fit = np.sort(inl[: len(inl) // 2])
    return fit, np.setdiff1d(rows, fit)


def aurocs(kind: np.ndarray, s: np.ndarray) -> dict[str, float]:
    """AUROC of all outliers vs the inliers, and of each kind alone vs the inliers."""
    out = {"all": float(roc_auc_score(kind > 0, s))}
    for k in range(1, kind.max() + 1) if kind.max() > 1 else []:
        sel = (kind == 0) | (kind == k)
        out[KINDS[k - 1]] = float(roc_auc_score(kind[sel] > 0, s[sel]))
    return out


def run(name: str, setting: str, seeds: int) -> dict[str, list[dict[str, float]]]:
    """{method: [AUROCs per seed]} of one table in one setting; prints its tables."""
    make = breastw if name == "breastw" else mixed
    res: dict[str, list[dict[str, float]]] = {m: [] for m in methods()}
    for seed in range(seeds):
        X, kind = make(seed)
        fit, test = split(kind, setting, seed)
        for m in res:
            res[m].append(aurocs(kind[test], scores(m, X, fit, seed)[test]))
    n_out = int((kind > 0).sum())
    head = f"{len(X)} rows, {n_out} outliers, fit on {len(fit)}, {seeds} seeds (AUROC)"
    print(f"\n{name}, {setting} setting: {head}")
    print("| method | mean | std | per seed |\n| --- | --- | --- | --- |")
    for m, v in res.items():
        a = [r["all"] for r in v]
        per = ", ".join(f"{x:.3f}" for x in a)
        print(f"| {m} | {np.mean(a):.3f} | {np.std(a):.3f} | {per} |")
    kinds = [k for k in res[methods()[0]][0] if k != "all"]
    if kinds:
        print("\nper kind, mean AUROC of its rows vs the inliers")
        print("| method | " + " | ".join(kinds) + " |\n| --- |" + " --- |" * len(kinds))
        for m, v in res.items():
            cells = " | ".join(f"{np.mean([r[k] for r in v]):.3f}" for k in kinds)
            print(f"| {m} | {cells} |")
    return res


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", choices=["breastw", "mixed", "both"], default="both")
    p.add_argument("--setting", choices=["outlier", "novelty", "both"], default="outlier")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--json", help="also write the AUROCs here")
    a = p.parse_args(argv)
    sets = ["breastw", "mixed"] if a.data == "both" else [a.data]
    settings = ["outlier", "novelty"] if a.setting == "both" else [a.setting]
    res = {f"{n}/{s}": run(n, s, a.seeds) for n in sets for s in settings}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    return res


if __name__ == "__main__":
    main()
