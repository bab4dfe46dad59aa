"""Pack an image folder once into a uint8 .npy that training memory-maps (`aekit data pack`).

The images are decoded exactly as training on the folder decodes them (files.py), one at a
time, into a map of the output file; labels from class sub-folders (torchvision's ImageFolder
layout) go beside it as ``<name>_labels.npy`` (the class names, as text). Nothing appears under
the output names until every image has been written: the files are built as ``.tmp`` and
renamed (the data before its labels), and removed if anything fails. An existing output is
replaced only with ``--force``; a folder's name or another pack's labels file never is.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aekit.data.files import (
    check_image_size,
    check_one_size,
    folder_classes,
    image_array,
    image_files,
    labels_path,
    open_image,
    to_8bit,
)
from aekit.errors import DataError

GREY_MODES = ("1", "L", "LA")  # and 16/32-bit grey (I*, F), which to_8bit makes "L"


@dataclass
class Packed:
    out: Path  # the (N, C, H, W) uint8 .npy
    shape: tuple[int, ...]
    labels: Path | None  # <name>_labels.npy, when the folder has class sub-folders
    classes: list[str] | None


def pack_images(
    root: str | Path,
    out: str | Path,
    image_size=None,
    grayscale: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> Packed:
    """Write every image under ``root`` to ``out`` (a .npy of (N, C, H, W) uint8, in sorted
    path order) and the class of each beside it. ``progress(done, total)`` after each image.
    An existing ``out`` (or its labels file) is replaced only when ``force`` is true."""
    root, out = Path(root), Path(out)
    files = _check_paths(root, out, force)
    size = check_image_size(image_size)
    shape, mode = _scan(files, size, grayscale, root.name)
    names = folder_classes(root, files)
    lab_out = labels_path(out)
    tmp, lab_tmp = out.with_name(out.name + ".tmp"), lab_out.with_name(lab_out.name + ".tmp")
    try:
        x = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(files), *shape))
        for i, f in enumerate(files):
            x[i] = image_array(to_8bit(open_image(f), f), mode, size)
            if progress is not None:
                progress(i + 1, len(files))
        x.flush()
        del x  # closes the map before the rename
        if names is not None:
            with open(lab_tmp, "wb") as fh:
                np.save(fh, np.array(names))  # text: labels_from makes sorted class ids
        os.replace(tmp, out)  # the data first: its labels never describe other images
        if names is not None:
            os.replace(lab_tmp, lab_out)
        else:
            lab_out.unlink(missing_ok=True)  # a stale one would label the new images
    except BaseException as e:
        for t in (tmp, lab_tmp):
            with contextlib.suppress(OSError):
                t.unlink()
        if isinstance(e, OSError) and e.filename in (str(tmp), str(lab_tmp)):
            raise DataError(f"cannot write --out {str(out)!r} ({e.strerror})") from None
        raise
    classes = None if names is None else sorted(set(names))
    return Packed(out, (len(files), *shape), lab_out if names else None, classes)


def _check_paths(root: Path, out: Path, force: bool) -> list[Path]:
    """The input images; refuses an output that is not a .npy, that is one of the inputs, or
    that cannot be written, before any work is done."""
    if not root.is_dir():
        raise DataError(
            f"{str(root)!r} is not a folder; pack a folder of images (class sub-folders)"
        )
    if out.suffix.lower() != ".npy":
        raise DataError(f"--out {str(out)!r} must be a .npy file; try --out {root.name}.npy")
    files = image_files(root)
    inputs = {root.resolve(), *(f.resolve() for f in files)}
    for p in (out, labels_path(out)):
        if p.resolve() in inputs:
            raise DataError(
                f"--out {str(out)!r} would overwrite the input {str(p)!r}; write elsewhere"
            )
    _check_out(out, force)
    return files


def _check_out(out: Path, force: bool) -> None:
    """Refuse an ``out`` in a missing folder, a folder's name, another pack's labels file, or
    (without ``force``) an existing file: nothing is written before these pass."""
    folder = out.parent
    if not folder.is_dir():
        raise DataError(f"--out {str(out)!r}: create the folder {str(folder)!r} first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"--out {str(out)!r}: cannot write in {str(folder)!r}; write elsewhere")
    if out.stem.endswith("_labels"):
        data = out.with_name(out.stem[: -len("_labels")] + out.suffix)
        if data.exists():
            raise DataError(
                f"--out {str(out)!r} is the labels file of {str(data)!r}; "
                f"pick another name, e.g. --out {_free_name(out)}"
            )
    for p in (out, labels_path(out)):
        if p.is_dir():
            raise DataError(
                f"{str(p)!r} is a folder; pick another --out, e.g. --out {_free_name(out)}"
            )
        if p.exists() and not force:
            raise DataError(
                f"{str(p)!r} exists; pass --force to replace it, "
                f"or pick another name, e.g. --out {_free_name(out)}"
            )


def _free_name(out: Path) -> str:
    """A name beside ``out`` that neither exists nor has a labels file: NAME-2.npy, ..."""
    stem = out.stem.removesuffix("_labels") or "data"
    for k in range(2, 10_000):
        p = out.with_name(f"{stem}-{k}{out.suffix}")
        if not (p.exists() or labels_path(p).exists()):
            return str(p)
    return str(out.with_name(f"{stem}-new{out.suffix}"))


def _scan(files: list[Path], size, grayscale, name: str) -> tuple[tuple[int, int, int], str]:
    """(C, H, W) and PIL mode of the packed images, from the files' headers alone."""
    from PIL import Image, UnidentifiedImageError

    modes, sizes = set(), set()
    for f in files:
        try:
            with Image.open(f) as im:  # reads the header only
                modes.add(im.mode)
                sizes.add((im.height, im.width))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            raise DataError(
                f"cannot read image {str(f)!r} ({e}); remove or replace the file"
            ) from None
    check_one_size(sizes, size, name, how="--image-size H W")  # pack has no --set
    if grayscale is None:
        grayscale = all(m in GREY_MODES or m.startswith("I") or m == "F" for m in modes)
    h, w = size if size is not None else next(iter(sizes))
    return (1 if grayscale else 3, h, w), "L" if grayscale else "RGB"
