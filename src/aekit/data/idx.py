"""Reader and writer for the IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

An IDX file is: two zero bytes, a type code, the number of dimensions, each dimension as a
big-endian int32, then the values in C order. Files may be gzip-compressed.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from aekit.errors import DataError

_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read a (possibly gzipped) IDX file into an array of its declared shape."""
    p = Path(path)
    try:
        raw = p.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise DataError(f"IDX file {str(p)!r} not found") from None
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(
            f"{str(p)!r} is not a readable gzip file ({e}); delete it and fetch it again"
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise DataError(
            f"{str(p)!r} is not an IDX file (bad magic number); delete it and fetch it again"
        )
    dtype, ndim = _TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{str(p)!r} is truncated (header); delete it and fetch it again")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(
            f"{str(p)!r} holds {len(raw)} bytes but its header promises {expected} "
            "(truncated or corrupt); delete it and fetch it again"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzipped when the name ends in .gz)."""
    a = np.asarray(array)
    code = next(
        (k for k, v in _TYPES.items() if v.newbyteorder("=") == a.dtype.newbyteorder("=")), None
    )
    if code is None:
        raise ValueError(f"IDX cannot store dtype {a.dtype}")
    body = bytes([0, 0, code, a.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in a.shape)
    body += a.astype(_TYPES[code]).tobytes()
    p = Path(path)
    p.write_bytes(gzip.compress(body, mtime=0) if p.suffix == ".gz" else body)
