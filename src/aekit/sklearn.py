"""scikit-learn compatible estimators built on ``aekit.train``: a dimensionality reducer
(fit / transform / inverse_transform) and a pyod-style anomaly detector (reconstruction error)."""

from __future__ import annotations

import copy
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import _check_feature_names, check_is_fitted, validate_data

from aekit.anomaly import ThresholdRule, rule_for
from aekit.data import Dataset, from_range, to_range
from aekit.data.tabular import Table, TableSpec, is_frame, table_from_frame
from aekit.errors import ConfigError, DataError
from aekit.evaluation.contributions import (
    TableScore,
    column_contributions,
    is_table,
    table_scores,
    top_contributions,
)

log = logging.getLogger(__name__)


def as_tensor(a: np.ndarray) -> torch.Tensor:
    """A tensor over ``a``'s memory, or over a copy where ``a`` is read-only (a memory map, a
    pandas column): PyTorch cannot share those, and warns that writing would be undefined."""
    return torch.from_numpy(a if a.flags.writeable else a.copy())


class _AutoencoderEstimator(BaseEstimator):
    """Shared fitting: X is handed to ``aekit.train`` (the one trainer) as an in-memory
    dataset, so every aekit model, loss and option is available.

    X: (N, D) numbers (each feature min-max scaled to [0, 1] with the training minimum and
    maximum) or images (N, H, W), (N, C, H, W), (N, H, W, C): uint8 (divided by 255) or floats
    in [0, 1]: the rule of :class:`aekit.data.Scaling`, the same as ``aekit train`` on a file.
    A pandas DataFrame (or an object array) is a table with numbers, booleans, categories and
    missing cells: it is encoded by :mod:`aekit.data.tabular` (fitted on the training X, kept
    as ``table_spec_`` and in the model's config) for the ``tabular`` model.
    """

    def _fit_model(self, X):
        from aekit.data import array_to_dataset

        if is_table(X):  # a DataFrame or an object array: the tabular model (data/tabular.py)
            data = Dataset("X", torch.from_numpy(self._encode_table(X, reset=True)))
            model = self._model_dict("tabular", self.table_spec_.to_dict())
            self.scaling_ = None
        else:
            X = validate_data(self, X, dtype="numeric", allow_nd=True, ensure_min_samples=2)
            data = array_to_dataset(X, None, "X")
            model = self._model_dict(self.model, {})
            self.scaling_, self.table_spec_ = data.scaling, None
        self._train(data, model, len(X))
        if self.table_spec_ is not None:
            self._fit_table(data.x)
        return X

    def _fit_table(self, x: torch.Tensor) -> None:
        """After fitting on the encoded table rows ``x``: nothing here (the detector keeps
        its code-distance reference)."""

    def _model_dict(self, name: str, table: dict) -> dict[str, Any]:
        if table and self.model not in ("mlp", "tabular"):
            raise ConfigError(
                f"a table (DataFrame) takes model='tabular', not {self.model!r}; "
                "leave model at its default or pass a numeric array"
            )
        opts = dict(self.model_options or {})
        model = {"name": name, "latent_dim": self.latent_dim, **opts, **table}
        if self.hidden is not None:
            if isinstance(self.hidden, str | bytes) or not hasattr(self.hidden, "__iter__"):
                raise ConfigError(
                    f"hidden is a list of layer widths, e.g. hidden=[64]; got {self.hidden!r}"
                )
            model["hidden"] = list(self.hidden)
        return model

    def _train(self, data: Dataset, model: dict[str, Any], n: int) -> None:
        from aekit.api import train

        with tempfile.TemporaryDirectory(prefix="aekit-fit-") as tmp:
            out_dir = self.out_dir if self.out_dir is not None else tmp
            run = train(
                {
                    "data": {"val_fraction": 0.0},
                    "model": model,
                    "train": {
                        "epochs": self.epochs,
                        "batch_size": min(self.batch_size, n),
                        "lr": self.lr,
                        "loss": self.loss,
                        "seed": self.random_state,
                        "device": self.device,
                        "recon_every": 0,
                        "log_every": 0,
                    },
                    "run": {"out_dir": str(out_dir)},
                },
                report=False,
                fit_defaults=False,  # the estimator's parameters are settings, never defaults
                figures=self.out_dir is not None,  # a temporary folder's figures are never seen
                data=data,
            )
        self.model_ = run.model.cpu().eval()
        self.run_dir_ = run.run_dir if self.out_dir is not None else None
        self.history_ = run.history
        self._model64()  # made here, so scoring and transforming leave the estimator as it is

    def _encode_table(self, X, reset: bool) -> np.ndarray:
        """A DataFrame (or object array) encoded for the tabular model: (N, D) float32; on
        ``reset`` the encoding (``table_spec_``) is fitted to X first."""
        if reset and len(X) < 2:
            raise DataError(f"a table of {len(X)} row(s) is too small to fit; pass 2 or more rows")
        _check_feature_names(self, X, reset=reset)
        if is_frame(X):
            table = table_from_frame(X)
        else:
            X = np.asarray(X, dtype=object)
            if X.ndim != 2:
                raise DataError(f"a table must be 2-D (rows, columns); got shape {X.shape}")
            names = list(getattr(self, "table_columns_", [f"x{j}" for j in range(X.shape[1])]))
            if len(names) != X.shape[1]:
                raise DataError(f"X has {X.shape[1]} columns; the model was fitted on {len(names)}")
            table = Table(names, [X[:, j] for j in range(X.shape[1])], [False] * X.shape[1])
        if reset:
            self.table_spec_ = TableSpec.fit(table)
            self.table_columns_ = list(table.names)
            self.n_features_in_ = len(table.names)
        return self.table_spec_.encode(table)

    def _to_model(self, X) -> torch.Tensor:
        """X -> float32 tensor in the model's pixel range, shaped (N, *input_shape)."""
        check_is_fitted(self, "model_")
        if self.table_spec_ is not None:
            return torch.from_numpy(self._encode_table(X, reset=False))
        X = validate_data(self, X, dtype="numeric", allow_nd=True, reset=False)
        shape = self.model_.input_shape
        if X.ndim == 4 and X.shape[1] != shape[0] and X.shape[-1] == shape[0]:
            X = X.transpose(0, 3, 1, 2)  # NHWC -> NCHW
        raw = as_tensor(np.ascontiguousarray(X)).reshape(len(X), *shape)
        unit = self.scaling_.to_unit(raw if raw.dtype == torch.uint8 else raw.float())
        return to_range(unit, self.model_.pixel_range)

    def _from_model(self, x: torch.Tensor) -> np.ndarray:
        """Model-range output -> the units of the training X, as float64 (N, ...); a table's
        rows as an object array (N, n_columns) in the training columns' order: numbers (NaN
        where the model expects a missing cell) and category names."""
        if self.table_spec_ is not None:
            cols = dict(zip(self.table_spec_.columns, self.table_spec_.decode(x.numpy())))
            return np.stack([cols[c] for c in self.table_columns_], 1)
        unit = from_range(x, self.model_.pixel_range).double()
        return self.scaling_.from_unit(unit).numpy().reshape(len(x), *self._x_shape())

    def _model64(self) -> torch.nn.Module:
        """A float64 copy of the fitted model for inference: float32 matrix products round a
        row differently depending on its place in the batch, so a sample's output would depend
        on the other samples (scikit-learn's sample-order invariance check caught it). Made
        when fitting and again only when ``model_`` is replaced or changed in place (its
        tensors' version counters): copying took three quarters of scoring one row."""
        check_is_fitted(self, "model_")
        tensors = [*self.model_.parameters(), *self.model_.buffers()]
        key = (self.model_, [(t.data_ptr(), t._version) for t in tensors])
        cached = self.__dict__.get("_model64_cache")
        if cached is None or cached[0] is not key[0] or cached[1] != key[1]:
            self._model64_cache = (*key, copy.deepcopy(self.model_).double().eval())
        return self._model64_cache[2]

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_model64_cache", None)  # made again from model_ when needed
        return state

    def _x_shape(self) -> tuple[int, ...]:
        return tuple(self.model_.input_shape) if len(self.model_.input_shape) == 3 else (-1,)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.device not in ("cpu",)
        return tags


class AutoencoderReducer(TransformerMixin, _AutoencoderEstimator):
    """Dimensionality reduction by an autoencoder: ``transform`` gives the codes (N, latent_dim),
    ``inverse_transform`` decodes them back to X's units.

    Parameters mirror ``aekit train``: ``model`` (a name from ``aekit.list_models()``),
    ``latent_dim``, ``hidden`` (layer widths, mlp-like models), ``epochs``, ``batch_size``, ``lr``,
    ``loss`` (mse, bce, l1), ``random_state`` (seeds weights and shuffling), ``device``,
    ``model_options`` (any other model keys), ``out_dir`` (keep the run folder there; default:
    a temporary folder, removed after fitting).
    """

    def __init__(
        self,
        model: str = "mlp",
        latent_dim: int = 2,
        hidden: list[int] | None = None,
        epochs: int = 20,
        batch_size: int = 128,
        lr: float = 3e-3,
        loss: str = "mse",
        random_state: int = 0,
        device: str = "cpu",
        model_options: dict[str, Any] | None = None,
        out_dir: str | None = None,
    ):
        self.model = model
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.loss = loss
        self.random_state = random_state
        self.device = device
        self.model_options = model_options
        self.out_dir = out_dir

    def fit(self, X, y=None) -> AutoencoderReducer:
        self._fit_model(X)
        return self

    @torch.no_grad()
    def transform(self, X) -> np.ndarray:
        """Codes (N, latent_dim), float64."""
        x = self._to_model(X).double()
        return self._model64().encode(x).numpy()

    @torch.no_grad()
    def inverse_transform(self, X) -> np.ndarray:
        """Decoded codes (N, latent_dim) -> samples in the units of the training X."""
        check_is_fitted(self, "model_")
        z = np.asarray(X, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.model_.latent_dim:
            raise ValueError(
                f"inverse_transform takes codes of shape (N, {self.model_.latent_dim}); "
                f"got {z.shape}"
            )
        return self._from_model(self._model64().decode(as_tensor(z).double()))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "model_")
        return np.array([f"autoencoderreducer{i}" for i in range(self.model_.latent_dim)])

    @torch.no_grad()
    def score(self, X, y=None) -> float:
        """Minus the mean reconstruction error of X, higher is better (as ``PCA.score``, a
        log-likelihood, is), so that ``GridSearchCV`` needs no ``scoring``: the mean squared
        error per value in [0, 1] units, X clipped to the training range first (a feature
        constant in one fold's training rows would otherwise scale another fold's values by
        1e12); for a table, the mean of its column terms."""
        x = self._to_model(X).double()
        model = self._model64()
        if self.table_spec_ is not None:
            return -float(np.mean(table_scores(model, x)))
        pr = model.pixel_range
        unit = from_range(x, pr).clamp(0, 1)
        rec = from_range(model.reconstruct(to_range(unit, pr)), pr)
        return -float((rec - unit).pow(2).mean())


class AutoencoderAnomalyDetector(_AutoencoderEstimator):
    """Anomaly detection by reconstruction error, in the style of pyod.

    ``fit(X)`` trains on the data and sets ``decision_scores_`` (the training scores),
    ``threshold_`` and ``labels_``. Where the flag starts (``aekit.anomaly``):

    - ``mode="outlier"`` (default): X itself holds anomalies; ``threshold`` defaults to
      ``"contamination:Q"`` with Q = ``contamination``: the highest Q of the training scores.
    - ``mode="novelty"``: X is clean; ``threshold`` defaults to ``"fpr:0.05"``: a share
      ``calibration`` of X is held out of training and the threshold set on its scores so
      that about 5% of fresh inliers are flagged.
    - ``threshold="auto"``: no rate known: a robust rule on the log-scores (median + 3.5 MADs).

    ``decision_function(X)``: mean squared reconstruction error per sample in [0, 1] units,
    higher = more anomalous; ``predict(X)``: 1 for outliers, 0 for inliers (pyod's convention);
    ``error_maps(X)``: the squared error of every pixel/feature, shaped like the samples.
    """

    def __init__(
        self,
        model: str = "mlp",
        latent_dim: int = 8,
        hidden: list[int] | None = None,
        epochs: int = 20,
        batch_size: int = 128,
        lr: float = 3e-3,
        loss: str = "mse",
        contamination: float = 0.1,
        threshold: str | float | None = None,
        mode: str = "outlier",
        calibration: float = 0.2,
        random_state: int = 0,
        device: str = "cpu",
        model_options: dict[str, Any] | None = None,
        out_dir: str | None = None,
    ):
        self.model = model
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.loss = loss
        self.contamination = contamination
        self.threshold = threshold
        self.mode = mode
        self.calibration = calibration
        self.random_state = random_state
        self.device = device
        self.model_options = model_options
        self.out_dir = out_dir

    def fit(self, X, y=None) -> AutoencoderAnomalyDetector:
        rule = self._rule()
        self.calibration_scores_ = None
        if rule.needs_inliers:  # hold out inliers the model never sees, to calibrate on
            if not is_table(X):
                X = validate_data(self, X, dtype="numeric", allow_nd=True, ensure_min_samples=4)
            if not 0.0 < self.calibration < 1.0:
                raise ValueError(f"calibration must be in (0, 1); got {self.calibration}")
            n_cal = min(len(X) - 2, max(1, round(len(X) * self.calibration)))
            perm = np.random.default_rng(self.random_state).permutation(len(X))
            self._fit_model(_rows(X, perm[n_cal:]))
            self.calibration_scores_ = self.decision_function(_rows(X, perm[:n_cal]))
        else:
            X = self._fit_model(X)
        self.decision_scores_ = self.decision_function(X)
        self.threshold_ = rule.fit(self.decision_scores_, self.calibration_scores_)
        self.threshold_rule_ = str(rule)
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
        return self

    def _fit_table(self, x: torch.Tensor) -> None:
        """The table's two-part score (code distance included), fitted on the training rows
        (the model's term scales were fitted on the same rows when training ended)."""
        self.table_score_ = TableScore(self._model64(), x, self.random_state)

    def _table_rows(self, X) -> torch.Tensor:
        """Encoded table rows in float64: ``X`` as a DataFrame or array, or already encoded."""
        return X.double() if isinstance(X, torch.Tensor) else self._to_model(X).double()

    def _score_parts(self, X) -> np.ndarray:
        """(N, 2) for a table: the reconstruction part and the code distance, unscaled."""
        return self.table_score_.parts(self._model64(), self._table_rows(X))

    def _rule(self) -> ThresholdRule:
        if self.threshold is None and self.mode == "outlier":
            return ThresholdRule.parse(f"contamination:{self.contamination}")
        return rule_for(self.threshold, self.mode)

    @torch.no_grad()
    def error_maps(self, X) -> np.ndarray:
        """Squared reconstruction error per pixel (N, *sample shape) in [0, 1] units; for a
        table, each column's share of the score (N, n_columns), as :meth:`explain`."""
        x = self._to_model(X).double()
        model, pr = self._model64(), self.model_.pixel_range
        if self.table_spec_ is not None:
            return self._table_contributions(model, x)
        out = []
        for i in range(0, len(x), 1000):
            xb = x[i : i + 1000]
            rec = model.reconstruct(xb)
            out.append((from_range(rec, pr) - from_range(xb, pr)).pow(2))
        return torch.cat(out).numpy()

    def _table_contributions(self, model, x: torch.Tensor) -> np.ndarray:
        """(N, n_columns): the whole score shared out in proportion to each column's share of
        the reconstruction score (equal shares where that is 0)."""
        c = column_contributions(model, x)
        total = c.sum(1, keepdims=True)
        share = np.where(total > 0, c / np.where(total > 0, total, 1.0), 1.0 / c.shape[1])
        return share * self.table_score_(model, x)[:, None]

    def decision_function(self, X) -> np.ndarray:
        """Anomaly score per sample (N,), higher = more anomalous: the mean squared
        reconstruction error in [0, 1] units. For a table, two parts, each divided by its
        median over the training rows and added: the reconstruction score (the sum of the
        column terms, each in units of its column's usual term: ``aekit.models.tabular``)
        and the code distance (the mean distance of the row's code to its nearest training
        codes: a row that is extreme in a way the features share is rebuilt well but lies
        far out in code space)."""
        check_is_fitted(self, "model_")
        if self.table_spec_ is not None:
            return self.table_score_(self._model64(), self._table_rows(X))
        e = self.error_maps(X)
        return e.reshape(len(e), -1).mean(1)

    def explain(self, X):
        """Each column's contribution to each row's score; a row's contributions sum to its
        :meth:`decision_function` score. A DataFrame (rows x the training columns, in their
        order) when X is one; else ``(contributions (N, n_columns), column names)``.

        Tables: the score (:meth:`decision_function`: the reconstruction part and the code
        distance) is shared out in proportion to each column's term with that column hidden
        from the encoder (predicted from the others; a number's squared error in robust-scaled
        units, (x - median) / IQR, plus the cross-entropy of its missing mask; a category's
        cross-entropy). The code-distance part has no column of its own: it is shared out in
        the same proportions, so the column that explains the reconstruction part also
        carries the row's distance in code space. Arrays of numbers: each feature's squared
        error in [0, 1] units divided by the number of features."""
        check_is_fitted(self, "model_")
        e = self.error_maps(X)
        e = e.reshape(len(e), -1)
        if self.table_spec_ is None:
            names = [str(n) for n in getattr(self, "feature_names_in_", [])] or [
                f"x{j}" for j in range(e.shape[1])
            ]
            return e / e.shape[1], names
        order = [self.table_spec_.columns.index(c) for c in self.table_columns_]
        e, names = e[:, order], list(self.table_columns_)
        if is_frame(X):
            frame = type(X) if hasattr(type(X), "from_dict") else None
            if frame is not None:
                return frame(e, index=X.index, columns=names)
        return e, names

    def top_contributions(self, X, k: int = 3) -> list[list[tuple[str, float]]]:
        """Per row, its ``k`` largest (column, contribution) pairs, largest first."""
        return top_contributions(self, X, k)

    def predict(self, X) -> np.ndarray:
        """1 where the score exceeds the training threshold (an outlier), else 0."""
        check_is_fitted(self, "threshold_")
        return (self.decision_function(X) > self.threshold_).astype(int)

    def fit_predict(self, X, y=None) -> np.ndarray:
        return self.fit(X).labels_

    def report(self, X, y=None, path: str | Path = "report.html", examples: int = 8) -> Path:
        """Write a self-contained HTML page of X's anomaly scores to ``path``; returns it.

        It holds the score histogram with the threshold, the ROC curve when ``y`` is given
        (1 = anomaly, 0 = normal, one per row of X), and the ``examples`` most normal and most
        anomalous samples: image grids with their reconstructions for images, else the rows
        with their largest contributing columns (:meth:`explain`)."""
        from aekit.report.anomaly import Scored, extremes, memory_section
        from aekit.report.html import write_scores_page

        check_is_fitted(self, "threshold_")
        _writable_parent(Path(path))  # before the scoring and the figures
        scores = self.decision_function(X)
        truth = _truth(y, len(scores))
        lo, hi = extremes(scores, examples)
        ends = {"normal": lo, "anomalous": hi}
        flags = (scores > self.threshold_).astype(int)
        idx = {f"{w}_index": torch.from_numpy(i.astype(np.int64)) for w, i in ends.items()}
        s = Scored(scores, flags, float(self.threshold_), truth, idx)
        images = rows = None
        if self.table_spec_ is None and len(self.model_.input_shape) == 3:
            images = {w: self._unit_pair(_rows(X, i)) for w, i in ends.items()}
        else:
            rows = {w: self._contribution_rows(X, i, s) for w, i in ends.items()}
        sec = memory_section(s, self._report_meta(y is not None), images, rows)
        n = len(self.decision_scores_)
        title = f"{type(self).__name__}: {self.model_.registry_name} fitted on {n:,} samples"
        return write_scores_page(path, title, self._overview(), sec)

    def _report_meta(self, labeled: bool) -> dict[str, Any]:
        """What :meth:`report`'s sentences say of the scores, the rule and the labels."""
        meta = {
            "rule": self.threshold_rule_,
            "data": "X",
            "command": "detector.report(X" + ", y" * labeled + ")",
            "labels": "y",
            "inliers": f"a share {self.calibration:g} of the training X, held out of fitting",
            "threshold_scores": "the training scores",
        }
        if self.table_spec_ is not None:
            meta["score"] = (
                "two parts, each divided by its median on the training rows and added: the "
                "sum of their column terms (squared error for numbers, cross-entropy for "
                "categories, each in units of its column's usual term) and the distance of "
                "their code to the nearest training codes"
            )
        return meta

    def _overview(self) -> list[list[str]]:
        shape = list(self.model_.input_shape)
        n, held = len(self.decision_scores_), self.calibration_scores_ is not None
        rows = [
            ["model", f"{self.model_.registry_name}, code size {self.model_.latent_dim}"],
            ["input", f"images {shape}" if len(shape) == 3 else f"{self.n_features_in_} columns"],
            ["fitted on", f"{n:,} samples" + f" ({self.calibration:.0%} held out)" * held],
            ["epochs", str(self.epochs)],
            ["mode", self.mode],
            ["threshold", f"{self.threshold_:.4g} (rule {self.threshold_rule_})"],
        ]
        return [["", ""], *rows]

    @torch.no_grad()
    def _unit_pair(self, X) -> tuple[torch.Tensor, torch.Tensor]:
        """Images X and their reconstructions, both (N, C, H, W) in [0, 1]."""
        x, pr = self._to_model(X).double(), self.model_.pixel_range
        rec = self._model64().reconstruct(x)
        return from_range(x, pr).float(), from_range(rec, pr).float()

    @torch.no_grad()
    def _contribution_rows(self, X, idx: np.ndarray, s) -> list[list[str]]:
        """The table of rows ``idx`` of X: score, flag and largest contributing columns (for
        numbers also the value and the model's value, in X's units)."""
        from aekit.report.anomaly import contribution_table

        sub = _rows(X, idx)
        e, names = self.explain(sub), None
        if is_frame(e):
            e, names = e.to_numpy(np.float64), [str(c) for c in e.columns]
        else:
            e, names = e
        values = None
        if self.table_spec_ is None:  # numbers: the row and the model's row
            rec = self._model64().reconstruct(self._to_model(sub).double())
            values = (np.asarray(sub, np.float64).reshape(len(idx), -1), self._from_model(rec))
        rows = contribution_table(idx, s, np.asarray(e), names, values)
        if is_frame(X):  # a DataFrame's rows by its own index
            for r, label in zip(rows[1:], X.index[idx]):
                r[0] = str(label)
        return rows


def _writable_parent(path: Path) -> None:
    """Make ``path``'s folder if it is missing; a folder that cannot be made or written to is a
    one-line error naming it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path.parent, prefix=".aekit-", delete=True)
        probe.close()
    except OSError as e:
        raise DataError(
            f"cannot write the report into {str(path.parent)!r} ({e.strerror or e}); "
            "give path= a file in a folder you can write to"
        ) from None


def _truth(y, n: int) -> np.ndarray | None:
    """``y`` as 1 = anomaly per row (pyod's convention), checked: one per row, 0/1, both."""
    if y is None:
        return None
    t = np.asarray(y).reshape(-1)
    if len(t) != n:
        raise DataError(f"y has {len(t)} labels for {n} rows of X; give one per row")
    values = set(np.unique(t).tolist())
    if not values <= {0, 1}:
        shown = ", ".join(map(str, sorted(values, key=str)[:6]))
        raise DataError(
            f"y must be 1 for an anomaly and 0 for a normal row; got the values {shown} "
            "(e.g. y=(labels != normal_class).astype(int))"
        )
    if len(values) < 2:
        raise DataError(
            "y holds only one kind of row, and a ROC curve needs both anomalies (1) and normal "
            "rows (0); pass both, or leave y out"
        )
    return t.astype(np.int8)


def _rows(X, idx: np.ndarray):
    """Rows ``idx`` of an array or a DataFrame."""
    return X.iloc[idx] if is_frame(X) else X[idx]


__all__ = ["AutoencoderAnomalyDetector", "AutoencoderReducer"]
