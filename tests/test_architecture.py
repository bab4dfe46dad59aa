"""The package's architecture, checked on its import graph (see CONTRIBUTING.md).

- no import cycle: every import counts, also those inside functions (a function-level import
  that hides a cycle is still a cycle); only ``if TYPE_CHECKING:`` blocks are left out;
- each room imports only its own layer and the layers below it (LAYERS);
- the web UI goes through the public API, never model internals, the trainer or the CLI;
- library code never prints (the CLI does).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "aekit"

#: the rooms from the bottom up: a room may import its own level and the levels below it
LAYERS = [
    ["errors", "_version"],
    ["checked", "layers", "losses"],
    ["_registry"],
    ["config", "models"],
    ["data"],
    ["evaluation"],
    ["run", "viz"],
    ["training", "report"],
    ["api", "recipes", "anomaly", "exporter", "sklearn", "bench", "oneclass"],
    ["aekit"],  # the package itself: the public API, for the web UI and the CLI
    ["app"],
    ["cli"],
]
LEVEL = {room: i for i, rooms in enumerate(LAYERS) for room in rooms}


def modules() -> dict[str, Path]:
    out = {}
    for f in SRC.rglob("*.py"):
        parts = list(f.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The aekit modules ``name`` imports (a package's __init__ counts as the package)."""
    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([base] if base else []))
            subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known]
            found.update(subs or [base])
    out = set()
    for m in found:
        while m and m not in known:
            m = m.rpartition(".")[0]
        if m and m != name:
            out.add(m)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports(m, f, known) for m, f in known.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
                on.discard(comp[-1])
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    return out


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "aekit"


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_every_room_has_a_layer():
    rooms = {room(m) for m in graph()}
    assert rooms <= set(LEVEL), f"add {sorted(rooms - set(LEVEL))} to LAYERS"


def test_no_room_imports_a_higher_one():
    bad = []
    for mod, deps in graph().items():
        r = room(mod)
        for d in deps:
            if LEVEL[room(d)] > LEVEL[r]:
                bad.append(f"{mod} imports {d}")
    assert not bad, bad


def test_the_checker_sees_a_cycle_and_a_function_level_import():
    g = {"aekit.a": {"aekit.b"}, "aekit.b": {"aekit.a"}, "aekit.c": set()}
    assert cycles(g) == [["aekit.a", "aekit.b"]]
    src = "def f():\n    from aekit.config import Config\n"
    p = SRC.parent / "_probe_not_a_module.py"
    try:
        p.write_text(src)
        assert imports("aekit.x", p, {"aekit.config": p}) == {"aekit.config"}
    finally:
        p.unlink()


#: rooms the web UI must not import, though they sit below it: it uses the public API
APP_AVOIDS = {"layers", "losses", "models", "training", "cli", "report", "_registry"}


def test_the_web_ui_uses_only_the_public_api():
    bad = [
        f"{m} imports {d}"
        for m, deps in graph().items()
        if room(m) == "app"
        for d in deps
        if room(d) in APP_AVOIDS
    ]
    assert not bad, bad


def test_the_layer_check_sees_a_lower_room_importing_a_higher_one():
    assert LEVEL["models"] < LEVEL["training"] and LEVEL["evaluation"] < LEVEL["training"]
    assert LEVEL[room("aekit.training.loop")] > LEVEL[room("aekit.models.mlp")]


def test_library_code_never_prints():
    offenders = []
    for f in SRC.rglob("*.py"):
        if "cli" in f.parts:  # the CLI prints; the web UI (app/) is library code too
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(str(f.relative_to(SRC)))
    assert not offenders, offenders


def test_functions_fit_on_a_screen():
    """No function or method in src/ over 60 lines (STYLE.md: a longer one is a missing object)."""
    long = []
    for f in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 60:
                    long.append(f"{f.relative_to(SRC)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, long
