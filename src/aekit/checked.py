"""Settings checked where they enter: dataclass fields validated against their annotations.

A field's type says what it accepts: a ``Literal[...]`` of choices, a number with a ``Range``, a
string with a ``Pattern``, a list with a ``Length``; ``Checked`` dataclasses apply the check
whenever one is built or replaced, and ``apply_overrides`` turns ``{key: value}`` (from TOML or
``--set``) into a checked copy. The run config (``aekit.config``) and every model family's
config (``aekit.models``) are built on it; it imports nothing of aekit but the errors.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import types
import typing
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from aekit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Range:
    """A number's allowed interval, checked when a config is built (floats must be finite)."""

    ge: float | None = None  # at least
    gt: float | None = None  # above
    lt: float | None = None  # below
    le: float | None = None  # at most

    def ok(self, v: float) -> bool:
        return not (
            (self.ge is not None and v < self.ge)
            or (self.gt is not None and v <= self.gt)
            or (self.lt is not None and v >= self.lt)
            or (self.le is not None and v > self.le)
        )

    def text(self) -> str:
        ops = (">=", self.ge), (">", self.gt), ("<", self.lt), ("<=", self.le)
        return " and ".join(
            f"{op} {b:g}" if isinstance(b, float) else f"{op} {b}" for op, b in ops if b is not None
        )


@dataclass(frozen=True)
class Pattern:
    """A string's allowed form (a full-match regular expression) and how to say it."""

    regex: str
    text: str


@dataclass(frozen=True)
class Length:
    """A list's required length."""

    n: int


PosInt = Annotated[int, Range(ge=1)]
NonNegInt = Annotated[int, Range(ge=0)]
PosFloat = Annotated[float, Range(gt=0)]
NonNegFloat = Annotated[float, Range(ge=0)]
Seed = Annotated[int, Range(ge=0, lt=2**32)]
Fraction = Annotated[float, Range(ge=0, lt=1)]  # a share: 0 <= x < 1


class Checked:
    """Mixin for config dataclasses: every field is checked against its annotation (choices,
    ranges, types) whenever one is built or replaced; ``check()`` adds the checks that relate
    fields to each other, run once the config is complete."""

    section: ClassVar[str] = "model"  # the prefix of the keys in messages: model.latent_dim

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            where = f"{self.section}.{f.name}"
            setattr(self, f.name, coerce(getattr(self, f.name), _hints(type(self))[f.name], where))

    def check(self) -> None:
        """Checks across fields of this section (e.g. a schedule that needs milestones)."""


def _hints(cls: type) -> dict[str, Any]:
    """The field annotations of a config class, resolved (cached: built on every replace)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls, include_extras=True)
    return _HINTS[cls]


_HINTS: dict[type, dict[str, Any]] = {}


def parse_value(raw: str) -> Any:
    """Parse one value as TOML would (numbers, booleans, lists, strings); bare words are strings."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def apply_overrides(obj: Any, overrides: dict[str, Any], section: str, owner: str = "") -> Any:
    """Return a copy of dataclass ``obj`` with ``overrides``, checked field by field (keys are
    named ``section.key`` in messages; ``owner`` says whose keys they are, e.g. "model 'vae'")."""
    hints = _hints(type(obj))
    names = [f.name for f in dataclasses.fields(obj)]
    changes = {}
    for key, value in overrides.items():
        if key not in names:
            whose = f" ({owner})" if owner else ""
            raise ConfigError(
                f"unknown key {key!r} in [{section}]{whose}; valid keys: {', '.join(names)}"
            )
        changes[key] = coerce(value, hints[key], f"{section}.{key}")
    return dataclasses.replace(obj, **changes)


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``: types, ``Literal`` choices, ``Range``,
    ``Pattern`` and ``Length`` constraints; ints widen to floats, tuples become lists.
    Raises a one-line ConfigError that names ``where``, the value and what is allowed."""
    try:
        return _coerce(value, tp, where)
    except _Mismatch:
        raise ConfigError(f"{where} must be {describe(tp)}; got {value!r}") from None


class _Mismatch(Exception):
    """``value`` does not fit ``tp`` (``coerce`` turns it into a ConfigError for the key)."""


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is not type(None):
                try:
                    return _coerce(value, a, where)
                except _Mismatch:
                    pass
        raise _Mismatch
    if origin is Annotated:
        value = _coerce(value, args[0], where)
        if not all(_meets(value, m) for m in tp.__metadata__):
            raise _Mismatch
        return value
    if origin is Literal:
        if isinstance(value, int) and not isinstance(value, bool) and str(value) in args:
            value = str(value)  # --set data.pixel_range=-11 parses as the integer -11
        if not isinstance(value, Hashable) or value not in args:
            raise _Mismatch
        return value
    if origin in (list, tuple):
        if isinstance(value, str):
            value = parse_value(value)
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        inner = args[0] if args else Any
        return [_coerce(v, inner, where) for v in value]
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise _Mismatch
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Mismatch
        return value
    if tp is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _Mismatch
        if not math.isfinite(value):
            raise _Mismatch
        return float(value)
    if tp is str and not isinstance(value, str):
        raise _Mismatch
    return value


def _meets(value: Any, m: Any) -> bool:
    if isinstance(m, Range):
        return m.ok(value)
    if isinstance(m, Pattern):
        return re.fullmatch(m.regex, value) is not None
    if isinstance(m, Length):
        return len(value) == m.n
    return True


def describe(tp: Any) -> str:
    """What a value of annotation ``tp`` may be, in words: "one of mse, bce, l1",
    "a finite number > 0", "a list of 2 integers >= 1"."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        words = [describe(a) for a in args if a is not type(None)]
        if type(None) in args:
            words.append("none (leave it out)")
        return ", ".join(words[:-1]) + " or " + words[-1]
    if origin is Annotated:
        base, metas = args[0], tp.__metadata__
        for m in metas:
            if isinstance(m, Pattern):
                return f"one of {m.text}"
        n = next((m.n for m in metas if isinstance(m, Length)), None)
        if n is not None:
            return f"a list of {n} {_plural(describe(typing.get_args(base)[0]))}"
        ranges = [m.text() for m in metas if isinstance(m, Range)]
        return " ".join([describe(base), *ranges])
    if origin is Literal:
        return str(args[0]) if len(args) == 1 else "one of " + ", ".join(str(a) for a in args)
    if tp is Any:
        return "any value"
    if origin in (list, tuple):
        inner = args[0] if args else Any
        example = ", e.g. [128, 64]" if typing.get_args(inner)[:1] == (int,) else ""
        return f"a list of {_plural(describe(inner))}{example}"
    return {
        bool: "true or false",
        int: "an integer",
        float: "a finite number",
        str: "a string",
    }.get(tp, str(tp))


def _plural(text: str) -> str:
    for one, many in (
        ("an integer", "integers"),
        ("a finite number", "finite numbers"),
        ("a string", "strings"),
        ("a list of", "lists of"),
        ("any value", "values"),
    ):
        if text.startswith(one):
            return many + text[len(one) :]
    return f"values ({text})"


def dataclass_doc(cls: type) -> list[tuple[str, str, str, str]]:
    """(key, allowed values, default, comment) for each field of a config dataclass; the
    comment is the field's trailing ``#`` comment in the class (or the nearest base class)
    that declares it, so the config reference can be generated from the code."""
    import inspect

    sources = [
        inspect.getsource(c).splitlines()
        for c in cls.__mro__
        if dataclasses.is_dataclass(c) and c.__module__ != "builtins"
    ]
    hints = _hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        comment = next(filter(None, (_field_comment(src, f.name) for src in sources)), "")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        out.append((f.name, describe(hints[f.name]), repr(default), comment))
    return out


def _field_comment(src: list[str], name: str) -> str:
    """The ``#`` comment of field ``name`` in a class's source lines (on its line, or on the
    lines a formatter wrapped it onto, up to the next field), or ""."""
    for i, line in enumerate(src):
        if line.strip().startswith(f"{name}:"):
            for cont in src[i:]:
                if cont is not src[i] and re.match(r"\s*(\w+\s*:|def |@)", cont):
                    break  # the next field
                if "#" in cont:
                    return cont.split("#", 1)[1].strip()
            return ""
    return ""
