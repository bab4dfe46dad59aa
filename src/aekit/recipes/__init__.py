"""Recipes: the classic experiments as config files shipped in the package (data, not code).

Each ``<name>.toml`` holds a ``description`` line and the usual [data] [model] [train] [run]
sections; ``aekit train --recipe NAME`` starts from it, and flags and --set go on top.
"""

from __future__ import annotations

import sys
from importlib import resources
from typing import Any

from aekit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_META_KEYS = ("description", "paper", "after")


def _files() -> dict[str, Any]:
    root = resources.files("aekit.recipes")
    return {f.name[:-5]: f for f in root.iterdir() if f.name.endswith(".toml")}


def list_recipes() -> dict[str, str]:
    """Recipe names and their one-line descriptions."""
    return {
        n: tomllib.loads(f.read_text()).get("description", "") for n, f in sorted(_files().items())
    }


def load_recipe(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config sections, metadata) of a recipe."""
    files = _files()
    if name not in files:
        raise ConfigError(
            f"unknown recipe {name!r}; choose one of: {', '.join(sorted(files))} (`aekit recipes`)"
        )
    d = tomllib.loads(files[name].read_text())
    meta = {k: d.pop(k) for k in list(d) if k in _META_KEYS}
    d.setdefault("run", {})["recipe"] = name
    return d, meta
