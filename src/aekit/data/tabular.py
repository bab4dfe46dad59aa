"""Tables as people have them: numbers, booleans, categories and missing cells, read from a
pandas DataFrame (duck-typed: pandas is never imported here) or a CSV, and encoded for the
``tabular`` model (``aekit.models.tabular``).

The encoded row (float32) is ``[numbers | their missing masks | category codes]``:

- a number column (booleans are 0/1) gives its raw value (0 where missing) and a mask (1 =
  missing); the model scales numbers itself (median / IQR of the training rows, stored with
  its weights) and imputes a missing number with the training median;
- a category column gives the index of its value in the training categories (sorted text;
  a missing cell is the category ``<missing>`` when training had missing cells there); a
  category not seen in training is the index ``len(categories)``: the "unknown" slot.

Which kind a column is: a pandas ``category`` dtype is categorical; a column whose present
cells are all numbers (or all booleans, ``true``/``false`` in a CSV) is numeric; a column
mostly of text is categorical (its numbers become category names); a column mostly of numbers
with some text is refused (a typo in a numeric column must not turn it into categories).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from aekit.errors import DataError

#: cells read as missing (besides None, NaN, pandas.NA): empty cells and pandas' usual words
MISSING_TEXT = frozenset({"", "na", "n/a", "nan", "null", "none", "<na>"})
#: the category of a missing cell in a categorical column
MISSING = "<missing>"
BOOL_TEXT = {"true": 1.0, "false": 0.0}
#: what a file read as one text column may be separated by instead of commas: name -> character
SEPARATORS = {"';'": ";", "tabs": "\t"}


@dataclass
class Table:
    """Raw columns of a table: ``names`` and one array per column (object or numeric)."""

    names: list[str]
    columns: list[np.ndarray]
    declared: list[bool]  # the column's dtype says it is categorical (pandas ``category``)

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def column(self, name: str) -> np.ndarray:
        if name not in self.names:
            headerless = _looks_headerless(self.names)
            raise DataError(
                f"the data has no column {name!r}, which the model was trained on (it has "
                f"{', '.join(self.names[:5])}{'...' if len(self.names) > 5 else ''}); "
                + (
                    "those names look like a row of data: give the file the training "
                    "header line first"
                    if headerless
                    else "pass a table with the training columns"
                )
            )
        return self.columns[self.names.index(name)]


def is_number(v) -> bool:
    """Whether ``v`` (a CSV cell, a column name) reads as a number."""
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def _looks_headerless(names: list[str]) -> bool:
    """Whether column names look like a row of data: a CSV's first row is its header unless
    it is all numbers, so a headerless table with text cells is named by its first row."""
    return any(is_number(n) for n in names)


def is_frame(x) -> bool:
    """Whether ``x`` is a DataFrame-like table (pandas or a look-alike): columns by name."""
    return hasattr(x, "columns") and hasattr(x, "dtypes") and hasattr(x, "iloc")


def table_from_frame(df) -> Table:
    """A :class:`Table` of a pandas DataFrame (column names as text)."""
    names, cols, declared = [], [], []
    for name in df.columns:
        s = df[name]
        kind = getattr(s.dtype, "kind", "O")
        cat = str(s.dtype) == "category"
        if kind in "biuf" and not cat:  # nullable Int64 / boolean too: NA -> NaN
            cols.append(s.to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            cols.append(s.to_numpy(dtype=object))
        names.append(str(name))
        declared.append(cat)
    return Table(names, cols, declared)


def table_from_rows(names: list[str], rows: list[list[str]]) -> Table:
    """A :class:`Table` of CSV cells (text), one list per row."""
    cols = [np.array([r[j] for r in rows], dtype=object) for j in range(len(names))]
    return Table(list(names), cols, [False] * len(names))


def is_missing(v) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip().lower() in MISSING_TEXT
    if isinstance(v, (float, np.floating)):
        return math.isnan(v)
    return type(v).__name__ in ("NAType", "NaTType")


def as_number(v) -> float | None:
    """A cell as a number (booleans 0/1; text parsed), or None when it is not one."""
    if isinstance(v, (bool, np.bool_)):
        return float(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    if isinstance(v, str):
        t = v.strip().lower()
        if t in BOOL_TEXT:
            return BOOL_TEXT[t]
        try:
            return float(t)
        except ValueError:
            return None
    return None


def number_column(name: str, col: np.ndarray) -> np.ndarray:
    """(N,) float64 with NaN for missing cells; DataError naming the first cell that is text."""
    if col.dtype.kind in "biuf":
        out = col.astype(np.float64)
    else:
        out = _parsed_numbers(name, col)
    if np.isinf(out).any():
        i = int(np.flatnonzero(np.isinf(out))[0])
        raise DataError(
            f"column {name!r} holds an infinite value (row {i + 1}); fix or empty the cell"
        )
    return out


def _parsed_numbers(name: str, col: np.ndarray) -> np.ndarray:
    """Cells of an object column as float64 (NaN where missing); DataError at the first text."""
    out = np.full(len(col), np.nan)
    for i, v in enumerate(col):
        if is_missing(v):
            continue
        f = as_number(v)
        if f is None:
            raise DataError(
                f"column {name!r} holds numbers but row {i + 1} is {v!r}; fix or empty the "
                "cell, or make the column categorical (a pandas 'category' dtype)"
            )
        out[i] = f
    return out


def one_text_column(names: list[str], cells) -> str | None:
    """The separator (a key of ``SEPARATORS``) that a table of one text column named
    ``names[0]`` seems to be separated by, e.g. a semicolon-separated file read with commas;
    None for any other table (more columns, no ';' or tab in the name, or numbers)."""
    if len(names) != 1 or all(is_missing(v) or as_number(v) is not None for v in cells):
        return None
    return next((k for k, c in SEPARATORS.items() if c in str(names[0])), None)


def column_kind(name: str, col: np.ndarray, declared: bool) -> str:
    """'number' or 'category' (the rule in the module docstring)."""
    if declared:
        return "category"
    if col.dtype.kind in "biuf":
        if col.dtype.kind == "f" and np.isnan(col).all():
            raise _all_missing(name)
        return "number"
    present = [v for v in col if not is_missing(v)]
    if not present:
        raise _all_missing(name)
    numeric = sum(as_number(v) is not None for v in present)
    if numeric == len(present):
        return "number"
    if 2 * numeric >= len(present):
        number_column(name, col)  # raises on the first text cell
    return "category"


def _all_missing(name: str) -> DataError:
    return DataError(f"column {name!r} has no values (every cell is missing); drop the column")


def category_text(v) -> str:
    if is_missing(v):
        return MISSING
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))  # 3.0 and "3" are the same category
    return str(v).strip()


@dataclass
class TableSpec:
    """A fitted table encoding: the columns in the model's input order (numbers first, then
    categories) and each categorical column's training categories. It is stored as the
    ``tabular`` model's config (``columns``, ``numeric``, ``categories``) in config.json."""

    columns: list[str]
    numeric: int
    categories: list[list[str]]

    @classmethod
    def fit(cls, table: Table) -> TableSpec:
        if not table.names or len(table) == 0:
            raise DataError("the table is empty; it needs rows and at least one column")
        sep = one_text_column(table.names, table.columns[0])
        if sep is not None:
            raise DataError(
                f"the table has one text column, {table.names[0]!r}: its file seems separated "
                f"by {sep}; read it with that separator, e.g. "
                f"pandas.read_csv(path, sep={SEPARATORS[sep]!r})"
            )
        kinds = [
            column_kind(n, c, d) for n, c, d in zip(table.names, table.columns, table.declared)
        ]
        nums = [n for n, k in zip(table.names, kinds) if k == "number"]
        cats = [n for n, k in zip(table.names, kinds) if k == "category"]
        vocab = [sorted({category_text(v) for v in table.column(n)}) for n in cats]
        return cls(nums + cats, len(nums), vocab)

    @classmethod
    def from_dict(cls, d: dict) -> TableSpec:
        return cls(list(d["columns"]), int(d["numeric"]), [list(c) for c in d["categories"]])

    def to_dict(self) -> dict:
        return {"columns": self.columns, "numeric": self.numeric, "categories": self.categories}

    @property
    def input_dim(self) -> int:
        return 2 * self.numeric + len(self.categories)

    def encode(self, table: Table) -> np.ndarray:
        """(N, 2 * numeric + n_categories) float32: numbers | masks | codes (module doc)."""
        missing = [c for c in self.columns if c not in table.names]
        if len(missing) > 1:  # one: Table.column says so
            fix = (
                f"it has {', '.join(table.names[:5])}, which look like a row of data: give the "
                "file the training header line first"
                if _looks_headerless(table.names)
                else "pass a table with the training columns"
            )
            raise DataError(
                f"the data has no columns {', '.join(missing)}, which the model was trained "
                f"on; {fix} ({', '.join(self.columns)})"
            )
        nums = [number_column(n, table.column(n)) for n in self.columns[: self.numeric]]
        x = np.zeros((len(table), self.input_dim), np.float32)
        for j, v in enumerate(nums):
            miss = np.isnan(v)
            x[:, j] = np.where(miss, 0.0, v)
            x[:, self.numeric + j] = miss
        for k, (name, vocab) in enumerate(zip(self.columns[self.numeric :], self.categories)):
            index = {c: i for i, c in enumerate(vocab)}
            col = table.column(name)
            x[:, 2 * self.numeric + k] = [index.get(category_text(v), len(vocab)) for v in col]
        return x

    def decode(self, x: np.ndarray) -> list[np.ndarray]:
        """Rows in the input layout (a ``tabular`` model's ``decode``) -> one object array per
        column in ``columns`` order: numbers (NaN where the mask says missing), category names
        (``<unknown>`` for the unseen slot)."""
        n = self.numeric
        out = [np.where(x[:, n + j] > 0.5, np.nan, x[:, j]).astype(object) for j in range(n)]
        for k, vocab in enumerate(self.categories):
            names = np.array([*vocab, "<unknown>"], dtype=object)
            out.append(names[np.clip(x[:, 2 * n + k].round().astype(np.int64), 0, len(vocab))])
        return out


def encode_frame(df, spec: TableSpec | None = None) -> tuple[np.ndarray, TableSpec]:
    """A DataFrame encoded with ``spec`` (fitted on ``df`` when None): (x, spec)."""
    table = table_from_frame(df)
    spec = spec or TableSpec.fit(table)
    return spec.encode(table), spec


def conform(x: np.ndarray, own: TableSpec | None, names: list[str], spec: TableSpec) -> np.ndarray:
    """Rows ``x`` encoded with ``own`` (None: plain numbers named ``names``) re-encoded with
    the model's ``spec``: columns matched by name, category codes mapped to ``spec``'s
    categories (unseen ones to the unknown slot)."""
    if own is None:  # plain numeric rows: every cell present
        own = TableSpec(list(names), len(names), [])
        x = np.concatenate([x, np.zeros_like(x)], axis=1)
    table = Table([], [], [])
    for j, name in enumerate(own.columns):
        if j < own.numeric:
            col = np.where(x[:, own.numeric + j] > 0.5, np.nan, x[:, j]).astype(np.float64)
        else:
            vocab = own.categories[j - own.numeric]
            codes = x[:, own.numeric + j].astype(np.int64)
            col = np.array([vocab[c] if c < len(vocab) else "<unknown>" for c in codes], object)
        table.names.append(name)
        table.columns.append(col)
        table.declared.append(False)
    return spec.encode(table)


def conform_table(ds, model: dict):
    """A loaded Dataset re-encoded with a ``tabular`` model's encoding (its config ``model``:
    columns / numeric / categories), e.g. a CSV scored by a run trained on another CSV."""
    own = ds.info.get("table")
    own = None if own is None else TableSpec.from_dict(own)
    names = ds.info.get("features") or [f"x[{j}]" for j in range(ds.x.shape[1])]
    x = conform(ds.x.numpy(), own, names, TableSpec.from_dict(model))
    ds.x, ds.lo, ds.hi = torch.from_numpy(x), None, None
    return ds


__all__ = [
    "MISSING",
    "Table",
    "TableSpec",
    "conform",
    "conform_table",
    "encode_frame",
    "is_frame",
    "table_from_frame",
    "table_from_rows",
]
