"""The model registry: ``register_model``, ``create_model``, ``list_models``."""

from __future__ import annotations

import dataclasses
import fnmatch
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aekit.checked import Checked, apply_overrides
from aekit.errors import ConfigError


@dataclass(frozen=True)
class ModelEntry:
    name: str
    cls: type
    config_cls: type
    description: str


_MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, config: type, description: str) -> Callable[[type], type]:
    """Class decorator: make a model family available to ``create_model(name)``."""

    def wrap(cls: type) -> type:
        if not (isinstance(config, type) and issubclass(config, Checked)):
            raise TypeError(f"model {name!r}: its config must be a dataclass subclassing Checked")
        if name in _MODELS:
            raise RuntimeError(f"model {name!r} registered twice")
        _MODELS[name] = ModelEntry(name, cls, config, description)
        cls.registry_name = name
        return cls

    return wrap


def list_models(pattern: str = "*") -> list[str]:
    """Names of the registered models matching a shell-style pattern, sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def model_entry(name: str) -> ModelEntry:
    if name not in _MODELS:
        raise ConfigError(
            f"unknown model {name!r}; choose one of: {', '.join(sorted(_MODELS))} "
            "(`aekit models` describes each)"
        )
    return _MODELS[name]


def model_config(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """The model's config dataclass with ``overrides`` applied (unknown keys are errors)."""
    entry = model_entry(name)
    return apply_overrides(entry.config_cls(), overrides or {}, "model", f"model {name!r}")


def create_model(
    name: str, input_shape: tuple[int, ...] = (1, 28, 28), pixel_range: str = "01", **overrides: Any
):
    """Build a registered model for inputs of ``input_shape`` ((C, H, W) images or (D,) tables).

    ``pixel_range`` ("01" or "-11") picks the default output activation (Sigmoid or Tanh).
    """
    entry = model_entry(name)
    cfg = model_config(name, overrides)
    cfg.check()
    try:
        shape = tuple(operator.index(s) for s in input_shape)  # ints, numpy ints, torch.Size
    except TypeError:
        shape = ()
    if not shape or min(shape) < 1:
        raise ConfigError(
            f"input_shape must be (C, H, W) or (D,) with every size >= 1; got {input_shape}"
        )
    return entry.cls(cfg, shape, pixel_range)


def model_config_dict(model) -> dict[str, Any]:
    return dataclasses.asdict(model.config)
