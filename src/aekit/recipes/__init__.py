"""Recipes: the classic experiments as config files shipped in the package (data, not code).

Each ``<name>.toml`` holds a ``description`` line and the usual [data] [model] [train] [run]
sections; ``aekit train --recipe NAME`` starts from it, and flags and --set go on top.

A recipe that compares configurations lists them as ``[[variants]]`` tables, each a ``name``
plus override sections (``model = { latent_dim = 500 }``); ``aekit train --recipe`` then runs
one run per variant, in order: recipe < variant < --config < flags < --set.
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

_META_KEYS = ("description", "paper", "after", "variants")


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


def recipe_variants(name: str) -> list[tuple[str | None, dict[str, Any]]]:
    """(variant name, override sections) for each ``[[variants]]`` table of a recipe, in order;
    ``[(None, {})]`` for a recipe with one configuration."""
    variants = load_recipe(name)[1].get("variants")
    if not variants:
        return [(None, {})]
    out = []
    for i, v in enumerate(variants):
        v = dict(v)
        vname = v.pop("name", None)
        if not isinstance(vname, str) or not vname:
            raise ConfigError(f'recipe {name!r}: [[variants]] table {i + 1} needs a name = "..."')
        out.append((vname, v))
    return out


def variant_run_name(run_name: str | None, recipe: str, variant: str, data: str) -> str:
    """``<run name>-<variant>``, or ``<recipe>-<variant>-<data>-<timestamp>`` when unnamed."""
    if run_name:
        return f"{run_name}-{variant}"
    import datetime as dt
    from pathlib import Path

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{recipe}-{variant}-{Path(data).name.replace(' ', '_')}-{stamp}"
