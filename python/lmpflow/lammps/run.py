"""Run the LAMMPS part of a run directory: in this process, as `lmp`, or under `mpirun`, with progress.

`run_lammps(run_dir)` runs the directory written by `lmpflow.lammps.rundir.write_run_inputs` either in this
process (mode="python", through the `lammps` Python module) or as a subprocess (mode="lmp": `lmp -in in.liPSCl
...`; mode="mpirun": `mpirun -np N lmp -in ...`). All modes run the same script with the same variables and
give the same trajectory for the same seed. Progress comes from the production step count; blow-ups (lost
atoms, NaN/inf thermo) and LAMMPS errors are raised with LAMMPS' own ERROR lines and the log's location.

Units: LAMMPS metal (Å, ps, eV, K, bar).
"""
from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
from collections import deque
from pathlib import Path
from typing import Callable

from lmpflow._host import executable
from lmpflow.lammps.rundir import DUMP_NAME, INPUT_SCRIPT_NAME, LOG_NAME, lmp_var_args, read_run_vars
from lmpflow.lammps.runtime import lammps_class, plugin_env

MODES = ("python", "lmp", "mpirun")

#: LAMMPS messages that mean the dynamics diverged (atoms flew apart or forces became NaN).
_BLOWUP_PATTERNS = ("Lost atoms", "Out of range atoms", "Non-numeric", "Too many neighbor bins",
                    "Neighbor list overflow")
_BLOWUP_HINT = "simulation blew up: lower T / timestep or check the model"


class LammpsError(RuntimeError):
    """LAMMPS stopped with an error; the message carries LAMMPS' ERROR lines and the log location."""


class SimulationBlewUp(LammpsError):
    """Atoms were lost or energies became NaN/inf."""


class LammpsNotFound(FileNotFoundError):
    """The `lmp` (or `mpirun`) executable is not available."""


ProgressArg = bool | Callable[[int, int], None]


# --------------------------------------------------------------------------------------------------- #
# Log parsing
# --------------------------------------------------------------------------------------------------- #

_PRODUCTION_MARK = "lmpflow: production"


def _thermo_row(line: str, ncols: int) -> list[float] | None:
    """Values of a thermo data line (first field an integer step), else None."""
    parts = line.split()
    if len(parts) != ncols or not parts[0].lstrip("-").isdigit():
        return None
    try:
        return [float(p) for p in parts]
    except ValueError:
        return None


def read_thermo(log_path: str | os.PathLike, production_only: bool = True):
    """Thermo table of a log (pandas DataFrame, columns as LAMMPS names them: Step, Time, Temp, PotEng ...).

    production_only: only the rows after lmpflow's production marker. Rows repeated at run boundaries
    (a chunked run prints the boundary step twice) are dropped.
    """
    import pandas as pd

    rows, header, in_prod = [], None, not production_only
    for line in Path(log_path).read_text(errors="replace").splitlines():
        if line.startswith(_PRODUCTION_MARK):
            in_prod, rows = True, []
            continue
        s = line.split()
        if s[:1] == ["Step"]:
            header = s
            continue
        if line.startswith("Loop time"):
            header = None
            continue
        if header is not None and in_prod:
            vals = _thermo_row(line, len(header))
            if vals is not None:
                rows.append(dict(zip(header, vals)))
    df = pd.DataFrame(rows)
    if not df.empty:
        df = df.drop_duplicates(subset="Step", keep="first").reset_index(drop=True)
        df["Step"] = df["Step"].astype(int)
    return df


class _LogWatcher:
    """Follows LAMMPS output line by line: production progress, non-finite thermo, ERROR lines."""

    def __init__(self):
        self.header: list[str] | None = None
        self.in_production = False
        self.step = 0
        self.errors: list[str] = []
        self.nonfinite: str | None = None
        self.tail: deque[str] = deque(maxlen=40)

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        self.tail.append(line)
        if line.startswith("ERROR") or " ERROR: " in line:
            self.errors.append(line.strip())
        elif line.startswith(_PRODUCTION_MARK):
            self.in_production = True
        elif line.split()[:1] == ["Step"]:
            self.header = line.split()
        elif line.startswith("Loop time"):
            self.header = None
        elif self.header is not None:
            vals = _thermo_row(line, len(self.header))
            if vals is not None:
                if not all(math.isfinite(v) for v in vals) and self.nonfinite is None:
                    self.nonfinite = line.strip()
                if self.in_production:
                    self.step = int(vals[0])


def _make_progress(progress: ProgressArg, total: int, desc: str):
    """A callable(step) reporting production progress, and a closer."""
    if callable(progress):
        return (lambda step: progress(step, total)), (lambda: None)
    if not progress:
        return (lambda step: None), (lambda: None)
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="step", dynamic_ncols=True)

    def update(step: int) -> None:
        bar.update(max(0, min(step, total) - bar.n))

    return update, bar.close


# --------------------------------------------------------------------------------------------------- #
# Running
# --------------------------------------------------------------------------------------------------- #

def _clean_outputs(run_dir: Path) -> None:
    """Remove what a previous (failed or finished) attempt left, so nothing stale is analysed."""
    for name in (LOG_NAME, DUMP_NAME, "screen.txt", "error.txt"):
        (run_dir / name).unlink(missing_ok=True)
    shutil.rmtree(run_dir / (DUMP_NAME + ".lmpflow"), ignore_errors=True)  # dump reader cache


def _blowup_or_error(run_dir: Path, errors: list[str], nonfinite: str | None, tail) -> LammpsError:
    where = f"(log: {run_dir / LOG_NAME})"
    if nonfinite is not None:
        return SimulationBlewUp(f"{_BLOWUP_HINT}: non-finite thermo output `{nonfinite}` {where}")
    text = " | ".join(errors) if errors else "\n".join(list(tail)[-15:])
    if any(p in text for p in _BLOWUP_PATTERNS):
        return SimulationBlewUp(f"{_BLOWUP_HINT}: {text} {where}")
    if "Unrecognized pair style 'lmpflow/" in text:
        text += (" -- the lmpflow LAMMPS plugin is not loaded: install lmpflow with its plugin "
                 "(scripts/install.sh) or set LMPFLOW_PLUGIN=/path/to/lmpflowplugin.so")
    return LammpsError(f"LAMMPS failed in {run_dir}: {text} {where}")


def _run_python(run_dir: Path, variables: dict, steps: int, thermo_every: int, report) -> None:
    """In-process run: the script stops before production (-var production no); production is then run
    in chunks so progress and blow-ups are seen while it runs. Chunks continue the same run (pre no)."""
    abs_vars = dict(variables, production="no", data=str(run_dir / variables["data"]),
                    dump=str(run_dir / variables["dump"]))
    if "potential" in abs_vars:
        abs_vars["potential"] = str(run_dir / abs_vars["potential"])
    args = ["-log", str(run_dir / LOG_NAME), "-screen", "none", "-nocite", *lmp_var_args(abs_vars)]
    lmp = lammps_class()(cmdargs=args)
    try:
        try:
            lmp.file(str(run_dir / INPUT_SCRIPT_NAME))
            _check_finite(lmp)
            chunk = thermo_every * max(1, math.ceil(steps / thermo_every / 50))
            done = 0
            while done < steps:
                n = min(chunk, steps - done)
                last = done + n >= steps
                lmp.command(f"run {n} start 0 stop {steps} pre {'yes' if done == 0 else 'no'} "
                            f"post {'yes' if last else 'no'}")
                done += n
                _check_finite(lmp)
                report(done)
        except SimulationBlewUp:
            raise
        except Exception as exc:  # the lammps module raises plain Exception("ERROR: ...")
            msg = str(exc).strip()
            raise _blowup_or_error(run_dir, [msg], None, []) from None
    finally:
        lmp.close()


def _check_finite(lmp) -> None:
    """Raise SimulationBlewUp if the last thermo output (LAMMPS' own record of it) has NaN/inf."""
    last = lmp.last_thermo() or {}
    bad = {k: v for k, v in last.items() if isinstance(v, float) and not math.isfinite(v)}
    if bad:
        raise SimulationBlewUp(f"{_BLOWUP_HINT}: non-finite thermo {bad} at step {last.get('Step')}")


def _run_subprocess(run_dir: Path, variables: dict, cmd_prefix: list[str], report, env: dict,
                    timeout_s: float | None) -> None:
    cmd = [*cmd_prefix, "-in", INPUT_SCRIPT_NAME, *lmp_var_args(variables), "-log", LOG_NAME, "-nocite"]
    watcher = _LogWatcher()
    t0 = time.monotonic()
    with open(run_dir / "screen.txt", "w") as screen, subprocess.Popen(
            cmd, cwd=run_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
            bufsize=1, errors="replace") as proc:
        try:
            for line in proc.stdout:
                screen.write(line)
                watcher.feed(line)
                if watcher.nonfinite is not None:
                    proc.kill()  # no point integrating NaNs
                    break
                report(watcher.step)
                if timeout_s is not None and time.monotonic() - t0 > timeout_s:
                    proc.kill()
                    raise LammpsError(f"LAMMPS run in {run_dir} exceeded timeout_s={timeout_s}")
        except BaseException:
            proc.kill()
            raise
        rc = proc.wait()
    if watcher.nonfinite is not None or rc != 0 or watcher.errors:
        raise _blowup_or_error(run_dir, watcher.errors, watcher.nonfinite, watcher.tail)


def _lmp_executable(lmp: str) -> str:
    path = executable(lmp)
    if path is None:
        raise LammpsNotFound(f"LAMMPS executable {lmp!r} not found on PATH: install LAMMPS (`pip install "
                             "lammps`), pass lmp='/path/to/lmp', or use mode='python'")
    return path


def run_lammps(run_dir: str | os.PathLike, *, mode: str = "python", np: int = 1, progress: ProgressArg = True,
               lmp: str = "lmp", mpirun: str = "mpirun", threads: int | None = None,
               timeout_s: float | None = None) -> float:
    """Run the MD of a run directory to its last production step; returns the wall time (s).

    mode: "python" (in-process `lammps` module), "lmp" (`lmp -in in.liPSCl ...` subprocess) or
    "mpirun" (`mpirun -np {np} lmp ...`). progress: True for a progress bar, False for none, or a
    callable(step, total_steps). threads: OMP_NUM_THREADS for the run (subprocess modes; in-process it
    applies only if the threading runtime is not yet started). timeout_s: subprocess modes only, stop the run
    after this many seconds. The log and dump of an earlier attempt are removed first.

    Raises SimulationBlewUp (lost atoms, NaN/inf), LammpsError (other LAMMPS errors, with its ERROR
    lines), LammpsNotFound (no `lmp`/`mpirun`).
    """
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: choose one of {MODES}")
    if int(np) != np or np < 1:
        raise ValueError(f"np={np} must be a positive integer (MPI ranks)")
    if mode != "mpirun" and np != 1:
        raise ValueError(f"np={np} needs mode='mpirun'")
    run_dir = Path(run_dir).resolve()
    rec = read_run_vars(run_dir)
    settings = rec["settings"]
    steps = int(settings["steps"])
    _clean_outputs(run_dir)
    env = plugin_env()
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(int(threads))
    desc = f"{rec['potential']['label']} {settings['T_K']:g} K seed {settings['seed']}"
    report, close = _make_progress(progress, steps, desc)
    t0 = time.perf_counter()
    try:
        if mode == "python":
            if threads is not None:
                os.environ.setdefault("OMP_NUM_THREADS", str(int(threads)))
            _run_python(run_dir, rec["variables"], steps, int(settings["thermo_every"]), report)
        else:
            prefix = [_lmp_executable(lmp)]
            if mode == "mpirun":
                runner = executable(mpirun)
                if runner is None:
                    raise LammpsNotFound(f"{mpirun!r} not found on PATH: install an MPI (`pip install "
                                         "lammps[mpi]` brings mpirun) or use mode='lmp'")
                prefix = [runner, "-np", str(int(np)), *prefix]
            _run_subprocess(run_dir, rec["variables"], prefix, report, env, timeout_s)
    finally:
        close()
    wall_s = time.perf_counter() - t0
    _check_complete(run_dir, steps)
    return wall_s


def _check_complete(run_dir: Path, steps: int) -> None:
    """The production reached its last step with finite thermo (guards against silent early stops)."""
    th = read_thermo(run_dir / LOG_NAME)
    if th.empty or int(th["Step"].iloc[-1]) != steps:
        last = "none" if th.empty else int(th["Step"].iloc[-1])
        raise LammpsError(f"production in {run_dir} stopped early (last thermo step {last} of {steps}); "
                          f"see {run_dir / LOG_NAME}")
    bad = ~th.apply(lambda c: c.map(math.isfinite)).all(axis=1)
    if bad.any():
        raise SimulationBlewUp(f"{_BLOWUP_HINT}: non-finite thermo at step {int(th['Step'][bad].iloc[0])} "
                               f"(log: {run_dir / LOG_NAME})")
