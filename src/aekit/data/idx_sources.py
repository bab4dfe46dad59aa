"""MNIST and Fashion-MNIST from their official IDX files: found in --data-dir (flat or
torchvision's layout) or the user cache, else downloaded from the official mirrors with an md5
check. Local files are checked against every known set's md5s, so one set's folder is never
read as another's."""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aekit.data.dataset import Dataset
from aekit.data.idx import read_idx
from aekit.data.registry import register_dataset
from aekit.errors import DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IdxSet:
    folder: str  # torchvision's folder name under DIR/<folder>/raw
    mirrors: tuple[str, ...]
    md5: dict  # file name -> md5 of the official .gz
    raw_md5: dict  # file name -> md5 of the uncompressed file
    classes: tuple[str, ...]
    description: str  # what `aekit datasets` shows


FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

# md5s: http://yann.lecun.com/exdb/mnist/ (via torchvision) and zalandoresearch/fashion-mnist
IDX_SETS = {
    "mnist": IdxSet(
        "MNIST",
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        dict(
            zip(
                FILES,
                (
                    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                    "d53e105ee54ea40749a09fcbcd1e9432",
                    "9fb629c4189551a2d022fa330f9573f3",
                    "ec29112dd5afa0611ce80d1b7f02629c",
                ),
            )
        ),
        dict(
            zip(
                FILES,
                (
                    "6bbc9ace898e44ae57da46a324031adb",
                    "a25bea736e30d166cdddb491f175f624",
                    "2646ac647ad5339dbf082846283269ea",
                    "27ae3e4e09519cfbb04c329615203637",
                ),
            )
        ),
        tuple(str(i) for i in range(10)),
        "official MNIST, 60,000 train + 10,000 test (IDX files: --data-dir, cache or download)",
    ),
    "fashion-mnist": IdxSet(
        "FashionMNIST",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        dict(
            zip(
                FILES,
                (
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                    "25c81989df183df01b3e8a0aad5dffbe",
                    "bef4ecab320f06d8554ea6380940ec79",
                    "bb300cfdad3c16e7a12a480ee83cd310",
                ),
            )
        ),
        dict(
            zip(
                FILES,
                (
                    "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                    "9018921c3c673c538a1fc5bad174d6f9",
                    "8181f5470baa50b63fa0f6fddb340f0a",
                    "15d484375f8d13e6eb1aabb0c3f46965",
                ),
            )
        ),
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
        "official Fashion-MNIST, 60,000 train + 10,000 test (IDX files)",
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


def find_idx_files(name: str, data_dir: str | None) -> dict[str, Path | None]:
    """The four files of a set, each a path or None where it is not on disk."""
    return {f: find_idx_file(name, f, data_dir) for f in FILES}


def md5_of(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def which_set(md5: str) -> str | None:
    """The known set one of whose official files (gzipped or not) has this md5."""
    for set_name, spec in IDX_SETS.items():
        if md5 in spec.md5.values() or md5 in spec.raw_md5.values():
            return set_name
    return None


def check_set(name: str, paths: dict[str, Path]) -> bool:
    """Refuse files that are another known set's; True when all four are the official ones.

    Files that match no known md5 (a user's own IDX files in MNIST's format) are read, with a
    note in the log."""
    official = True
    for fname, p in paths.items():
        got = md5_of(p)
        owner = which_set(got)
        if owner is not None and owner != name:
            raise DataError(
                f"{str(p)!r} is {owner}'s {fname.removesuffix('.gz')}, not {name}'s; "
                f"use --data {owner}, or point --data-dir at the {name} files"
            )
        official = official and got in (IDX_SETS[name].md5[fname], IDX_SETS[name].raw_md5[fname])
    if not official:
        log.warning("the %s files in %s are not the official ones (md5 differs)", name, p.parent)
    return official


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


def _read_split(name: str, split: str, images_path: Path, labels_path: Path) -> Dataset:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"{name} {split}: images are {images.dtype} and labels {labels.dtype}, but IDX "
            "image sets hold unsigned bytes (type 0x08); check the files in --data-dir"
        )
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels) or not len(images):
        raise DataError(
            f"{name} {split}: images {images.shape} and labels {labels.shape} do not match; "
            "check the files in --data-dir"
        )
    return Dataset(
        name,
        torch.from_numpy(images[:, None].copy()),  # (N, 28, 28) -> (N, 1, 28, 28)
        torch.from_numpy(labels.astype(np.int64)),
        split,
        list(IDX_SETS[name].classes),
        info={"files": [str(images_path), str(labels_path)]},
    )


def idx_source(name: str, data_dir: str | None) -> dict[str, Dataset]:
    if data_dir and not Path(data_dir).expanduser().is_dir():
        raise DataError(
            f"--data-dir {data_dir!r} is not a folder; pass the folder that holds the {name} "
            "files (or leave --data-dir out to use the cache and the download)"
        )
    paths = find_idx_files(name, data_dir)
    local = {f: p for f, p in paths.items() if p is not None}
    official = check_set(name, local) if local else True
    for fname, p in paths.items():
        if p is None:
            paths[fname] = download_idx(name, fname, cache_dir() / name)
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        out[split] = _read_split(
            name,
            split,
            paths[f"{prefix}-images-idx3-ubyte.gz"],
            paths[f"{prefix}-labels-idx1-ubyte.gz"],
        )
        out[split].info["official_md5"] = official
    return out


def _register(name: str) -> None:
    """Register IDX set ``name`` (mnist, fashion-mnist) as a dataset source."""

    def files(data_dir):
        return [p for p in find_idx_files(name, data_dir).values() if p is not None]

    def load(data_dir=None):
        return idx_source(name, data_dir)

    register_dataset(name, IDX_SETS[name].description, has_test=True, files=files)(load)


for _name in IDX_SETS:
    _register(_name)
