"""Samples larger than memory: a memory-mapped .npy read a batch at a time.

A :class:`MappedArray` stands where a Dataset holds its tensor ``x``: it has the tensor's
``shape``, ``dtype``, ``dim()`` and ``index_select``, and keeps the training split as a list of
row numbers into the map, so that nothing but the rows of the current batch is ever read into
the process (the OS page cache holds what it can, and gives it back under memory pressure).
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np
import torch

from aekit.errors import DataError

#: .npy files at least this large are memory-mapped; smaller ones are read into memory, where
#: a batch is one contiguous index_select (no page faults) and the load takes well under a
#: second. 256 MiB is 340,000 MNIST-sized images: a copy that size is cheap on any machine.
MMAP_MIN_BYTES = 256 * 2**20


class MappedArray:
    """Rows ``rows`` (all when None) of a read-only memory-mapped array, as a tensor-like
    source of batches: every read gathers the sorted rows with one fancy index and returns
    a new torch tensor in the order asked for."""

    def __init__(self, array: np.ndarray, rows: np.ndarray | None = None, hint=None):
        self.array = array  # an np.memmap, or a view of one (e.g. NHWC -> NCHW transposed)
        self.rows = rows  # (n,) int64 row numbers into ``array``, or None for every row
        self.hint = hint  # hint(sorted rows): start reading them (see read_ahead), or None

    def __len__(self) -> int:
        return len(self.array) if self.rows is None else len(self.rows)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), *self.array.shape[1:]))

    @property
    def dtype(self) -> torch.dtype:
        return torch.from_numpy(np.empty(0, self.array.dtype)).dtype

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def dim(self) -> int:
        return self.array.ndim

    def to(self, device=None, *args, **kwargs) -> MappedArray:
        """Itself: batches move to the device one at a time (BatchMaker)."""
        return self

    def clone(self) -> MappedArray:
        """Itself: the map is read-only, so sharing it never lets one copy change another."""
        return self

    def take(self, idx) -> MappedArray:
        """The rows ``idx`` (positions in this array) as a new MappedArray: no data is read."""
        idx = np.asarray(torch.as_tensor(idx, dtype=torch.long).cpu())
        return MappedArray(self.array, idx if self.rows is None else self.rows[idx], self.hint)

    def gather(self, idx) -> torch.Tensor:
        """Rows ``idx`` (positions) as a new tensor, in that order: one sorted read of the map,
        then the rows put back into the order asked for."""
        pos = np.asarray(torch.as_tensor(idx, dtype=torch.long).cpu()).reshape(-1)
        rows = pos if self.rows is None else self.rows[pos]
        order = np.argsort(rows, kind="stable")
        if self.hint is not None:
            self.hint(rows[order])
        out = np.empty((len(rows), *self.array.shape[1:]), dtype=self.array.dtype)
        out[order] = self.array[rows[order]]  # (B, ...) read in file order
        return torch.from_numpy(out)

    def index_select(self, dim: int, idx: torch.Tensor) -> torch.Tensor:
        assert dim == 0, "MappedArray selects rows only"
        return self.gather(idx)

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if self.rows is None and step == 1:
                return torch.from_numpy(np.array(self.array[start:stop]))
            return self.gather(np.arange(start, stop, step))
        if isinstance(key, (int, np.integer)):
            return self.gather([key])[0]
        return self.gather(key)


def open_npy(path: Path) -> np.ndarray:
    """The .npy at ``path`` mapped read-only (nothing read but its header)."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        raise DataError(f"cannot map {str(path)!r} as a NumPy array ({e})") from None


def memory_limit() -> int:
    """Bytes of memory this process may use: the machine's, or its cgroup's limit if lower."""
    limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return limit
    for line in lines:  # "0::/path" (cgroup v2), "4:memory:/path" (v1)
        _, ctrl, path = line.split(":", 2)
        knob = {"": "memory.max", "memory": "memory.limit_in_bytes"}.get(ctrl)
        if knob is None:
            continue
        sub = "" if ctrl == "" else "memory"
        f = Path("/sys/fs/cgroup", sub, path.lstrip("/"), knob)
        try:
            text = f.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            limit = min(limit, int(text))
    return limit


def read_ahead(x: np.ndarray):
    """For a map larger than memory: no kernel read-ahead around each page fault (it reads
    32x more than a random row needs), and each batch's pages asked for all at once
    (MADV_WILLNEED), so the disk serves them in parallel. ``hint(rows)`` or None.

    Measured (benchmarks/bigdata.py): random 128-row batches of a 2 GiB map in 512 MiB read
    105 rows/s with read-ahead, 6,800 without, 26,000 with the batch asked for at once. The
    hints cost ~0.2 ms a batch, so a map that fits in memory goes without them."""
    mm = getattr(x, "_mmap", None)
    if mm is None or not hasattr(mm, "madvise") or x.nbytes <= memory_limit():
        return None
    mm.madvise(mmap.MADV_RANDOM)
    row_bytes = x.strides[0]
    first = x.offset % mmap.ALLOCATIONGRANULARITY  # row 0's place in the map (np.memmap)

    def hint(rows: np.ndarray) -> None:
        pos = first + rows * row_bytes
        start = pos - pos % mmap.PAGESIZE
        for a, b in zip(start.tolist(), (pos + row_bytes).tolist()):
            mm.madvise(mmap.MADV_WILLNEED, a, b - a)

    return hint


def float_range(x: np.ndarray, name: str, chunk: int = 65536) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature (min, max) of float rows (N, D) as float32, read a chunk at a time; refuses
    NaN and infinite values as the in-memory loader does."""
    lo = hi = None
    for i in range(0, len(x), chunk):
        with np.errstate(over="ignore"):
            part = np.asarray(x[i : i + chunk], dtype=np.float32)
        if not np.isfinite(part).all():
            what = "NaN" if np.isnan(part).any() else "infinite values (or values beyond float32)"
            raise DataError(f"{name}: array holds {what}; remove or impute those samples")
        plo, phi = part.min(0), part.max(0)
        lo = plo if lo is None else np.minimum(lo, plo)
        hi = phi if hi is None else np.maximum(hi, phi)
    return torch.from_numpy(lo), torch.from_numpy(hi)
