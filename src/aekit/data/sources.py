"""Loading a dataset by name or path, and its seeded train/validation split.

``load_dataset(name, data_dir, split)`` returns a :class:`Dataset` for "train", "val", "test"
or "all". Sources without a test split (mnist5k, digits, user data) evaluate on "val". Sources
are read once and cached by their files' (path, size, mtime); every call returns new tensors.
The sources themselves live in ``builtin.py``, ``idx_sources.py`` and ``files.py``.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

import aekit.data.builtin  # noqa: F401  (registers mnist5k, digits, points2d)
import aekit.data.idx_sources  # noqa: F401  (registers mnist, fashion-mnist)
from aekit.data.dataset import Dataset
from aekit.data.files import (
    IMAGE_SUFFIXES,
    array_to_dataset,
    check_image_size,
    labels_path,
    load_array,
    load_csv,
    load_image_folder,
    load_images,
    load_path,
)
from aekit.data.idx_sources import IDX_SETS, cache_dir, download_idx, find_idx_file, md5_of
from aekit.data.registry import SOURCES, SourceEntry, list_datasets, register_dataset
from aekit.errors import DataError

SPLITS = ("train", "val", "test", "all")
CACHE_SIZE = 8  # sources kept in memory (each is read once per change of its files)
MEMORY_PREFIX = "memory-"  # names of in-memory data (aekit.train(data=array))

_cache: OrderedDict[tuple, dict[str, Dataset]] = OrderedDict()
_cache_lock = threading.Lock()
_memory: dict[str, Dataset] = {}  # in-memory datasets being trained on (see in_memory)

__all__ = [  # the names this module had before the split into builtin/idx_sources/files
    "IDX_SETS",
    "IMAGE_SUFFIXES",
    "SPLITS",
    "SourceEntry",
    "array_to_dataset",
    "cache_dir",
    "clear_cache",
    "download_idx",
    "find_idx_file",
    "has_test_split",
    "in_memory",
    "list_datasets",
    "load_array",
    "load_csv",
    "load_dataset",
    "load_image_folder",
    "load_images",
    "md5_of",
    "register_dataset",
    "stratified_split",
]


def load_dataset(
    name: str,
    data_dir: str | None = None,
    split: str = "train",
    *,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    image_size: list[int] | tuple[int, int] | None = None,
    grayscale: bool | None = None,
    limit: int | None = None,
    label_column: str | None = None,
) -> Dataset:
    """Load one split of a dataset by name (see ``list_datasets()``) or from a path;
    ``label_column``: a CSV's column of labels, kept out of the samples.

    "train" and "val" are a fixed, seeded, stratified split of the source's training data;
    "test" is the official test set where there is one, else the same as "val". The result is
    the caller's own: changing it never changes a later load.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val_fraction must be in [0, 1); got {val_fraction}")
    parts = _load_source(name, data_dir, check_image_size(image_size), grayscale, label_column)
    full = parts["train"]
    if limit is not None:
        if limit <= 0:
            raise DataError(f"data.limit must be positive; got {limit}")
        full = _stratified_head(full, limit, split_seed)
    if split == "all":
        return full.copy()
    if split == "test" and "test" in parts:
        return parts["test"].copy()
    if val_fraction == 0 and split != "train":
        raise DataError(_no_val_message(name, split, "test" in parts))
    train_idx, val_idx = stratified_split(full, val_fraction, split_seed)
    info = {
        "n_train": len(train_idx),
        "n_val": len(val_idx),
        "val_fraction": val_fraction,
        "split_seed": split_seed,
    }
    if split == "train":
        out = full.subset(train_idx, "train")
    else:
        out = full.subset(val_idx, "val" if split == "val" else "test(val)")
    out.info.update(info)
    return out


def _no_val_message(name: str, split: str, has_test: bool) -> str:
    """Why split "val" (or "test", which stands in for it) is empty at val_fraction=0."""
    what = f"{name} has no test split and " if split == "test" else ""
    splits = ", ".join(f'"{s}"' for s in ("train", "test", "all") if has_test or s != "test")
    return (
        f"{what}val_fraction=0 holds out no validation data, so split {split!r} would be empty; "
        f"its splits are {splits}: use one of them, or val_fraction > 0"
    )


def has_test_split(name: str, data_dir: str | None = None) -> bool:
    """Whether ``name`` has an official test split (else "test" is the validation split)."""
    entry = SOURCES.get(name)
    return entry is not None and entry.has_test


@contextlib.contextmanager
def in_memory(data: Dataset) -> Iterator[str]:
    """Make ``data`` loadable by a name (yielded) for the duration of the block: how
    ``aekit.train`` trains on an array or a Dataset without writing it to a file."""
    key = f"{MEMORY_PREFIX}{data.name}-{uuid.uuid4().hex[:8]}"
    _memory[key] = data
    try:
        yield key
    finally:
        _memory.pop(key, None)


def clear_cache() -> None:
    """Forget every source read so far (the next load reads the files again)."""
    with _cache_lock:
        _cache.clear()


def _signature(name: str, data_dir: str | None) -> tuple:
    """(path, size, mtime) of every file a source reads: a changed file is a new cache key."""
    entry = SOURCES.get(name)
    if entry is not None:
        files = entry.files(data_dir) if entry.files else []
    else:
        p = Path(name).expanduser()
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files = [p, labels_path(p)] if p.is_file() else []  # labels: data_labels.npy
    out = []
    for f in files:
        with contextlib.suppress(OSError):
            st = f.stat()
            out.append((str(f.resolve()), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _load_source(
    name: str, data_dir: str | None, image_size, grayscale, label_column=None
) -> dict[str, Dataset]:
    """The source's {"train": ..., ["test": ...]}, shared with the cache: callers copy."""
    if name in _memory:
        return {"train": _memory[name]}
    key = (name, data_dir, image_size, grayscale, label_column, _signature(name, data_dir))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    parts = _read_source(name, data_dir, image_size, grayscale, label_column)
    with _cache_lock:
        stale = [k for k in _cache if k[:5] == key[:5]]  # older versions of the same files
        for k in stale:
            del _cache[k]
        _cache[key] = parts
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return parts


def _read_source(
    name: str, data_dir: str | None, image_size, grayscale, label_column=None
) -> dict[str, Dataset]:
    if name in SOURCES:
        if label_column is not None:
            raise DataError(
                f"a label column ({label_column!r}) names a column of a .csv file; {name} is a "
                "built-in dataset with its own labels: drop the label column setting"
            )
        return SOURCES[name].loader(data_dir)
    p = Path(name).expanduser()
    if p.exists():
        return {"train": load_path(p, image_size, grayscale, label_column)}
    if name.startswith(MEMORY_PREFIX):
        raise DataError(
            f"{name!r} was an array or Dataset given to aekit.train(data=...) and is gone; "
            "save it (np.save) and pass the file with --data FILE"
        )
    raise DataError(
        f"unknown dataset {name!r}: not a built-in name ({', '.join(sorted(SOURCES))}) "
        "and no such file or folder"
    )


def stratified_split(
    data: Dataset, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/validation indices; stratified by label when there are labels."""
    n = len(data)
    rng = np.random.default_rng(seed)
    if val_fraction == 0:
        return rng.permutation(n), np.array([], dtype=np.int64)
    n_val = max(1, int(round(n * val_fraction)))
    if n_val >= n:  # a fraction too high, or too few samples to hold any out
        fix = "0.1" if int(round(n * 0.1)) < n and val_fraction > 0.1 else "0 (no validation split)"
        raise DataError(
            f"data.val_fraction={val_fraction:g} holds out all {n} samples for validation, "
            f"leaving none to train on; try --set data.val_fraction={fix}"
        )
    if data.labels is None:
        perm = rng.permutation(n)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])
    from sklearn.model_selection import train_test_split

    labels = data.labels.numpy()
    _, counts = np.unique(labels, return_counts=True)
    strat = labels if counts.min() >= 2 and min(n_val, n - n_val) >= len(counts) else None
    tr, va = train_test_split(np.arange(n), test_size=n_val, random_state=seed, stratify=strat)
    return np.sort(tr), np.sort(va)


def _stratified_head(data: Dataset, limit: int, seed: int) -> Dataset:
    if limit >= len(data):
        return data
    idx, _ = stratified_split(data, 1 - limit / len(data), seed)
    return data.subset(idx[:limit])
