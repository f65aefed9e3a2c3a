"""The package's floors, checked on the source: every import (top-level or inside a function) points down.

Read statically with `ast`, so an import hidden inside a function counts as much as one at the top.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lmpflow

ROOT = Path(lmpflow.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """lmpflow modules imported anywhere in `path` (relative imports resolved)."""
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from lmpflow.x import y` may import the module lmpflow.x.y
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
    return {m for m in found if m == "lmpflow" or m.startswith("lmpflow.")}


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}
GRAPH = {name: {m for m in _imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def _reachable(start: str) -> set[str]:
    """Modules `start` imports, directly or through others; the package root (a lazy table that every
    `import lmpflow.x` runs) is not followed."""
    seen, todo = set(), [start]
    while todo:
        for nxt in GRAPH[todo.pop()] - seen - {"lmpflow"}:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def _under(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_no_import_cycles():
    # the package facade lmpflow/__init__ is a lazy table, not an import of its targets
    cycles = sorted(name for name in GRAPH if name != "lmpflow" and name in _reachable(name))
    assert not cycles, f"modules that import themselves through others: {cycles}"


@pytest.mark.parametrize("floor", ["lmpflow.analysis", "lmpflow.trajectory", "lmpflow._stats", "lmpflow._host"])
def test_analysis_does_not_import_lammps_potentials_or_workflows(floor):
    for name in (n for n in GRAPH if _under(n, floor)):
        bad = {m for m in _reachable(name) if _under(m, "lmpflow.lammps", "lmpflow.potentials",
                                                      "lmpflow.workflows", "lmpflow.output")}
        assert not bad, f"{name} reaches {sorted(bad)}"


def test_md_time_code_does_not_import_training():
    md_time = [n for n in GRAPH if _under(n, "lmpflow.lammps", "lmpflow.potentials")
               and not _under(n, "lmpflow.potentials.training")]
    assert "lmpflow.potentials.nequip" in md_time and "lmpflow.lammps.run" in md_time
    for name in md_time:
        bad = {m for m in _reachable(name) if _under(m, "lmpflow.potentials.training")}
        assert not bad, f"{name} (used at MD time) reaches the offline training code {sorted(bad)}"


def test_workflows_are_the_top_floor():
    for name in (n for n in GRAPH if not _under(n, "lmpflow.workflows") and n not in ("lmpflow", "lmpflow.cli",
                                                                                     "lmpflow.__main__")):
        bad = {m for m in GRAPH[name] if _under(m, "lmpflow.workflows")}
        assert not bad, f"{name} imports the workflows {sorted(bad)}"
