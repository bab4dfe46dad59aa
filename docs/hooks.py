"""MkDocs hook: pages generated from the code at build time, so they cannot go stale.

- reference/cli.md: every `aekit` command and flag, read from the argparse parser;
- reference/api.md: mkdocstrings blocks for every name in aekit.__all__;
- reference/config.md: every config key with its default and meaning, read from the config
  dataclasses (aekit.config and each registered model's Config) and their source comments;
- benchmarks.md: benchmarks/RESULTS.md, the single home of timings and results.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import os
import sys
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def _cell(text: object) -> str:
    return _md(text).replace("|", "\\|").replace("\n", " ")


def _md(text: object) -> str:
    """Plain help text as Markdown: brackets are not links."""
    return str(text).replace("[", "\\[").replace("]", "\\]")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options_table(parser: argparse.ArgumentParser) -> list[str]:
    rows = ["| argument | default | meaning |", "| --- | --- | --- |"]
    for a in parser._actions:
        if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        name = ", ".join(a.option_strings) or a.dest
        if a.option_strings and a.nargs != 0:
            name += " " + (
                " ".join(a.metavar)
                if isinstance(a.metavar, tuple)
                else (a.metavar or a.dest.upper())
            )
        default = "" if a.default in (None, argparse.SUPPRESS, False, []) else f"`{a.default}`"
        meaning = a.help or ""
        if a.choices and not isinstance(a, argparse._SubParsersAction):
            meaning += f" (one of: {', '.join(map(str, a.choices))})"
        if a.required and a.option_strings:
            meaning += " (required)"
        rows.append(f"| `{name}` | {default.replace('|', '¦')} | {_cell(meaning)} |")
    return rows


def cli_page() -> str:
    os.environ["COLUMNS"] = "90"  # argparse wraps usage lines to the terminal width
    from aekit.cli.main import build_parser

    parser = build_parser()[0]
    out = [
        "# Command line",
        "",
        "Generated from aekit's argparse parser when the site is built; `aekit COMMAND --help`",
        "prints the same. Global options go before the command: `aekit -v train`.",
        "",
        "```text",
        parser.format_usage().strip(),
        "```",
        "",
        *_options_table(parser),
        "",
    ]
    for name, sub in _subcommands(parser).items():
        out += [f"## aekit {name}", ""]
        if sub.description:
            out += [_md(sub.description), ""]
        out += ["```text", sub.format_usage().strip(), "```", "", *_options_table(sub), ""]
        if sub.epilog:
            out += [_md(sub.epilog), ""]
    return "\n".join(out)


def _field_comments(cls: type) -> dict[str, str]:
    """Field name -> its trailing source comment (also on the continuation lines)."""
    lines = inspect.getsource(cls).splitlines()
    names = {f.name for f in dataclasses.fields(cls)}
    out, current = {}, None
    for line in lines:
        s = line.strip()
        head = s.split(":", 1)[0]
        if head in names and ":" in s:
            current = head
        if current and "#" in s and current not in out:
            out[current] = s.split("#", 1)[1].strip()
    return out


def _config_table(cls: type) -> list[str]:
    comments = _field_comments(cls)
    rows = ["| key | default | meaning |", "| --- | --- | --- |"]
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = "(required)"
        default = repr(default).replace("|", "¦")  # a code span: no escapes, no table pipes
        rows.append(f"| `{f.name}` | `{default}` | {_cell(comments.get(f.name, ''))} |")
    return rows


def config_page() -> str:
    from aekit._registry import list_models, model_entry
    from aekit.config import DataConfig, RunConfig, TrainConfig

    out = [
        "# Configuration keys",
        "",
        "Generated from the config dataclasses when the site is built. Set a key in a run.toml",
        "section (`[train]` `lr = 1e-3`), with a flag where there is one (`--lr 1e-3`), or with",
        "`--set train.lr=1e-3`. Settings resolve as defaults < `--recipe` < `--config` < flags <",
        "`--set`; an unknown key or a wrong type is an error that lists the valid keys.",
        "",
    ]
    for section, cls in (("data", DataConfig), ("train", TrainConfig), ("run", RunConfig)):
        out += [f"## [{section}]", "", f"`{cls.__module__}.{cls.__name__}`", ""]
        out += [*_config_table(cls), ""]
    out += [
        "## [model]",
        "",
        "`name` picks the family (`aekit models`); the other keys belong to that family's Config.",
        "",
    ]
    for name in list_models():
        entry = model_entry(name)
        out += [f'### model.name = "{name}"', "", entry.description, ""]
        out += [f"`{entry.config_cls.__module__}.{entry.config_cls.__name__}`", ""]
        out += [*_config_table(entry.config_cls), ""]
    return "\n".join(out)


def api_page() -> str:
    import aekit

    lazy = getattr(aekit, "_LAZY", {})
    groups: dict[str, list[str]] = {"Functions": [], "Classes": [], "Configs": [], "Errors": []}
    for name in sorted(aekit.__all__, key=str.lower):
        obj = getattr(aekit, name)
        path = ".".join(lazy[name]) if name in lazy else f"aekit.{name}"
        if isinstance(obj, type) and issubclass(obj, Exception):
            groups["Errors"].append(path)
        elif isinstance(obj, type) and name.endswith("Config"):
            groups["Configs"].append(path)
        elif isinstance(obj, type):
            groups["Classes"].append(path)
        else:
            groups["Functions"].append(path)
    out = [
        "# Python API",
        "",
        "Generated by mkdocstrings from the docstrings of aekit's public names (`aekit.__all__`)",
        "when the site is built. `import aekit` gives every one of them as `aekit.NAME`.",
        "",
    ]
    for title, paths in groups.items():
        out += [f"## {title}", ""]
        for path in paths:
            alias = next((k for k, v in lazy.items() if ".".join(v) == path), None)
            if alias:  # imported on first use by aekit.__getattr__
                out += [f"`aekit.{alias}` is `{path}`, imported on first use:", ""]
            out += [f"::: {path}", "    options:", "      heading_level: 3", ""]
    return "\n".join(out)


def benchmarks_page() -> str:
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    note = (
        "!!! note\n    This page is `benchmarks/RESULTS.md` from the repository, copied when the"
        " site is built. Every figure sits beside the command that made it.\n\n"
    )
    first, _, rest = text.partition("\n")
    return first + "\n\n" + note + rest


def on_files(files, config):
    for uri, make in (
        ("reference/cli.md", cli_page),
        ("reference/config.md", config_page),
        ("reference/api.md", api_page),
        ("benchmarks.md", benchmarks_page),
    ):
        files.append(File.generated(config, uri, content=make()))
    return files
