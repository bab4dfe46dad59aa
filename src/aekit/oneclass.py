"""The one-class benchmark of Ruff et al., "Deep One-Class Classification" (ICML 2018,
https://proceedings.mlr.press/v80/ruff18a.html, Table 1): for each class c, train on the
training images of class c only, score the whole official test set, and report the AUROC with
class c normal (label 0) and the nine others anomalies; mean and std over seeds.

aekit's scores come from one autoencoder trained per (class, seed) by ``aekit.train`` (and
the likelihood scores from a second model, a VAE); the peers (PCA, OneClassSVM, IsolationForest, pyod's AutoEncoder) see the identical splits.
Nothing here looks at test labels except :func:`auroc`.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aekit.data import Dataset, has_test_split, load_dataset
from aekit.errors import ConfigError

log = logging.getLogger(__name__)

# -- the published rows ----------------------------------------------------------------------
#: Ruff et al. 2018, Table 1, MNIST, AUROC in % per normal class 0..9 (means over 10 seeds)
RUFF2018 = "Ruff et al. 2018, ICML, Table 1"
PUBLISHED: dict[str, dict[str, tuple[float, ...]]] = {
    "mnist": {
        "Deep SVDD one-class (published)": (
            98.0,
            99.7,
            91.7,
            91.9,
            94.9,
            88.5,
            98.3,
            94.6,
            93.9,
            96.5,
        ),
    },
}

# -- what is run -----------------------------------------------------------------------------
#: aekit's scores (higher = more anomalous); VAE-only ones are skipped for other models
SCORES = ("mse", "ssim", "neg_elbo", "nll", "mahalanobis", "knn", "combined")
PEERS = ("PCA", "OneClassSVM", "IsolationForest", "pyod AutoEncoder")
#: peers whose scores do not depend on the seed: fitted once per class, reused for every seed
DETERMINISTIC = ("PCA", "OneClassSVM")


@dataclass(frozen=True)
class OneClassConfig:
    """How aekit's detectors are trained and scored (one model per class and seed)."""

    model: dict[str, Any] = field(
        default_factory=lambda: {"name": "conv", "channels": [32, 64], "latent_dim": 16}
    )  # aekit's detector (`aekit models`): mse, ssim, code distances, combined
    vae: dict[str, Any] | None = field(
        default_factory=lambda: {"name": "vae", "hidden": [256, 64], "latent_dim": 16}
    )  # a second model for the likelihood scores (neg_elbo, nll); None: skip
    epochs: int = 10  # passes over the ~6,000 images of one class
    batch_size: int = 64  # images per step
    lr: float = 3e-3  # Adam's peak learning rate (cosine schedule)
    knn_k: int = 5  # neighbours of the k-NN code distance
    nll_samples: int = 32  # importance samples per image of the VAE's NLL
    # the combination: one off-manifold score (1 - SSIM: structure the decoder cannot redraw)
    # plus one on-manifold score (k-NN code distance: a code unlike the class's codes), as
    # z-scores; chosen on a split of the TRAINING set (digits 2, 3, 5, 8, 9), never the test set
    combine: tuple[str, ...] = ("ssim", "knn")
    peers: tuple[str, ...] = PEERS  # the side-by-side detectors to run
    pca_variance: float = 0.9  # PCA peer: share of the class's variance its components keep
    ocsvm_max_train: int = 2000  # OneClassSVM peer: a seeded subsample of this many images


# -- the protocol ----------------------------------------------------------------------------
def one_class_split(
    train: Dataset, test: Dataset, c: int
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """The training images of class c, all test images, and the test targets: 0 for class c
    (normal), 1 for every other class (anomaly)."""
    if train.labels is None or test.labels is None:
        raise ConfigError("the one-class benchmark needs labelled data; use mnist or fashion-mnist")
    x_fit = train.x[train.labels == c]
    if len(x_fit) < 2:
        raise ConfigError(f"class {c} has {len(x_fit)} training images; pick another --classes")
    return x_fit, test.x, (test.labels != c).numpy().astype(int)


def auroc(y_anomaly: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve in %, anomalies (1) scored high."""
    from sklearn.metrics import roc_auc_score

    return 100.0 * float(roc_auc_score(y_anomaly, score))


def standardised_sum(
    train_scores: dict[str, np.ndarray], test_scores: dict[str, np.ndarray], names: Iterable[str]
) -> tuple[np.ndarray, np.ndarray]:
    """The combination: the sum over ``names`` of each score's z-score, with the mean and
    standard deviation of that score on the TRAINING images of the normal class only (so the
    test set, and its labels, never set the weights). Scores are positive and right-skewed
    (squared errors, distances): they are compared on a log scale."""
    tr_sum, te_sum = 0.0, 0.0
    for n in names:
        tr, te = _log(train_scores[n]), _log(test_scores[n])
        mu, sd = tr.mean(), tr.std() + 1e-12
        tr_sum = tr_sum + (tr - mu) / sd
        te_sum = te_sum + (te - mu) / sd
    return np.asarray(tr_sum), np.asarray(te_sum)


def _log(s: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(s, 0.0) + 1e-12)


# -- aekit's detector ------------------------------------------------------------------------
def train_model(
    x: torch.Tensor, seed: int, cfg: OneClassConfig, model: dict[str, Any] | None = None
) -> torch.nn.Module:
    """An aekit model (default: ``cfg.model``) trained on the images x (N, C, H, W) uint8 by
    ``aekit.train``."""
    from aekit.api import train

    model = dict(cfg.model if model is None else model)
    if model.get("name", "").endswith("vae"):
        model.setdefault("nll_samples", 0)  # the benchmark scores NLL itself, on every image
    with tempfile.TemporaryDirectory(prefix="aekit-oneclass-") as tmp:
        path = Path(tmp) / f"x-{uuid.uuid4().hex}.npy"  # unique: the data cache keys on it
        np.save(path, x.numpy())
        run = train(
            {
                "data": {"name": str(path), "val_fraction": 0.0},
                "model": model,
                "train": {
                    "epochs": cfg.epochs,
                    "batch_size": min(cfg.batch_size, len(x)),
                    "lr": cfg.lr,
                    "seed": seed,
                    "device": "cpu",
                    "recon_every": 0,
                    "log_every": 0,
                    "checkpoint_every": 0,
                },
                "run": {"out_dir": tmp},
            },
            report=False,
        )
    return run.model.cpu().eval()


@torch.no_grad()
def model_scores(model, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Per image of x (N, C, H, W) uint8: squared error per pixel (mse), 1 - SSIM (ssim) and
    the code (codes, (N, L); a VAE's posterior mean)."""
    out: dict[str, list[np.ndarray]] = {"mse": [], "ssim": [], "codes": []}
    for xb in _batches(x, model.pixel_range):
        z = model.encode(xb)
        rec = model.decode(z)
        out["codes"].append(z.numpy())
        out["mse"].append((rec - xb).pow(2).flatten(1).mean(1).numpy())
        out["ssim"].append(_one_minus_ssim(xb, rec, model.pixel_range))
    return {k: np.concatenate(v) for k, v in out.items()}


@torch.no_grad()
def likelihood_scores(model, x: torch.Tensor, k: int, seed: int) -> dict[str, np.ndarray]:
    """A variational model's negative ELBO (one sampled code) and importance-sampled NLL (k
    samples, Burda et al. 2016) per image of x, in nats; seeded, the caller's RNG untouched."""
    out: dict[str, list[np.ndarray]] = {"neg_elbo": [], "nll": []}
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for xb in _batches(x, model.pixel_range):
            out["neg_elbo"].append(model.nll(xb, k=1).numpy())
            out["nll"].append(model.nll(xb, k=k).numpy())
    return {n: np.concatenate(v) for n, v in out.items()}


def _batches(x: torch.Tensor, pixel_range: str, size: int = 1000):
    """x uint8 (N, C, H, W) -> float batches in the model's pixel range."""
    from aekit.data import to_range

    for i in range(0, len(x), size):
        yield to_range(x[i : i + size].float() / 255.0, pixel_range)


def _one_minus_ssim(x: torch.Tensor, rec: torch.Tensor, pixel_range: str) -> np.ndarray:
    """1 - SSIM per image (skimage's structural_similarity, 7x7 window, channels averaged)."""
    from skimage.metrics import structural_similarity

    from aekit.data import from_range

    a = from_range(x, pixel_range).numpy()  # (B, C, H, W) in [0, 1]
    b = from_range(rec, pixel_range).clamp(0, 1).numpy()
    m = min(a.shape[2:])
    win = min(7, m if m % 2 else m - 1)  # skimage's default 7, or the largest odd that fits
    return np.array(
        [
            1.0 - structural_similarity(p, q, data_range=1.0, channel_axis=0, win_size=win)
            for p, q in zip(a, b, strict=True)
        ]
    )


def code_distances(
    z_train: np.ndarray, z: np.ndarray, k: int, same: bool = False
) -> dict[str, np.ndarray]:
    """Distances of codes z to the training codes: squared Mahalanobis distance under a
    Ledoit-Wolf shrinkage covariance, and the mean distance to the k nearest training codes
    (``same``: z IS z_train, so each code's own zero distance is left out)."""
    from sklearn.covariance import LedoitWolf
    from sklearn.neighbors import NearestNeighbors

    maha = LedoitWolf().fit(z_train).mahalanobis(z)
    k = min(k, len(z_train) - 1)
    nn = NearestNeighbors(n_neighbors=k + int(same)).fit(z_train)
    dist = nn.kneighbors(z)[0][:, int(same) :]
    return {"mahalanobis": maha, "knn": dist.mean(1)}


def aekit_scores(
    x_fit: torch.Tensor, x_test: torch.Tensor, seed: int, cfg: OneClassConfig
) -> tuple[dict[str, np.ndarray], float]:
    """aekit's detector (``cfg.model``): every score on the test images (higher = more
    anomalous), and the seconds spent training and scoring."""
    start = time.perf_counter()
    model = train_model(x_fit, seed, cfg)
    tr, te = model_scores(model, x_fit), model_scores(model, x_test)
    tr.update(code_distances(tr["codes"], tr["codes"], cfg.knn_k, same=True))
    te.update(code_distances(tr["codes"], te["codes"], cfg.knn_k))
    if model.variational:
        te.update(likelihood_scores(model, x_test, cfg.nll_samples, seed))
    names = [n for n in cfg.combine if n in tr]
    if names:
        te[f"combined {'+'.join(names)}"] = standardised_sum(tr, te, names)[1]
    te.pop("codes")
    return te, time.perf_counter() - start


def vae_scores(
    x_fit: torch.Tensor, x_test: torch.Tensor, seed: int, cfg: OneClassConfig
) -> tuple[dict[str, np.ndarray], float]:
    """The likelihood scores of a VAE (``cfg.vae``) on the test images, and its seconds."""
    start = time.perf_counter()
    model = train_model(x_fit, seed, cfg, cfg.vae)
    if not model.variational:
        raise ConfigError(f"the vae model {cfg.vae} has no likelihood; use vae or conv_vae")
    scores = likelihood_scores(model, x_test, cfg.nll_samples, seed)
    return scores, time.perf_counter() - start


# -- the peers -------------------------------------------------------------------------------
def peer_scores(
    x_fit: np.ndarray, x_test: np.ndarray, seed: int, cfg: OneClassConfig
) -> dict[str, np.ndarray]:
    """The side-by-side detectors on flattened [0, 1] pixels (N, D), fitted on x_fit only;
    higher = more anomalous. pyod is skipped (with a log line) when it is not installed."""
    out: dict[str, np.ndarray] = {}
    for name in cfg.peers:
        fn = _PEER_FNS.get(name)
        if fn is None:
            raise ConfigError(f"unknown peer {name!r}; choose from {', '.join(PEERS)}")
        score = fn(x_fit, x_test, seed, cfg)
        if score is not None:
            out[name] = score
    return out


def _pca(x_fit, x_test, seed, cfg):
    from sklearn.decomposition import PCA

    pca = PCA(n_components=cfg.pca_variance, svd_solver="covariance_eigh").fit(x_fit)
    rec = pca.inverse_transform(pca.transform(x_test))
    return ((x_test - rec) ** 2).mean(1)


def _ocsvm(x_fit, x_test, seed, cfg):
    from sklearn.svm import OneClassSVM

    if len(x_fit) > cfg.ocsvm_max_train:  # the kernel matrix grows with N^2: a subsample,
        # the same for every seed (the SVM itself has no randomness)
        idx = np.random.default_rng(0).choice(len(x_fit), cfg.ocsvm_max_train, replace=False)
        x_fit = x_fit[idx]
    svm = OneClassSVM(kernel="rbf", gamma="scale", nu=0.1).fit(x_fit)
    return -svm.decision_function(x_test)


def _iforest(x_fit, x_test, seed, cfg):
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(n_estimators=100, random_state=seed).fit(x_fit)
    return -forest.score_samples(x_test)


def _pyod_ae(x_fit, x_test, seed, cfg):
    try:
        from pyod.models.auto_encoder import AutoEncoder
    except ImportError:
        log.warning("pyod is not installed: its AutoEncoder is skipped (pip install aekit[bench])")
        return None
    with torch.random.fork_rng():
        det = AutoEncoder(batch_size=256, random_state=seed, verbose=0, device="cpu").fit(x_fit)
        return det.decision_function(x_test)


_PEER_FNS: dict[str, Callable] = {
    "PCA": _pca,
    "OneClassSVM": _ocsvm,
    "IsolationForest": _iforest,
    "pyod AutoEncoder": _pyod_ae,
}


# -- the benchmark ---------------------------------------------------------------------------
def run_class(
    train: Dataset,
    test: Dataset,
    c: int,
    seed: int,
    cfg: OneClassConfig,
    cache: dict[tuple[int, str], np.ndarray] | None = None,
) -> list[dict[str, Any]]:
    """One (class, seed): a row per detector with its AUROC in % and the seconds it took.
    ``cache`` keeps the scores of the DETERMINISTIC peers between seeds (0 seconds reused)."""
    x_fit, x_test, y = one_class_split(train, test, c)
    scores, seconds = aekit_scores(x_fit, x_test, seed, cfg)
    rows = [_row(c, seed, f"aekit {n}", auroc(y, s), seconds) for n, s in scores.items()]
    if cfg.vae is not None:
        scores, seconds = vae_scores(x_fit, x_test, seed, cfg)
        rows += [_row(c, seed, f"aekit vae {n}", auroc(y, s), seconds) for n, s in scores.items()]
    flat = (x_fit.flatten(1).numpy() / 255.0, x_test.flatten(1).numpy() / 255.0)
    cache = {} if cache is None else cache
    for name in cfg.peers:
        start = time.perf_counter()
        s = cache.get((c, name))
        if s is None:
            s = peer_scores(*flat, seed, replace(cfg, peers=(name,))).get(name)
            if s is not None and name in DETERMINISTIC:
                cache[(c, name)] = s
        if s is not None:
            rows.append(_row(c, seed, name, auroc(y, s), time.perf_counter() - start))
    return rows


def _row(c: int, seed: int, detector: str, auc: float, seconds: float) -> dict[str, Any]:
    return {"class": c, "seed": seed, "detector": detector, "auroc": auc, "seconds": seconds}


def run_oneclass(
    dataset: str = "mnist",
    data_dir: str | None = None,
    classes: Iterable[int] | None = None,
    seeds: Iterable[int] = (0, 1, 2),
    cfg: OneClassConfig | None = None,
    on_rows: Callable[[list[dict[str, Any]]], None] | None = None,
    splits: tuple[Dataset, Dataset] | None = None,
) -> list[dict[str, Any]]:
    """The whole table: a row per (class, seed, detector). ``splits``: (train, test) datasets
    to use instead of loading ``dataset`` (its official train and test sets)."""
    cfg = cfg or OneClassConfig()
    if splits is None:
        if not has_test_split(dataset, data_dir):  # load_dataset would refuse it less clearly
            raise ConfigError(f"{dataset} has no official test split; use mnist or fashion-mnist")
        splits = (
            load_dataset(dataset, data_dir, "train", val_fraction=0.0),
            load_dataset(dataset, data_dir, "test", val_fraction=0.0),
        )
    train, test = splits
    if len(test) == 0:
        raise ConfigError(f"{dataset} has no official test split; use mnist or fashion-mnist")
    known = sorted(set(train.labels.tolist())) if train.labels is not None else []
    classes = known if classes is None else list(classes)
    bad = [c for c in classes if c not in known]
    if bad:
        raise ConfigError(f"--classes {bad} not in the data's classes {known}")
    rows, cache = [], {}
    for c in classes:
        for seed in seeds:
            new = run_class(train, test, c, seed, cfg, cache)
            log.debug(
                "class %s seed %s: %s", c, seed, {r["detector"]: round(r["auroc"], 1) for r in new}
            )
            rows += new
            if on_rows is not None:
                on_rows(new)
    return rows


# -- the table -------------------------------------------------------------------------------
def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A row per detector, in first-seen order: per class the mean and std (over seeds) of the
    AUROC in %, the mean over classes of the per-class means, the seeds and the seconds."""
    out = []
    for det in dict.fromkeys(r["detector"] for r in rows):
        mine = [r for r in rows if r["detector"] == det]
        per_class = {}
        for c in dict.fromkeys(r["class"] for r in mine):
            a = np.array([r["auroc"] for r in mine if r["class"] == c])
            per_class[c] = (float(a.mean()), float(a.std()))
        secs = {(r["class"], r["seed"]): r["seconds"] for r in mine}  # scores of one model share
        out.append(
            {
                "detector": det,
                "per_class": per_class,
                "mean": float(np.mean([m for m, _ in per_class.values()])),
                "seeds": len({r["seed"] for r in mine}),
                "seconds": float(sum(secs.values())),
            }
        )
    return out


def markdown_table(rows: list[dict[str, Any]], dataset: str) -> str:
    """The summary as a Markdown table: a column per class (mean±std over seeds, AUROC %),
    the mean, seeds and seconds; the published rows of ``PUBLISHED[dataset]`` last."""
    summary = summarise(rows)
    classes = list(dict.fromkeys(c for s in summary for c in s["per_class"]))
    head = ["detector", *map(str, classes), "mean", "seeds", "seconds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summary:
        cells = [f"{m:.1f}±{sd:.1f}" for m, sd in (s["per_class"][c] for c in classes)]
        lines.append(
            f"| {s['detector']} | {' | '.join(cells)} | {s['mean']:.1f} | {s['seeds']} "
            f"| {s['seconds']:.0f} |"
        )
    for name, values in PUBLISHED.get(dataset, {}).items():
        cells = [f"{values[c]:.1f}" if 0 <= c < len(values) else "" for c in classes]
        mean = np.mean([values[c] for c in classes if 0 <= c < len(values)])
        lines.append(f"| {name} | {' | '.join(cells)} | {mean:.1f} | 10 | |")
    return "\n".join(lines)
