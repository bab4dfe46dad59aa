"""Recipes: the classic experiments as config files shipped in the package (data, not code).

Each ``<name>.toml`` holds a ``description`` line and the usual [data] [model] [train] [run]
sections; ``aekit train --recipe NAME`` starts from it, and flags and --set go on top.

A recipe that compares configurations lists them as ``[[variants]]`` tables, each a ``name``
plus override sections (``model = { latent_dim = 500 }``); ``aekit train --recipe`` then runs
one run per variant, in order: recipe < variant < --config < flags < --set.

:func:`layered_config` and :func:`recipe_configs` are the one place where these layers are
put together, for ``aekit train``, ``aekit.train_recipe`` and ``aekit bench`` alike.
"""

from __future__ import annotations

import sys
from importlib import resources
from typing import Any

from aekit.config import Config, apply_config_dict
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


def layered_config(
    *layers: dict[str, Any],
    recipe: str | None = None,
    variant: dict[str, Any] | None = None,
    base: Config | None = None,
) -> Config:
    """``base`` (default: the defaults) < ``recipe`` < its ``variant`` < each of ``layers`` in
    order (nested ``{section: {key: value}}`` dicts), every key checked as it is applied and
    the finished config checked as a whole (:meth:`Config.check`); nothing is shared with
    ``base``."""
    cfg = base if base is not None else Config()
    if recipe is not None:  # "" too: an unset shell variable is not "no recipe"
        cfg = apply_config_dict(cfg, load_recipe(recipe)[0])
    for layer in (variant or {}, *layers):
        cfg = apply_config_dict(cfg, layer)
    from aekit.report.figures import check_kinds  # on use: it loads matplotlib

    check_kinds(cfg.run.after)
    return cfg.check()


def recipe_configs(
    recipe: str | None, *layers: dict[str, Any], base: Config | None = None
) -> list[tuple[str | None, Config]]:
    """(variant name, config) for each ``[[variants]]`` table of ``recipe`` in order, or
    ``[(None, config)]`` for a recipe with one configuration (or none), each built by
    :func:`layered_config`; a variant's run is named ``<run name>-<variant>`` (see
    :func:`variant_run_name`). All are built, so all are checked, before any trains."""
    out = []
    for vname, overrides in recipe_variants(recipe) if recipe is not None else [(None, {})]:
        cfg = layered_config(*layers, recipe=recipe, variant=overrides, base=base)
        if vname is not None:
            name = variant_run_name(cfg.run.name, recipe, vname, cfg.data.name)
            cfg = apply_config_dict(cfg, {"run": {"name": name}})
        out.append((vname, cfg))
    return out
