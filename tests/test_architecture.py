"""The rooms of the package import only what they may (see CONTRIBUTING.md)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "aekit"

# room -> rooms it must never import
FORBIDDEN = {
    "layers": {"models", "data", "training", "viz", "cli", "app", "evaluation", "report"},
    "losses": {"models", "data", "training", "viz", "cli", "app", "evaluation", "report"},
    "models": {"data", "training", "viz", "cli", "app", "evaluation", "report"},
    "training": {"viz", "cli", "app", "report"},
    "viz": {"training", "cli", "app"},
    "data": {"models", "training", "viz", "cli", "app"},
    # the web UI goes through the public API (aekit.load, the evaluation helpers `aekit encode`
    # uses), never the model internals, the trainer or the CLI
    "app": {"layers", "losses", "models", "training", "cli", "report", "_registry"},
}


def imported_rooms(path: Path) -> set[str]:
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for n in names:
            parts = n.split(".")
            if parts[0] == "aekit" and len(parts) > 1:
                rooms.add(parts[1])
    return rooms


def test_rooms_import_only_what_they_may():
    bad = []
    for room, forbidden in FORBIDDEN.items():
        for f in (SRC / room).rglob("*.py"):
            hit = imported_rooms(f) & forbidden
            if hit:
                bad.append(f"{f.relative_to(SRC)} imports {sorted(hit)}")
    assert not bad, bad


def test_library_code_never_prints():
    offenders = []
    for f in SRC.rglob("*.py"):
        if "cli" in f.parts:  # the CLI prints; the web UI (app/) is library code too
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(str(f.relative_to(SRC)))
    assert not offenders, offenders
