"""The named dataset sources (``aekit datasets``): one entry per built-in name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aekit.data.dataset import Dataset


@dataclass(frozen=True)
class SourceEntry:
    name: str
    loader: Callable[
        ..., dict[str, Dataset]
    ]  # (data_dir) -> {"train": ..., "test": ... if has_test}
    description: str
    has_test: bool = False  # an official test split ("test" is the held-out "val" otherwise)
    files: Callable[..., list] | None = None  # (data_dir) -> the files read (cache signature)


SOURCES: dict[str, SourceEntry] = {}


def register_dataset(name: str, description: str, *, has_test: bool = False, files=None):
    """Decorator: ``fn(data_dir)`` returns {"train": Dataset} (and "test" when ``has_test``).
    ``files(data_dir)``: the paths it reads, so that a changed file is read again."""

    def wrap(fn):
        SOURCES[name] = SourceEntry(name, fn, description, has_test, files)
        return fn

    return wrap


def list_datasets() -> dict[str, str]:
    """Built-in dataset names and one-line descriptions (paths to user data work too)."""
    return {n: e.description for n, e in sorted(SOURCES.items())}
