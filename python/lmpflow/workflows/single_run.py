"""One transport run end to end: the MD (lmpflow.lammps.run), then its own analysis, then result.json.

`run_md(run_dir)` runs a run directory, analyses its dump (tracer D with a calibrated error, Nernst-Einstein and
charge-MSD conductivity) and writes msd.csv, msd.npz and `result.json` atomically, LAST: a run directory with
result.json is finished; one without it is not.

Units: LAMMPS metal (Å, ps, eV, K, bar); D in cm²/s, σ in mS/cm.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np

from lmpflow._host import atomic_output, atomic_write_text
from lmpflow.lammps.run import ProgressArg, read_thermo, run_lammps
from lmpflow.lammps.rundir import DUMP_NAME, LOG_NAME, read_run_vars

RESULT_NAME = "result.json"
MSD_NAME = "msd.csv"
#: The run's full MSDResult (tracer, charge and block MSDs): what a sweep combines across seeds without
#: rereading dumps.
MSD_NPZ_NAME = "msd.npz"
#: Start of the per-run warning about the thermostat (every other analysis warning is about the MSD fit).
T_WARNING_PREFIX = "mean production temperature"
#: Largest relative deviation of the mean production temperature from the target before a warning.
T_TOLERANCE = 0.10


def run_md(run_dir: str | os.PathLike, *, mode: str = "python", np: int = 1, progress: ProgressArg = True,
           lmp: str = "lmp", mpirun: str = "mpirun", threads: int | None = None, analyse: bool = True,
           timeout_s: float | None = None) -> dict:
    """Run the MD of a run directory, analyse its dump and write result.json (atomically, last).

    mode, np, progress, lmp, mpirun, threads, timeout_s: as `lmpflow.lammps.run.run_lammps` ("python",
    "lmp" or "mpirun"). analyse=False stops after the MD (no result.json). Returns the result record (or {}
    without analysis). Outputs of an earlier attempt are removed first.

    Raises SimulationBlewUp (lost atoms, NaN/inf), LammpsError (other LAMMPS errors, with its ERROR
    lines), LammpsNotFound (no `lmp`/`mpirun`).
    """
    run_dir = Path(run_dir).resolve()
    for name in (RESULT_NAME, MSD_NAME, MSD_NPZ_NAME):
        (run_dir / name).unlink(missing_ok=True)
    wall_s = run_lammps(run_dir, mode=mode, np=np, progress=progress, lmp=lmp, mpirun=mpirun, threads=threads,
                        timeout_s=timeout_s)
    if not analyse:
        return {}
    return analyse_run(run_dir, wall_s=wall_s, run_info={"mode": mode, "np": int(np)})


def analyse_dump(dump_path: str | os.PathLike, timestep_ps: float, T_K: float, ion: str = "Li") -> tuple[dict, object]:
    """Transport of one dump: ({D (cm²/s) with block error, fit window (ps), σ Nernst-Einstein and from the
    charge MSD (mS/cm), the framework's mobility, ...}, the transport.MSDResult). timestep_ps: MD step (ps);
    T_K: temperature (K)."""
    from lmpflow.analysis import conductivity_from_msd, diffusion_coefficient, msd
    from lmpflow.analysis.framework import framework_mobility
    from lmpflow.trajectory import read_dump

    traj = read_dump(dump_path)
    res = msd(traj, ion, timestep_ps=timestep_ps)
    hosts = [e for e in traj.species if e != ion]
    framework = framework_mobility(traj, hosts, timestep_ps=timestep_ps) if hosts else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = diffusion_coefficient(res)
        sig = conductivity_from_msd(res, T_K, fit_window_ps=d.fit_window_ps)
    out = {
        "D_cm2_s": float(d.D_cm2_s), "D_err_cm2_s": float(d.sigma_D_cm2_s), "D_dof": float(d.dof),
        "fit_window_ps": [float(d.fit_window_ps[0]), float(d.fit_window_ps[1])],
        "sigma_NE_mS_cm": float(sig.nernst_einstein_mS_cm),
        "sigma_NE_err_mS_cm": float(sig.nernst_einstein_err_mS_cm),
        "sigma_charge_mS_cm": float(sig.sigma_mS_cm), "sigma_charge_err_mS_cm": float(sig.err_mS_cm),
        "D_axes_cm2_s": [float(x) for x in d.D_axes_cm2_s],
        "n_frames": int(res.n_frames), "volume_A3": float(res.volume_A3),
        "analysis_warnings": sorted({str(w.message) for w in caught}),
        # host species whose MSD grows linearly (a molten framework): "" when it holds, None without hosts
        "framework_mobile": " ".join(framework.mobile) if framework else None,
        "framework": framework.to_json() if framework else None,
    }
    moved = framework.warning() if framework else None
    if moved:
        out["analysis_warnings"].append(moved)
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
    path = Path(path)
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **{k: np.asarray(getattr(res, k), dtype=np.float64) for k in _MSD_ARRAYS},
                 **{k: np.asarray(getattr(res, k)) for k in _MSD_SCALARS})
    return path


def load_msd(path: str | os.PathLike):
    """The transport.MSDResult stored by `save_msd` (per_particle_A2 is None)."""
    from lmpflow.analysis import MSDResult

    with np.load(path, allow_pickle=False) as z:
        missing = [k for k in (*_MSD_ARRAYS, *_MSD_SCALARS) if k not in z.files]
        if missing:
            raise ValueError(f"{path} lacks {missing}: not an lmpflow MSD file; re-analyse the run "
                             "(lmpflow.analyse_run)")
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
