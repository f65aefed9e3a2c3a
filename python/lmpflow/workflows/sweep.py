"""Sweeps: models × temperatures × seeds of NVT runs, in parallel and resumable.

`run_sweep(models, temperatures, seeds, out_dir)` writes one run directory per grid point under
`out_dir/runs/<label>/T<T>K/seed<seed>/` and runs them on a `concurrent.futures.Executor` (a local
process pool by default) or a `dask.distributed.Client` (anything with `submit` returning futures with
`.result()`). A run is finished exactly when its result.json exists (written atomically, last); a
restarted sweep skips finished runs untouched and wipes and redoes unfinished ones, so killing a sweep at
any moment loses at most the runs in flight. Afterwards the finished runs are tabulated
(`lmpflow.workflows.tables.analyse_sweep`: runs.csv, summary.csv, arrhenius.csv and plots).

With `target_rel_err` instead of `seeds` the sweep is adaptive (`lmpflow.workflows.adaptive`): seeds are added
to each (model, T) point until the D of the MSD combined over its trajectories reaches that relative error
(or max_seeds), free workers going to the points furthest from it. Its decisions are stored in adaptive.json
(rewritten after every decision; a restarted sweep continues from it and the finished runs) and tabulated in
adaptive.csv (per point: seeds used, error reached, status) and adaptive_looks.csv (every decision).

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
import time
import traceback
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from lmpflow._host import atomic_write_text
from lmpflow.lammps.rundir import write_run_inputs
from lmpflow.potentials.potential import Potential, as_potential
from lmpflow.system.structures import li6ps5cl, read_structure
from lmpflow.workflows import adaptive
from lmpflow.workflows.progress import PointStatus, RunProgressFile, Snapshot, SweepProgress, read_run_progress
from lmpflow.workflows.single_run import RESULT_NAME, T_WARNING_PREFIX, is_finished, run_md
from lmpflow.workflows.tables import _write_csv, analyse_sweep, safe_label, summarise

SWEEP_JSON = "sweep.json"
ADAPTIVE_JSON, ADAPTIVE_CSV, ADAPTIVE_LOOKS_CSV = "adaptive.json", "adaptive.csv", "adaptive_looks.csv"
#: Seconds between checks of running work (finished futures, progress files).
POLL_S = 0.5
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


def _grid_points(models: Sequence, temperatures: Sequence[float],
                 core="default") -> tuple[list[Potential], list[float]]:
    """The potentials (labels unique) and temperatures (K) of a sweep, checked. core: see run_sweep."""
    pots = [as_potential(m) for m in models]
    if core != "default":
        pots = [dataclasses.replace(p, core=core) if p.model is not None else p for p in pots]
    labels = [p.label for p in pots]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ValueError(f"model labels must be unique in a sweep; repeated: {dup} (give each a label)")
    if not pots:
        raise ValueError("no models given")
    temps = [float(t) for t in temperatures]
    if not temps or any(not (0 < t < 5000) for t in temps) or len(set(temps)) != len(temps):
        raise ValueError(f"temperatures must be distinct values in (0, 5000) K, got {list(temperatures)}")
    return pots, temps


def sweep_grid(models: Sequence, temperatures: Sequence[float], seeds: int | Sequence[int],
               out_dir: str | os.PathLike, core="default") -> list[_Task]:
    """The tasks (run dir, potential, T, seed) of a sweep, in a stable order. core: see run_sweep."""
    pots, temps = _grid_points(models, temperatures, core)
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


def _execute(task: _Task, structure, run_kwargs: dict, md_kwargs: dict, report_progress: bool = False) -> dict:
    """Worker: (re)do one run from scratch unless it is finished. Returns its result or an error record.

    report_progress: publish the production step in the run's progress.json for the sweep's display."""
    run_dir = Path(task.run_dir)
    try:
        if is_finished(run_dir):  # finished meanwhile (e.g. by an earlier, killed sweep's worker)
            return json.loads((run_dir / RESULT_NAME).read_text())
        shutil.rmtree(run_dir, ignore_errors=True)  # a half-written run is never reused
        write_run_inputs(run_dir, structure, potential=task.potential, T_K=task.T_K, seed=task.seed,
                         **run_kwargs)
        progress = False
        if report_progress:
            progress = RunProgressFile(run_dir)
            progress.started()
        return run_md(run_dir, progress=progress, **md_kwargs)
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


def run_sweep(models: Sequence, temperatures: Sequence[float], seeds: int | Sequence[int] | None = None,
              out_dir: str | os.PathLike | None = None, structure=None, *, steps: int = 35_000,
              eq_steps: int = 5_000, timestep_ps: float = 0.002, dump_every: int = 50, executor=None,
              workers: int | None = None, threads_per_run: int = 1, mode: str = "python", np: int = 1,
              plots: bool = True, progress: bool = True, raise_on_failure: bool = True,
              target_rel_err: float | None = None, min_seeds: int = 8, max_seeds: int = 300,
              batch: int = 4, core="default") -> dict:
    """Run (or finish) the grid models × temperatures × seeds and analyse it into tables and plots.

    models: Potentials, model/potential file paths or ModelSpecs (labels unique). temperatures in K.
    seeds: a count n (seeds 1..n) or explicit seeds. structure: ase.Atoms, a structure file, or None
    (the ordered Li6PS5Cl unit cell). steps/eq_steps/dump_every in MD steps, timestep_ps in ps.
    executor: a concurrent.futures.Executor or dask.distributed.Client; default a local process pool
    with `workers` (default cores // threads_per_run) processes. mode/np: how each run is executed
    (see run_md). progress: one live display of the whole sweep on stderr (runs done / running / left,
    MD steps/s, ETA; per point errors when adaptive). core: the ZBL core under the ML models: "default" (each
    model's own: the shipped models get `registry.SHIPPED_ZBL_CORE_A`, others none), None (none for any), or
    (inner, outer) radii in Å for all.

    Adaptive instead of `seeds`: target_rel_err (e.g. 0.01) adds seeds to every (model, T) point until the
    relative standard error of its combined-MSD D reaches it or the point has max_seeds; min_seeds is the
    pilot (and fewest a point stops with), batch the fewest seeds added at a time; `workers` (or the
    executor's size) is how many runs are kept in flight. The rule is `lmpflow.workflows.adaptive.decide`.

    Returns {"tables": {name: DataFrame}, "failed": [...], "n_runs": int, ...}; adaptive sweeps add
    tables "adaptive" (per point: seeds used, error reached, status) and "adaptive_looks" (every decision).
    Raises SweepError after tabulating if runs failed (raise_on_failure).
    """
    if out_dir is None:
        raise TypeError("run_sweep needs out_dir: the folder for the run directories and tables")
    if target_rel_err is not None and seeds is not None:
        raise ValueError("give seeds (a fixed grid) or target_rel_err (seeds added until D reaches it), not both")
    if target_rel_err is None and seeds is None:
        raise ValueError("give seeds (a count n for seeds 1..n, or a list of seeds) or target_rel_err (e.g. 0.01)")
    out_dir = Path(out_dir).resolve()
    settings = (adaptive.Settings(float(target_rel_err), min_seeds, max_seeds, batch)
                if target_rel_err is not None else None)
    atoms = _load_structure(structure)
    run_kwargs = dict(steps=steps, eq_steps=eq_steps, timestep_ps=timestep_ps, dump_every=dump_every)
    md_kwargs = dict(mode=mode, np=np, threads=threads_per_run)
    wanted = {**run_kwargs, "n_atoms": len(atoms)}
    display = SweepProgress() if progress else None
    if settings is None:
        source = _GridSource(sweep_grid(models, temperatures, seeds, out_dir, core), wanted, steps + eq_steps,
                             display)
    else:
        pots, temps = _grid_points(models, temperatures, core)
        source = _AdaptiveSource(pots, temps, out_dir, settings, wanted, steps + eq_steps, display)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_sweep_json(out_dir, source, wanted, atoms, settings)
    _say(display, source.start_message(out_dir))

    failed = []
    if not source.done:
        own = executor is None
        if own:
            n = min(workers or _default_workers(threads_per_run), source.max_parallel())
            executor = concurrent.futures.ProcessPoolExecutor(
                max_workers=n, mp_context=_mp_context(), initializer=_set_threads, initargs=(threads_per_run,))
        capacity = source.capacity(workers or _executor_capacity(executor))
        try:
            failed = _drive(source, lambda t: executor.submit(_execute, t, atoms, run_kwargs, md_kwargs,
                                                              display is not None), capacity, display)
        finally:
            if own:
                executor.shutdown(wait=True, cancel_futures=True)
    extra = source.finish(out_dir)
    if settings is not None:
        _write_sweep_json(out_dir, source, wanted, atoms, settings)
    n_finished = source.n_finished()
    summary = analyse_sweep(out_dir, plots=plots) if n_finished else {"tables": {}, "plots": []}
    summary["tables"].update(extra)
    summary.update(failed=failed, n_runs=source.n_runs())
    if failed and (raise_on_failure or not n_finished):
        lines = "\n".join(f"  {f['run_dir']}: {f['error']}" for f in failed)
        raise SweepError(f"{len(failed)} of {source.n_runs()} runs failed (finished runs are kept; rerun the same "
                         f"sweep to retry the failed ones):\n{lines}")
    return summary


def _write_sweep_json(out_dir: Path, source, wanted: dict, atoms, settings) -> None:
    pots = source.potentials()
    atomic_write_text(out_dir / SWEEP_JSON, json.dumps({
        "labels": sorted(p.label for p in pots), "temperatures_K": source.temperatures(),
        "seeds": source.seeds_json(), "n_runs": source.n_runs(), **wanted,
        "formula": atoms.get_chemical_formula(), "potentials": [p.to_json() for p in pots],
        **({"adaptive": {**settings.to_json(), "seeds_per_point": source.seeds_per_point()}} if settings else {}),
    }, indent=1) + "\n")


def _executor_capacity(executor) -> int:
    """How many runs an executor runs at once: a dask Client's threads, a pool's workers, else 1."""
    nthreads = getattr(executor, "nthreads", None)
    if callable(nthreads):  # dask.distributed.Client
        try:
            return max(1, sum(nthreads().values()))
        except Exception:  # no workers connected yet
            return 1
    return max(1, int(getattr(executor, "_max_workers", 1) or 1))


def _run_line(task: _Task, res: dict, quiet_fit: bool) -> str:
    if "error" in res:
        return f"FAILED {task.potential.label} {task.T_K:g} K seed {task.seed}: {res['error'].splitlines()[-1]}"
    shown = [w for w in res.get("analysis_warnings", []) if not quiet_fit or w.startswith(T_WARNING_PREFIX)]
    warn = "".join(f"\n    warning: {w}" for w in shown)
    return (f"{task.potential.label} {task.T_K:g} K seed {task.seed}: D = {res['D_cm2_s']:.3g} ± "
            f"{res['D_err_cm2_s']:.2g} cm²/s ({res['wall_s']:.0f} s){warn}")


def _steps_in_flight(tasks: Iterable[_Task], eq_steps_of) -> tuple[int, int]:
    """(runs that have started, MD steps they have done) from their progress files."""
    running = steps = 0
    for t in tasks:
        step = read_run_progress(t.run_dir)
        if step is not None:
            running += 1
            steps += eq_steps_of + step if step >= 0 else 0
    return running, steps


class _GridSource:
    """The runs of a fixed grid: all unfinished ones are submitted at once."""

    def __init__(self, tasks: list[_Task], wanted: dict, steps_per_run: int, display):
        self.tasks, self.display = tasks, display
        self.todo = []
        for t in tasks:
            if is_finished(t.run_dir):
                _check_reusable(Path(t.run_dir), wanted)
            else:
                self.todo.append(t)
        self.n_before, self.n_to_run = len(tasks) - len(self.todo), len(self.todo)
        self.n_ok = self.n_failed = 0
        self.steps_per_run, self.eq_steps = steps_per_run, wanted["eq_steps"]
        # With several seeds per label × T, D comes from their combined MSD; the single-run fit's
        # warnings (window too short to be diffusive) stay in result.json instead of being printed.
        self.quiet_fit = len({t.seed for t in tasks}) > 1

    def potentials(self):
        return list({t.potential.label: t.potential for t in self.tasks}.values())

    def temperatures(self):
        return sorted({t.T_K for t in self.tasks})

    def seeds_json(self):
        return sorted({t.seed for t in self.tasks})

    def n_runs(self) -> int:
        return len(self.tasks)

    def n_finished(self) -> int:
        return sum(is_finished(t.run_dir) for t in self.tasks)

    def start_message(self, out_dir: Path) -> str:
        return (f"sweep {out_dir}: {len(self.tasks)} runs, {self.n_before} already finished, "
                f"{len(self.todo)} to run")

    @property
    def done(self) -> bool:
        return not self.todo and self.n_ok + self.n_failed == self.n_to_run

    def max_parallel(self) -> int:
        return max(1, len(self.todo))

    def capacity(self, _workers: int) -> int:
        return max(1, len(self.todo))  # the executor queues them; nothing to decide in between

    def decide(self) -> None:
        pass

    def take(self, k: int) -> list[_Task]:
        out, self.todo = self.todo[:k], self.todo[k:]
        return out

    def finished(self, task: _Task, res: dict) -> None:
        if "error" in res:
            self.n_failed += 1
        else:
            self.n_ok += 1
        _say(self.display, f"[{self.n_ok + self.n_failed}/{self.n_to_run}] " + _run_line(task, res, self.quiet_fit))

    def snapshot(self, in_flight: list[_Task]) -> Snapshot:
        running, steps_running = _steps_in_flight(in_flight, self.eq_steps)
        left = len(self.tasks) - self.n_before - self.n_ok - self.n_failed - running
        return Snapshot(done=self.n_before + self.n_ok, running=running, left=left, failed=self.n_failed,
                        steps_done=self.n_ok * self.steps_per_run + steps_running,
                        steps_left=(left + running) * self.steps_per_run - steps_running)

    def finish(self, out_dir: Path) -> dict:
        return {}


def _point_estimate(records: list[dict]) -> tuple[float, float]:
    """(D, its standard error) in cm²/s of one (label, T) point from its runs: the summary's estimator (MSD
    combined over the runs, errors from the spread between them)."""
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the final analysis words the fit's warnings once
        row = summarise(pd.DataFrame(records)).iloc[0]
    return float(row["D_mean_cm2_s"]), float(row["D_sem_cm2_s"])


class _AdaptiveSource:
    """The runs of an adaptive sweep: an AdaptivePlan fed by the runs' results, recorded in adaptive.json."""

    def __init__(self, pots: list[Potential], temps: list[float], out_dir: Path, settings: adaptive.Settings,
                 wanted: dict, steps_per_run: int, display):
        self.pots, self.temps, self.out_dir, self.display = {p.label: p for p in pots}, temps, out_dir, display
        self.steps_per_run, self.eq_steps = steps_per_run, wanted["eq_steps"]
        keys = [(p.label, T) for p in pots for T in temps]
        self.records: dict = {k: {} for k in keys}
        for key in keys:
            point_dir = _run_dir_name(out_dir, key[0], key[1], 1).parent
            for d in sorted(point_dir.glob("seed*")):
                if d.name[4:].isdigit() and is_finished(d):
                    _check_reusable(d, wanted)
                    self.records[key][int(d.name[4:])] = {**json.loads((d / RESULT_NAME).read_text()),
                                                          "run_dir": str(d)}
        saved_path = out_dir / ADAPTIVE_JSON
        saved = json.loads(saved_path.read_text()) if saved_path.is_file() else None
        self.plan = adaptive.AdaptivePlan.resume(keys, settings, saved, {k: r.keys() for k, r in self.records.items()})
        self.n_before = sum(len(r) for r in self.records.values())
        self.n_ok = self.n_failed = 0
        self.settings = settings

    def potentials(self):
        return list(self.pots.values())

    def temperatures(self):
        return sorted(self.temps)

    def seeds_json(self):
        return None

    def seeds_per_point(self) -> dict:
        return {label: {f"{T:g}": self.plan.points[(label, T)].n for T in self.temps} for label in self.pots}

    def n_runs(self) -> int:
        return self.plan.n_planned()

    def n_finished(self) -> int:
        return sum(p.n for p in self.plan.points.values())

    def start_message(self, out_dir: Path) -> str:
        s = self.settings
        return (f"adaptive sweep {out_dir}: {len(self.plan.points)} points (model × T), target relative error of "
                f"D {100 * s.target_rel_err:g} % ({s.min_seeds}-{s.max_seeds} seeds per point), {self.n_before} runs "
                "already finished")

    @property
    def done(self) -> bool:
        return self.plan.done and not self.plan.looks_due()

    def max_parallel(self) -> int:
        return self.settings.max_seeds * len(self.plan.points)

    def capacity(self, workers: int) -> int:
        return max(1, workers)

    def _save(self) -> None:
        atomic_write_text(self.out_dir / ADAPTIVE_JSON, json.dumps(self.plan.to_json(), indent=1) + "\n")

    def decide(self) -> None:
        due = self.plan.looks_due()
        for key in due:
            recs = self.records[key]
            D, sem = _point_estimate([recs[s] for s in sorted(recs)])
            d = self.plan.look(key, D, sem)
            lk = self.plan.points[key].last
            rel = f"{lk['rel_err']:.2%}" if np.isfinite(lk["rel_err"]) else "undefined"
            then = "stop" if d.stop else f"run seeds up to {d.planned}"
            _say(self.display, f"{key[0]} {key[1]:g} K: {lk['n']} seeds, D = {D:.4g} ± {sem:.2g} cm²/s (rel. error "
                               f"{rel}, with margin {lk['rel_err_bound']:.2%}; target "
                               f"{self.settings.target_rel_err:.2%}): {d.reason}, {then}")
        if due:
            self._save()

    def take(self, k: int) -> list[_Task]:
        return [_Task(str(_run_dir_name(self.out_dir, label, T, seed)), self.pots[label], T, seed)
                for (label, T), seed in self.plan.take(k)]

    def finished(self, task: _Task, res: dict) -> None:
        key = (task.potential.label, task.T_K)
        if "error" in res:
            self.n_failed += 1
            self.plan.failed(key, task.seed, res["error"].splitlines()[-1])
            self._save()
        else:
            self.n_ok += 1
            self.records[key][task.seed] = {**res, "run_dir": task.run_dir}
            self.plan.finished(key, task.seed)
        _say(self.display, f"[{self.n_before + self.n_ok}/{self.plan.n_planned()}] " + _run_line(task, res, True))

    def snapshot(self, in_flight: list[_Task]) -> Snapshot:
        running, steps_running = _steps_in_flight(in_flight, self.eq_steps)
        planned = self.plan.n_planned()
        done = self.n_finished()
        left = max(0, planned - done - running - self.n_failed)
        points = [PointStatus(p.label, p.T_K, p.n, max(p.planned, p.n),
                              (p.last or {}).get("rel_err", float("nan")), self.settings.target_rel_err, p.status)
                  for p in self.plan.points.values()]
        projected = max(0, self.plan.n_projected() - planned)
        return Snapshot(done=done, running=running, left=left, failed=self.n_failed,
                        steps_done=self.n_ok * self.steps_per_run + steps_running,
                        steps_left=(left + running + projected) * self.steps_per_run - steps_running,
                        projected_runs=projected, points=points)

    def finish(self, out_dir: Path) -> dict:
        import pandas as pd

        self._save()
        table, looks = pd.DataFrame(self.plan.table()), pd.DataFrame(self.plan.looks_table())
        _write_csv(table, out_dir / ADAPTIVE_CSV)
        _write_csv(looks, out_dir / ADAPTIVE_LOOKS_CSV)
        return {"adaptive": table, "adaptive_looks": looks}


def _drive(source, submit, capacity: int, display) -> list[dict]:
    """Keep up to `capacity` runs of `source` in flight on any executor until the source is done; report each
    finished run to the source and the display. Returns the error records of failed runs."""
    in_flight: dict[int, tuple] = {}  # id(future) -> (future, task); dask futures compare by key
    failed = []
    try:
        while True:
            source.decide()
            for task in source.take(capacity - len(in_flight)):
                fut = submit(task)
                in_flight[id(fut)] = (fut, task)
            if not in_flight:
                if not source.done:
                    raise RuntimeError("sweep scheduler stalled: nothing to run and not finished (a bug: please "
                                       "report it with the sweep's adaptive.json)")
                break
            for fut in _wait_some([f for f, _ in in_flight.values()], POLL_S):
                _, task = in_flight.pop(id(fut))
                try:
                    res = fut.result()
                except Exception as exc:  # a worker died (e.g. killed): the run stays unfinished
                    res = {"error": f"{type(exc).__name__}: {exc}", "run_dir": task.run_dir}
                if "error" in res:
                    failed.append(res)
                source.finished(task, res)
            if display is not None:
                display.update(source.snapshot([t for _, t in in_flight.values()]))
    finally:
        if display is not None:
            display.close(source.snapshot([t for _, t in in_flight.values()]))
    return failed


def _wait_some(futures: list, timeout_s: float) -> list:
    """The futures that are done, waiting up to timeout_s for the first (concurrent.futures, dask, duck-typed)."""
    if all(isinstance(f, concurrent.futures.Future) for f in futures):
        done, _ = concurrent.futures.wait(futures, timeout=timeout_s, return_when=concurrent.futures.FIRST_COMPLETED)
        return [f for f in futures if f in done]
    if all(callable(getattr(f, "done", None)) for f in futures):  # dask.distributed futures
        done = [f for f in futures if f.done()]
        if not done:
            time.sleep(timeout_s)
        return done
    return futures[:1]  # any other future: wait in order (its result() blocks)


def _say(display, msg: str) -> None:
    if display is not None:
        display.message(msg)
