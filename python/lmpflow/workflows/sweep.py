"""Sweeps: models × temperatures × seeds of NVT runs, in parallel and resumable.

`run_sweep(models, temperatures, seeds, out_dir)` writes one run directory per grid point under
`out_dir/runs/<label>/T<T>K/seed<seed>/` and runs them on a `concurrent.futures.Executor` (a local
process pool by default) or a `dask.distributed.Client` (anything with `submit` returning futures with
`.result()`). A run is finished exactly when its result.json exists (written atomically, last); a
restarted sweep skips finished runs untouched and wipes and redoes unfinished ones, so killing a sweep at
any moment loses at most the runs in flight. Afterwards the finished runs are tabulated
(`lmpflow.workflows.tables.analyse_sweep`: runs.csv, summary.csv, arrhenius.csv and plots).

Units: K, ps, Å, eV; D in cm²/s, σ in mS/cm.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import shutil
import sys
import traceback
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from lmpflow._host import atomic_write_text
from lmpflow.lammps.rundir import write_run_inputs
from lmpflow.potentials.potential import Potential, as_potential
from lmpflow.system.structures import li6ps5cl, read_structure
from lmpflow.workflows.single_run import RESULT_NAME, T_WARNING_PREFIX, is_finished, run_md
from lmpflow.workflows.tables import analyse_sweep, safe_label

SWEEP_JSON = "sweep.json"
#: Settings that must match between a finished run and the sweep that would reuse it.
_REUSE_KEYS = ("steps", "eq_steps", "timestep_ps", "dump_every", "n_atoms")


class SweepError(RuntimeError):
    """Some runs of a sweep failed (the finished ones are kept and tabulated)."""


@dataclasses.dataclass(frozen=True)
class _Task:
    run_dir: str
    potential: Potential
    T_K: float
    seed: int


def _run_dir_name(out_dir: Path, label: str, T_K: float, seed: int) -> Path:
    return out_dir / "runs" / safe_label(label) / f"T{T_K:g}K" / f"seed{seed}"


def sweep_grid(models: Sequence, temperatures: Sequence[float], seeds: int | Sequence[int],
               out_dir: str | os.PathLike) -> list[_Task]:
    """The tasks (run dir, potential, T, seed) of a sweep, in a stable order."""
    pots = [as_potential(m) for m in models]
    labels = [p.label for p in pots]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ValueError(f"model labels must be unique in a sweep; repeated: {dup} (give each a label)")
    if not pots:
        raise ValueError("no models given")
    temps = [float(t) for t in temperatures]
    if not temps or any(not (0 < t < 5000) for t in temps) or len(set(temps)) != len(temps):
        raise ValueError(f"temperatures must be distinct values in (0, 5000) K, got {list(temperatures)}")
    seed_list = list(range(1, int(seeds) + 1)) if isinstance(seeds, (int, np.integer)) else [int(s) for s in seeds]
    if not seed_list or len(set(seed_list)) != len(seed_list) or min(seed_list) < 1:
        raise ValueError(f"seeds must be a positive count or distinct positive integers, got {seeds!r}")
    out_dir = Path(out_dir).resolve()
    return [_Task(str(_run_dir_name(out_dir, p.label, T, s)), p, T, s) for p in pots for T in temps
            for s in seed_list]


def _default_workers(threads_per_run: int) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, threads_per_run))


def _mp_context():
    """`fork` (no re-import of the caller's script) unless LAMMPS/torch are already loaded here, whose
    threads and MPI state must not be forked: then `spawn` (the calling script then needs the usual
    `if __name__ == "__main__":` guard)."""
    unsafe = any(m in sys.modules for m in ("lammps", "torch"))
    if sys.platform.startswith("linux") and not unsafe:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _set_threads(threads: int) -> None:
    """Process-pool initializer: threads per run, set before LAMMPS/torch start their thread pools."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)


def _execute(task: _Task, structure, run_kwargs: dict, md_kwargs: dict) -> dict:
    """Worker: (re)do one run from scratch unless it is finished. Returns its result or an error record."""
    run_dir = Path(task.run_dir)
    try:
        if is_finished(run_dir):  # finished meanwhile (e.g. by an earlier, killed sweep's worker)
            return json.loads((run_dir / RESULT_NAME).read_text())
        shutil.rmtree(run_dir, ignore_errors=True)  # a half-written run is never reused
        write_run_inputs(run_dir, structure, potential=task.potential, T_K=task.T_K, seed=task.seed,
                         **run_kwargs)
        return run_md(run_dir, progress=False, **md_kwargs)
    except Exception as exc:  # reported back; the run stays unfinished and is redone next time
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        try:
            atomic_write_text(run_dir / "error.txt", traceback.format_exc())
        except OSError:
            pass
        return {"error": text, "run_dir": str(run_dir)}


def _check_reusable(run_dir: Path, wanted: dict) -> None:
    """A finished run is only reused if it was made with the same settings (else it would be mixed in)."""
    res = json.loads((run_dir / RESULT_NAME).read_text())
    diff = {k: (res.get(k), wanted[k]) for k in _REUSE_KEYS if k in wanted and res.get(k) != wanted[k]}
    if diff:
        raise ValueError(f"{run_dir} was finished with other settings {{key: (finished, requested)}} = {diff}; "
                         "use a new out_dir or delete that run to redo it")


def _load_structure(structure):
    from ase import Atoms

    if structure is None:
        return li6ps5cl()
    if isinstance(structure, Atoms):
        return structure
    return read_structure(structure)


def run_sweep(models: Sequence, temperatures: Sequence[float], seeds: int | Sequence[int],
              out_dir: str | os.PathLike, structure=None, *, steps: int = 35_000, eq_steps: int = 5_000,
              timestep_ps: float = 0.002, dump_every: int = 50, executor=None, workers: int | None = None,
              threads_per_run: int = 1, mode: str = "python", np: int = 1, plots: bool = True,
              progress: bool = True, raise_on_failure: bool = True) -> dict:
    """Run (or finish) the grid models × temperatures × seeds and analyse it into tables and plots.

    models: Potentials, model/potential file paths or ModelSpecs (labels unique). temperatures in K.
    seeds: a count n (seeds 1..n) or explicit seeds. structure: ase.Atoms, a structure file, or None
    (the ordered Li6PS5Cl unit cell). steps/eq_steps/dump_every in MD steps, timestep_ps in ps.
    executor: a concurrent.futures.Executor or dask.distributed.Client; default a local process pool
    with `workers` (default cores // threads_per_run) processes. mode/np: how each run is executed
    (see run_md). Returns {"tables": {name: DataFrame}, "failed": [...], "n_runs": int, ...}.
    Raises SweepError after tabulating if runs failed (raise_on_failure).
    """
    out_dir = Path(out_dir).resolve()
    tasks = sweep_grid(models, temperatures, seeds, out_dir)
    atoms = _load_structure(structure)
    run_kwargs = dict(steps=steps, eq_steps=eq_steps, timestep_ps=timestep_ps, dump_every=dump_every)
    md_kwargs = dict(mode=mode, np=np, threads=threads_per_run)
    wanted = {**run_kwargs, "n_atoms": len(atoms)}
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / SWEEP_JSON, json.dumps({
        "labels": sorted({t.potential.label for t in tasks}), "temperatures_K": sorted({t.T_K for t in tasks}),
        "seeds": sorted({t.seed for t in tasks}), "n_runs": len(tasks), **wanted,
        "formula": atoms.get_chemical_formula(), "potentials": [t.potential.to_json() for t in
                                                                 {t.potential.label: t for t in tasks}.values()],
    }, indent=1) + "\n")

    todo = []
    for t in tasks:
        if is_finished(t.run_dir):
            _check_reusable(Path(t.run_dir), wanted)
        else:
            todo.append(t)
    _say(progress, f"sweep {out_dir}: {len(tasks)} runs, {len(tasks) - len(todo)} already finished, "
                   f"{len(todo)} to run")
    failed = []
    if todo:
        own = executor is None
        if own:
            n = workers or _default_workers(threads_per_run)
            executor = concurrent.futures.ProcessPoolExecutor(
                max_workers=min(n, len(todo)), mp_context=_mp_context(),
                initializer=_set_threads, initargs=(threads_per_run,))
        try:
            futures = [executor.submit(_execute, t, atoms, run_kwargs, md_kwargs) for t in todo]
            # With several seeds per label × T, D comes from their combined MSD; the single-run fit's
            # warnings (window too short to be diffusive) stay in result.json instead of being printed.
            failed = _collect(futures, todo, progress, quiet_fit=len({t.seed for t in tasks}) > 1)
        finally:
            if own:
                executor.shutdown(wait=True, cancel_futures=True)
    n_finished = sum(is_finished(t.run_dir) for t in tasks)
    summary = analyse_sweep(out_dir, plots=plots) if n_finished else {"tables": {}, "plots": []}
    summary.update(failed=failed, n_runs=len(tasks))
    if failed and (raise_on_failure or not n_finished):
        lines = "\n".join(f"  {f['run_dir']}: {f['error']}" for f in failed)
        raise SweepError(f"{len(failed)} of {len(tasks)} runs failed (finished runs are kept; rerun the same "
                         f"sweep to retry the failed ones):\n{lines}")
    return summary


def _collect(futures: list, tasks: list[_Task], progress: bool, quiet_fit: bool = False) -> list[dict]:
    """Wait for all futures (concurrent.futures or dask), reporting each run as it finishes.

    quiet_fit: do not print the warnings of the run's own MSD fit (only the thermostat warning)."""
    index = {id(f): t for f, t in zip(futures, tasks)}
    failed, done = [], 0
    for fut in _as_completed(futures):
        t = index[id(fut)]
        try:
            res = fut.result()
        except Exception as exc:  # a worker died (e.g. killed): the run stays unfinished
            res = {"error": f"{type(exc).__name__}: {exc}", "run_dir": t.run_dir}
        done += 1
        if "error" in res:
            failed.append(res)
            _say(progress, f"[{done}/{len(tasks)}] FAILED {t.potential.label} {t.T_K:g} K seed {t.seed}: "
                           f"{res['error'].splitlines()[-1]}")
        else:
            shown = [w for w in res.get("analysis_warnings", [])
                     if not quiet_fit or w.startswith(T_WARNING_PREFIX)]
            warn = "".join(f"\n    warning: {w}" for w in shown)
            _say(progress, f"[{done}/{len(tasks)}] {t.potential.label} {t.T_K:g} K seed {t.seed}: "
                           f"D = {res['D_cm2_s']:.3g} ± {res['D_err_cm2_s']:.2g} cm²/s ({res['wall_s']:.0f} s){warn}")
    return failed


def _as_completed(futures: list) -> Iterable:
    if futures and type(futures[0]).__module__.startswith("distributed"):
        from distributed import as_completed

        return as_completed(futures)
    if futures and isinstance(futures[0], concurrent.futures.Future):
        return concurrent.futures.as_completed(futures)
    return futures  # any other duck-typed future: wait in order


def _say(progress: bool, msg: str) -> None:
    if progress:
        print(msg, file=sys.stderr, flush=True)
