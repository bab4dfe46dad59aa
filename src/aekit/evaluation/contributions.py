"""Which columns make a row anomalous: each column's share of a row's anomaly score.

For the ``tabular`` model a row's score is the sum of its column loss terms, each divided by
the column's usual term on the training rows (``aekit.models.tabular``: squared error in
robust-scaled units plus its missing-mask term for a number, cross-entropy for a category), and
the score is shared out over the columns in proportion to each column's leave-one-out term (the
column hidden from the encoder), so that a row's contributions sum to its score and a wrong cell
is blamed on its own column. (:class:`TableScore` adds a code distance to a table's score; the
detector shares the whole of it out the same way: ``AutoencoderAnomalyDetector.explain``.)
For other models on (N, D) rows it is the squared reconstruction error of the feature in
[0, 1] units divided by D, so that a row's terms sum to its score, the mean squared error.
"""

from __future__ import annotations

import numpy as np
import torch

from aekit.data.tabular import TableSpec, encode_frame, is_frame
from aekit.errors import DataError
from aekit.evaluation.evaluate import reconstruct_unit
from aekit.models.tabular import TabularAutoencoder


def is_table(x) -> bool:
    """A DataFrame, or an object array with text or missing cells: data for the ``tabular``
    model. An object array of numbers is numbers, as scikit-learn treats it (and a cell that
    is neither then fails NumPy's float conversion with a TypeError)."""
    if is_frame(x):
        return True
    if not (isinstance(x, np.ndarray) and x.dtype == object):
        return False
    return any(isinstance(v, str) or v is None or v != v for v in x.ravel())


def is_table_model(model) -> bool:
    """Whether ``model`` is the ``tabular`` family: its score is the sum of column terms."""
    return isinstance(model, TabularAutoencoder)


@torch.no_grad()
def table_scores(model, x: torch.Tensor, batch_size: int = 4096) -> np.ndarray:
    """(N,) float64 anomaly scores of encoded rows ``x`` for the tabular model."""
    dtype = next(model.parameters()).dtype
    parts = [
        model.row_scores(x[i : i + batch_size].to(dtype)) for i in range(0, len(x), batch_size)
    ]
    return torch.cat(parts).double().numpy() if parts else np.zeros(0)


CODE_K = 5  # neighbours of a table row's code distance (as aekit.oneclass's knn score)
CODE_REF = 2000  # training codes kept for it: a seeded subsample of the training rows


class TableScore:
    """The ``tabular`` model's anomaly score of a row: two parts, each divided by its median
    over the training rows and added. The reconstruction part is :func:`table_scores` (the sum
    of the column terms); the code distance is the mean distance of the row's code to its
    ``CODE_K`` nearest training codes after the nearest (left out, so a training row is not
    its own neighbour; the same rule for fresh rows keeps their scores comparable): a row that
    is extreme in a way the columns share is rebuilt well but lies far out in code space.

    Built from the model and its encoded training rows (at most ``CODE_REF`` codes kept, a
    subsample seeded by ``seed``); it keeps no model: pass the same one to :meth:`parts`."""

    @torch.no_grad()
    def __init__(self, model, train_x: torch.Tensor, seed: int = 0):
        from sklearn.neighbors import NearestNeighbors

        keep = np.sort(np.random.default_rng(seed).permutation(len(train_x))[:CODE_REF])
        self.train_codes = _codes(model, train_x[keep])
        k = min(CODE_K + 1, len(self.train_codes))  # built once, not at every score call
        self.index = NearestNeighbors(n_neighbors=k).fit(self.train_codes)
        self.medians = np.median(self.parts(model, train_x), axis=0).clip(np.finfo(float).tiny)

    @torch.no_grad()
    def parts(self, model, x: torch.Tensor) -> np.ndarray:
        """(N, 2) float64: each row's reconstruction part and code distance, unscaled."""
        rec = table_scores(model, x)
        if self.index.n_neighbors < 2 or len(x) == 0:
            return np.stack([rec, 0 * rec], 1)
        dist = self.index.kneighbors(_codes(model, x))[0][:, 1:].mean(1)
        return np.stack([rec, dist], 1)

    def __call__(self, model, x: torch.Tensor) -> np.ndarray:
        """(N,) float64 scores: the two parts over their training medians, added."""
        return (self.parts(model, x) / self.medians).sum(1)


def _codes(model, x: torch.Tensor, batch_size: int = 4096) -> np.ndarray:
    dtype = next(model.parameters()).dtype
    out = [model.encode(x[i : i + batch_size].to(dtype)) for i in range(0, len(x), batch_size)]
    return torch.cat(out).double().numpy()


@torch.no_grad()
def column_contributions(model, x: torch.Tensor, batch_size: int = 4096) -> np.ndarray:
    """(N, n_columns) float64 contributions of rows ``x`` (encoded rows for the tabular model;
    [0, 1] units for others, on the CPU); each row sums to its anomaly score."""
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(next(model.parameters()).dtype)
        if isinstance(model, TabularAutoencoder):
            out.append(model.row_contributions(xb).double())
        else:  # [0, 1] units whatever the model's pixel range
            err = (reconstruct_unit(model, xb) - xb).flatten(1).double().pow(2)
            out.append(err / err.shape[1])
    n_cols = len(column_names(model, None))
    return torch.cat(out).numpy() if out else np.zeros((0, n_cols))


def column_names(model, features: list[str] | None) -> list[str]:
    """The names of :func:`column_contributions`' columns."""
    if isinstance(model, TabularAutoencoder) and model.config.columns:
        return list(model.config.columns)
    return list(features) if features else [f"x[{j}]" for j in range(model.input_dim)]


def _run_rows(run, X) -> tuple[torch.Tensor, list[str]]:
    """Rows of ``X`` (a Dataset the run loaded, a DataFrame or encoded rows) for a run's model,
    and the column names."""
    model = run.model
    features = run.info.get("data", {}).get("features")
    tab = isinstance(model, TabularAutoencoder) and bool(model.config.columns)
    if is_frame(X):
        if not tab:
            raise DataError(
                "this run's model reads numbers scaled as its training data was; pass "
                "run.data(split, path) instead of a DataFrame"
            )
        spec = TableSpec.from_dict(model.config.__dict__)
        return torch.from_numpy(encode_frame(X, spec)[0]), column_names(model, None)
    if hasattr(X, "x") and hasattr(X, "to_unit"):  # a Dataset
        x = X.to_unit(X.x) if not tab else X.x.float()
        return x, column_names(model, features)
    return torch.as_tensor(X), column_names(model, features)


def top_contributions(source, X, k: int = 3) -> list[list[tuple[str, float]]]:
    """Per row of ``X``, its ``k`` largest column contributions as (column, value), largest
    first. ``source``: a fitted ``AutoencoderAnomalyDetector`` (X as it takes it) or an
    ``aekit.Run`` (X: a Dataset from ``run.data(...)``, a DataFrame, or encoded rows)."""
    if hasattr(source, "explain"):
        res = source.explain(X)
        if is_frame(res):
            values, names = res.to_numpy(np.float64), [str(c) for c in res.columns]
        else:
            values, names = res
    else:
        x, names = _run_rows(source, X)
        values = column_contributions(source.model, x)
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    return [[(names[j], float(values[i, j])) for j in row] for i, row in enumerate(order)]


__all__ = [
    "TableScore",
    "column_contributions",
    "column_names",
    "is_table",
    "is_table_model",
    "table_scores",
    "top_contributions",
]
