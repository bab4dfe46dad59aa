"""The user's own data: a folder of images (classes from sub-folders), one image, a .npy/.npz
array or a CSV table. Every bad file is refused with one line that says what to do."""

from __future__ import annotations

import csv
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

import aekit.data.mapped as mapped
from aekit.data.dataset import Dataset, Scaling
from aekit.data.tabular import (
    SEPARATORS,
    TableSpec,
    is_number,
    one_text_column,
    table_from_rows,
)
from aekit.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_SIDE = 4096  # --image-size bound: one 4096x4096 RGB image is 48 MiB as uint8
LABEL_COLUMNS = ("label", "target", "y", "class")


def is_image_source(name: str) -> bool:
    """Whether ``name`` is a folder or an image file: the sources that ``image_size`` resizes
    and ``grayscale`` converts (arrays, tables and built-in datasets keep their shape)."""
    p = Path(name).expanduser()
    return p.is_dir() or (p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_path(p: Path, image_size=None, grayscale=None, label_column=None) -> Dataset:
    """A dataset from a folder of images, an image, a .npy/.npz array or a .csv file;
    ``label_column``: a CSV's column of labels (see :func:`load_csv`)."""
    if label_column is not None and (p.is_dir() or p.suffix.lower() != ".csv"):
        raise DataError(
            f"a label column ({label_column!r}) names a column of a .csv file, and "
            f"{str(p)!r} is not one; drop the label column setting"
        )
    if p.is_dir():
        return load_image_folder(p, image_size, grayscale)
    suffix = p.suffix.lower()
    if suffix in (".npy", ".npz"):
        return load_array(p)
    if suffix == ".csv":
        return load_csv(p, label_column)
    if suffix in IMAGE_SUFFIXES:
        return load_images([p], image_size, grayscale, p.stem)
    raise DataError(
        f"cannot read {str(p)!r}: use a folder of images, a .npy/.npz array or a .csv file"
    )


def check_image_size(image_size) -> tuple[int, int] | None:
    """--image-size as (H, W), each side in 1..MAX_SIDE."""
    if image_size is None:
        return None
    size = tuple(image_size)
    if len(size) != 2 or not all(isinstance(s, int) and 1 <= s <= MAX_SIDE for s in size):
        raise DataError(
            f"image size {list(size)} must be two whole numbers H W between 1 and {MAX_SIDE}; "
            "try --image-size 28 28"
        )
    return size


# -- images ----------------------------------------------------------------------------------


def load_image_folder(root: Path, image_size=None, grayscale=None) -> Dataset:
    """Every image under ``root``; class labels from the first-level sub-folders when all
    images sit in them (torchvision's ImageFolder layout)."""
    files = image_files(root)
    data = load_images(files, image_size, grayscale, root.name)
    names = folder_classes(root, files)
    if names is not None:
        data.classes = sorted(set(names))
        data.labels = torch.tensor([data.classes.index(c) for c in names], dtype=torch.long)
    return data


def image_files(root: Path) -> list[Path]:
    """The image files under ``root``, sorted by path: the order of the samples."""
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found under {str(root)!r}")
    return files


def folder_classes(root: Path, files: list[Path]) -> list[str] | None:
    """Each file's class: its first-level sub-folder, when every file sits in one."""
    rel = [f.relative_to(root).parts for f in files]
    return [r[0] for r in rel] if all(len(r) >= 2 for r in rel) else None


def open_image(f: Path):
    """Decode one image, refusing from its header alone any image over PIL's pixel limit
    (``Image.MAX_IMAGE_PIXELS``; a decompression bomb is a small file of a huge image)."""
    from PIL import Image, UnidentifiedImageError

    limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(f) as im:  # reads the header only
                w, h = im.size
                if limit and w * h > limit:
                    raise Image.DecompressionBombError
                im.load()
                return im.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(
            f"image {str(f)!r} is too large to load (over {limit:,} pixels, a possible "
            "decompression bomb); shrink it or remove it from the folder"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"cannot read image {str(f)!r} ({e}); remove or replace the file") from None


def to_8bit(im, f: Path):
    """A PIL image with 8 bits per channel: 16-bit and 32-bit grey are scaled (65535 -> 255),
    not clipped (PIL's own convert("L") clips them to {0, ..., 255})."""
    from PIL import Image

    if not (im.mode.startswith("I") or im.mode == "F"):
        return im
    a = np.asarray(im).astype(np.float64)
    top = float(a.max(initial=0))
    if im.mode.startswith("I;16") or (im.mode == "I" and 255 < top <= 65535):
        a = a / 257.0  # 0..65535 -> 0..255
    elif im.mode == "F" and a.min(initial=0) >= 0 and top <= 1:
        a = a * 255.0
    if not np.isfinite(a).all() or a.min(initial=0) < 0 or a.max(initial=0) > 255.0 + 1e-6:
        raise DataError(
            f"image {str(f)!r} ({im.mode}) has values outside 0..255, 0..65535 or [0, 1]; "
            "save it as an 8- or 16-bit image"
        )
    return Image.fromarray(np.rint(a).astype(np.uint8), "L")


def load_images(files: list[Path], image_size=None, grayscale=None, name="images") -> Dataset:
    size = check_image_size(image_size)
    imgs = [to_8bit(open_image(f), f) for f in files]
    if grayscale is None:
        grayscale = all(im.mode in ("1", "L", "LA") for im in imgs)
    mode = "L" if grayscale else "RGB"
    check_one_size({(im.height, im.width) for im in imgs}, size, name)
    x = torch.from_numpy(np.stack([image_array(im, mode, size) for im in imgs]))
    return Dataset(name, x, info={"source": "images", "n_files": len(files)})


def check_one_size(
    sizes: set[tuple[int, int]],
    size,
    name: str,
    how: str = "--image-size H W (or --set data.image_size=[28,28])",
) -> None:
    """Refuse images of several sizes (H, W) unless ``size`` says what to resize them to;
    ``how`` names the options of the command that can set it."""
    if size is None and len(sizes) > 1:
        shown = ", ".join(f"{h}x{w}" for h, w in sorted(sizes)[:3])
        raise DataError(
            f"images under {name!r} have {len(sizes)} different sizes H x W (e.g. {shown}); "
            f"set one with {how}"
        )


def image_array(im, mode: str, size: tuple[int, int] | None) -> np.ndarray:
    """One 8-bit PIL image as a (C, H, W) uint8 array in ``mode`` ("L" or "RGB"), resized to
    ``size`` (H, W) when given."""
    from PIL import Image

    im = im.convert(mode)
    if size is not None and (im.height, im.width) != size:
        im = im.resize((size[1], size[0]), Image.BILINEAR)  # PIL takes (W, H)
    a = np.asarray(im, dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)  # (H,W,C) -> (C,H,W)


# -- arrays ----------------------------------------------------------------------------------


def check_array(x: np.ndarray, name: str) -> None:
    """Refuse what cannot be samples: wrong rank, no samples, non-numbers, complex, NaN/inf."""
    if x.ndim < 2 or x.ndim > 4:
        raise DataError(
            f"{name}: array of shape {x.shape} must be (N, D) rows or (N, H, W), (N, H, W, C), "
            "(N, C, H, W) images"
        )
    if x.size == 0:
        raise DataError(f"{name}: array of shape {x.shape} is empty; it needs samples")
    if np.iscomplexobj(x):
        raise DataError(
            f"{name}: array is complex; pass its real part (x.real) or magnitude (np.abs(x))"
        )
    if x.dtype == bool or not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{name}: array of {x.dtype} must hold numbers (int or float)")


def labels_from(y, n: int, name: str) -> tuple[torch.Tensor, list[str] | None]:
    """(N,) class ids from integer labels, or from text labels (the sorted names are classes)."""
    y = np.asarray(y).reshape(-1)
    if len(y) != n:
        raise DataError(f"{name}: {len(y)} labels for {n} samples")
    if y.dtype.kind in "USO":
        names, ids = np.unique(y.astype(str), return_inverse=True)
        return torch.from_numpy(ids.astype(np.int64)), [str(s) for s in names]
    if y.dtype == bool or not np.issubdtype(y.dtype, np.number) or np.iscomplexobj(y):
        raise DataError(f"{name}: labels of {y.dtype} must be whole numbers or text")
    bad = ~np.isfinite(y) | (y != np.round(y)) if y.dtype.kind == "f" else np.zeros(n, bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{name}: label {y[i]} of sample {i} is not a whole number; labels are class ids "
            "(0, 1, 2, ...) or text"
        )
    if y.min() < 0:  # e.g. -1/1: ids 0..K-1, the values as class names
        values, ids = np.unique(y, return_inverse=True)
        return torch.from_numpy(ids.astype(np.int64)), [str(int(v)) for v in values]
    return torch.from_numpy(y.astype(np.int64)), None


def to_nchw(x: np.ndarray) -> np.ndarray:
    """Images (N,H,W), (N,H,W,C) -> (N,C,H,W) as a view (rows and NCHW are kept)."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        return x.transpose(0, 3, 1, 2)  # NHWC -> NCHW
    return x


def array_to_dataset(
    x: np.ndarray, y: np.ndarray | None = None, name: str = "array", features=None
) -> Dataset:
    """Wrap a user array: uint8 images (N,H,W), (N,H,W,C), (N,C,H,W); or numbers (N,D) /
    images, which :class:`Scaling` maps to [0, 1]. ``features``: names of the D columns."""
    x = np.asarray(x)
    check_array(x, name)
    x = to_nchw(x)
    labels, classes = (None, None) if y is None else labels_from(y, len(x), name)
    info = {"features": list(features)} if features is not None else {}
    if x.dtype == np.uint8:
        xt = torch.from_numpy(np.array(x, copy=True, order="C"))
        return Dataset(name, xt, labels, classes=classes, info=info)
    with np.errstate(over="ignore"):  # beyond float32's range becomes inf, refused below
        xf = np.array(x, dtype=np.float32, copy=True, order="C")
    if not np.isfinite(xf).all():
        what = "NaN" if np.isnan(xf).any() else "infinite values (or values beyond float32)"
        raise DataError(f"{name}: array holds {what}; remove or impute those samples")
    scaling = Scaling.fit(xf)
    info.update(scaling.info())
    return Dataset(
        name, torch.from_numpy(xf), labels, classes=classes, lo=scaling.lo, hi=scaling.hi, info=info
    )


def load_array(path: Path) -> Dataset:
    """A .npy array of samples, or a .npz with samples under x/X/images/data/arr_0 and
    optional labels under y/labels/targets/arr_1. Pickled (object) arrays are never loaded."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
        if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):
            raise DataError(
                f"cannot read {str(path)!r}: it is not a NumPy file (no .npy/.npz header); "
                "save it with np.save or np.savez"
            )
        if path.suffix.lower() == ".npy" and path.stat().st_size >= mapped.MMAP_MIN_BYTES:
            data = load_mapped(path)
            if data is not None:
                return data
        obj = np.load(path, allow_pickle=False)
        if isinstance(obj, np.ndarray):
            x, y = obj, labels_beside(path)
        else:
            with obj:
                x, y = _npz_arrays(obj, path)
    except DataError:
        raise
    except ValueError as e:
        if "allow_pickle" not in str(e):
            raise DataError(f"cannot read {str(path)!r} as a NumPy array ({e})") from None
        raise DataError(
            f"{str(path)!r} holds Python objects (pickled arrays), which aekit never loads; "
            "save plain numeric arrays (np.save / np.savez of int or float arrays)"
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"cannot read {str(path)!r} as a NumPy array ({e})") from None
    return array_to_dataset(x, y, path.stem)


def labels_path(path: Path) -> Path:
    """Where the labels of ``data.npy`` live: ``data_labels.npy`` beside it."""
    return path.with_name(f"{path.stem}_labels.npy")


def labels_beside(path: Path) -> np.ndarray | None:
    """The labels saved beside a .npy (``aekit data pack`` writes them), if there are any."""
    lp = labels_path(path)
    return np.load(lp, allow_pickle=False) if lp.is_file() else None


def load_mapped(path: Path) -> Dataset | None:
    """A large .npy memory-mapped (mapped.py): uint8 images or rows, or float rows (N, D)
    whose per-feature range is found a chunk at a time. None for other arrays (read whole)."""
    x, name = mapped.open_npy(path), path.stem
    check_array(x, name)
    if not (x.dtype == np.uint8 or (x.dtype.kind == "f" and x.ndim == 2)):
        return None
    y = labels_beside(path)
    labels, classes = (None, None) if y is None else labels_from(y, len(x), name)
    lo = hi = None
    if x.dtype != np.uint8:
        lo, hi = mapped.float_range(x, name)
    info = {"memory_mapped": str(path)}
    if lo is not None:
        info.update(Scaling("minmax", lo, hi).info())
    xm = mapped.MappedArray(to_nchw(x), hint=mapped.read_ahead(x))
    return Dataset(name, xm, labels, classes=classes, lo=lo, hi=hi, info=info)


def _npz_arrays(obj, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    keys = list(obj.keys())
    xk = next((k for k in ("x", "X", "images", "data", "arr_0") if k in keys), None)
    if xk is None:
        raise DataError(f"{str(path)!r} has arrays {keys}; name the samples 'x' (and labels 'y')")
    yk = next((k for k in ("y", "labels", "targets", "arr_1") if k in keys), None)
    return obj[xk], (obj[yk] if yk else None)


# -- CSV -------------------------------------------------------------------------------------


def load_csv(path: Path, label_column: str | None = None) -> Dataset:
    """A CSV table. A first row that is not all numbers is the header: its names label the
    features, and the column ``label_column`` (default: one named label/target/y/class;
    numbers or text) becomes the labels, never an input of the model.
    Numbers only: min-max scaled rows; with text, booleans or empty cells: a mixed table for
    the ``tabular`` model (``aekit.data.tabular``)."""
    rows = _csv_rows(path)
    header = None
    if not all(is_number(v) for v in rows[0]):
        header, rows = [h.strip() for h in rows[0]], rows[1:]
    if not rows:
        raise DataError(f"{str(path)!r} has a header but no data rows; add one row per sample")
    width = len(header or rows[0])
    for i, r in enumerate(rows):
        if len(r) != width:
            raise DataError(
                f"{str(path)!r} is ragged: row {i + 1 + bool(header)} has {len(r)} values but "
                f"the {'header' if header else 'first row'} has {width}; give every row "
                "the same columns"
            )
    sep = one_text_column(header or [], [r[0] for r in rows])
    if sep is not None:
        raise DataError(
            f"{str(path)!r} seems separated by {sep} (its header reads as the one column "
            f"{header[0]!r}); aekit reads comma-separated files: save it with commas, e.g. "
            f"pandas.read_csv(path, sep={SEPARATORS[sep]!r}).to_csv(new_path, index=False)"
        )
    names = header or [f"x[{j}]" for j in range(width)]
    label_col = _label_index(path, header, label_column)
    feats = [j for j in range(width) if j != label_col]
    if not feats:
        raise DataError(
            f"{str(path)!r} has only a label column ({names[label_col]!r}); "
            "it needs at least one numeric feature column"
        )
    y = None if label_col is None else np.array([_label(r[label_col]) for r in rows], dtype=object)
    if y is not None:
        y = y.astype(str) if any(isinstance(v, str) for v in y) else y.astype(np.float64)
    fnames = [names[j] for j in feats]
    try:
        x = np.array([[float(r[j]) for j in feats] for r in rows], dtype=np.float64)
    except ValueError:
        x = None
    if x is None or np.isnan(x).any():  # text, booleans or missing cells: a mixed table
        return _table_csv(path.stem, fnames, [[r[j] for j in feats] for r in rows], y)
    return array_to_dataset(x, y, path.stem, features=fnames if header else None)


def _csv_rows(path: Path) -> list[list[str]]:
    """The non-empty rows of a CSV file (at least one), as text."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if r]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"cannot read {str(path)!r} as a CSV file ({e})") from None
    if not rows:
        raise DataError(f"{str(path)!r} is empty; it needs one row per sample")
    return rows


def csv_header(path: Path) -> list[str] | None:
    """The column names of a CSV file's header row (None: the first row is all numbers)."""
    first = _csv_rows(path)[0]
    return None if all(is_number(v) for v in first) else [h.strip() for h in first]


def _label_index(path: Path, header: list[str] | None, label_column: str | None) -> int | None:
    """Which column holds the labels: ``label_column`` by name (it must be in the header),
    else the first named label/target/y/class, else none."""
    names = header or []
    if label_column is None:
        return next((j for j, h in enumerate(names) if h.lower() in LABEL_COLUMNS), None)
    if label_column in names:
        return names.index(label_column)
    if header is None:
        raise DataError(
            f"{str(path)!r} has no header row, so no column is named {label_column!r}; "
            "add a header line of column names"
        )
    raise DataError(
        f"{str(path)!r} has no column {label_column!r}; its columns are {', '.join(names)}"
    )


def _table_csv(name: str, names: list[str], rows: list[list[str]], y) -> Dataset:
    """A CSV with categories or missing cells, encoded for the ``tabular`` model
    (``aekit.data.tabular``); the encoding travels in ``info["table"]``."""
    table = table_from_rows(names, rows)
    spec = TableSpec.fit(table)
    x = torch.from_numpy(spec.encode(table))
    labels, classes = (None, None) if y is None else labels_from(y, len(x), name)
    info = {"features": names, "table": spec.to_dict()}
    return Dataset(name, x, labels, classes=classes, info=info)


def _label(v: str) -> float | str:
    return float(v) if is_number(v) else v.strip()
