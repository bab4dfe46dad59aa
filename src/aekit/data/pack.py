"""Pack an image folder once into a uint8 .npy that training memory-maps (`aekit data pack`).

The images are decoded exactly as training on the folder decodes them (files.py), one at a
time, into a map of the output file; labels from class sub-folders (torchvision's ImageFolder
layout) go beside it as ``<name>_labels.npy`` (the class names, as text). Nothing appears under
the output names until every image has been written: the files are built as ``.tmp`` and
renamed, and removed if anything fails.
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
) -> Packed:
    """Write every image under ``root`` to ``out`` (a .npy of (N, C, H, W) uint8, in sorted
    path order) and the class of each beside it. ``progress(done, total)`` after each image."""
    root, out = Path(root), Path(out)
    files = _check_paths(root, out)
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
            os.replace(lab_tmp, lab_out)
        else:
            lab_out.unlink(missing_ok=True)  # a stale one would label the new images
        os.replace(tmp, out)
    except BaseException:
        for t in (tmp, lab_tmp):
            with contextlib.suppress(OSError):
                t.unlink()
        raise
    classes = None if names is None else sorted(set(names))
    return Packed(out, (len(files), *shape), lab_out if names else None, classes)


def _check_paths(root: Path, out: Path) -> list[Path]:
    """The input images; refuses an output that is not a .npy or that is one of the inputs."""
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
    return files


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
