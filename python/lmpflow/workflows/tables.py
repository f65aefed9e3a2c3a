"""A sweep's tables: per run, per (model, T) and per model, written atomically with their plots.

`analyse_sweep(out_dir)` reads the finished runs of a sweep directory and writes:

    runs.csv        one row per finished run (the result.json fields)
    summary.csv     per label × T: D (cm²/s) fitted to the Li MSD combined over the seeds (each seed one
                    error block, so the fit window reaches half a run) with its standard error and 95 %
                    Student-t interval, Nernst-Einstein and charge-MSD σ (mS/cm), Haven ratio with a
                    jackknife error, the fit window (ps), D_method, and the mean of the per-run D values
                    (D_runs_mean_cm2_s) for comparison; one seed (or runs without msd.npz): per-run mean
    arrhenius.csv   per label: Ea (eV) ± error, prefactor, D and σ extrapolated to 300 K with 95 % intervals
    msd_<label>_<T>K.png, arrhenius_<label>.png (and arrhenius.png: all labels)

Units: K, ps, Å, eV; D in cm²/s, σ in mS/cm.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
import warnings
from pathlib import Path

import numpy as np

from lmpflow import _stats
from lmpflow._host import atomic_write_text
from lmpflow.analysis import (
    combine_msd,
    combine_trajectories,
    conductivity_from_msd,
    diffusion_coefficient,
    fit_arrhenius,
    haven_ratio,
    msd,
)
from lmpflow.analysis.comparison import SWEEP_CI_LEVEL
from lmpflow.lammps.rundir import DUMP_NAME
from lmpflow.output import plots
from lmpflow.workflows.single_run import MSD_NPZ_NAME, RESULT_NAME, load_msd

RUNS_CSV, SUMMARY_CSV, ARRHENIUS_CSV = "runs.csv", "summary.csv", "arrhenius.csv"


def safe_label(label: str) -> str:
    """`label` as a file-name part."""
    return re.sub(r"[^A-Za-z0-9._+-]", "_", label)


def _write_csv(df, path: Path) -> None:
    """CSV written atomically; list-valued cells (e.g. fit_window_ps) as JSON text."""
    df = df.copy()
    for col in df.columns:
        if df[col].map(lambda v: isinstance(v, (list, tuple))).any():
            df[col] = df[col].map(json.dumps)
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    atomic_write_text(path, buf.getvalue())


def load_runs(out_dir: str | os.PathLike):
    """All finished runs of a sweep directory (or any folder tree of run dirs) as a DataFrame."""
    import pandas as pd

    rows = []
    for p in sorted(Path(out_dir).glob(f"**/{RESULT_NAME}")):
        rec = json.loads(p.read_text())
        rec["run_dir"] = str(p.parent)
        rows.append(rec)
    df = pd.DataFrame(rows)
    if not df.empty:
        df = df.sort_values(["label", "T_K", "seed"]).reset_index(drop=True)
    return df


def _mean_sem_ci(values: np.ndarray, errors: np.ndarray, dof: float = math.inf) -> tuple[float, float, float, float]:
    """Mean over independent runs with its standard error and Student-t CI; one run: its own error with `dof`."""
    if values.size >= 2:
        c = combine_trajectories(values, ci=SWEEP_CI_LEVEL)
        return c.mean, c.sem, c.ci_low, c.ci_high
    v, e = float(values[0]), float(errors[0])
    return (v, e, *_stats.t_interval(v, e, dof, SWEEP_CI_LEVEL))


def _dof(g) -> float:
    """Degrees of freedom of a per-run-mean error: n_runs − 1, or a single run's own (its time blocks)."""
    if len(g) >= 2:
        return float(len(g) - 1)
    return float(g["D_dof"].iloc[0]) if "D_dof" in g and np.isfinite(g["D_dof"].iloc[0]) else math.inf


#: summary.csv D_method values: D from the MSD averaged over all seeds (each seed one error block), or the
#: mean ± standard error of the per-run D values (one seed, or runs without a stored MSD).
COMBINED, PER_RUN = "combined-msd", "per-run-mean"


def _run_msds(g) -> list | None:
    """The stored MSDResults of a group of runs, or None if any run lacks msd.npz (older analyses)."""
    paths = [Path(d) / MSD_NPZ_NAME for d in g["run_dir"]]
    if not all(p.is_file() for p in paths):
        return None
    return [load_msd(p) for p in paths]


def _combined_fit(msds: list, T_K: float) -> dict:
    """D (cm²/s), σ_NE / σ_charge (mS/cm) and the Haven ratio from the MSD combined over independent runs.

    Each run is one error block, so the fit window reaches half the (shortest) run and the errors are the
    spread between runs. Warnings of the fit are returned, not raised (the caller words them per label × T).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        comb = combine_msd(msds)
        d = diffusion_coefficient(comb)
        sig = conductivity_from_msd(comb, T_K, fit_window_ps=d.fit_window_ps)
        fit_warnings = sorted({str(w.message) for w in caught})
        # An unsettled Haven ratio is reported through haven_err; its warning would repeat for every T.
        hv = haven_ratio(comb, d.fit_window_ps)
    lo, hi = d.ci(SWEEP_CI_LEVEL)
    return {"comb": comb, "diffusion": d, "D": (d.D_cm2_s, d.sigma_D_cm2_s, lo, hi), "dof": float(d.dof),
            "sigma_NE": (sig.nernst_einstein_mS_cm, sig.nernst_einstein_err_mS_cm),
            "sigma_charge": (sig.sigma_mS_cm, sig.err_mS_cm), "haven": (hv.H_R, hv.err),
            "window": d.fit_window_ps, "warnings": fit_warnings}


def _per_run_fit(g) -> dict:
    """Mean ± standard error over runs of the per-run results (one run: its own block error)."""
    dof = _dof(g)
    d = _mean_sem_ci(g["D_cm2_s"].to_numpy(float), g["D_err_cm2_s"].to_numpy(float), dof)
    s = _mean_sem_ci(g["sigma_NE_mS_cm"].to_numpy(float), g["sigma_NE_err_mS_cm"].to_numpy(float), dof)
    sc = _mean_sem_ci(g["sigma_charge_mS_cm"].to_numpy(float), g["sigma_charge_err_mS_cm"].to_numpy(float), dof)
    windows = np.array([w if isinstance(w, (list, tuple)) else json.loads(w) for w in g["fit_window_ps"]], float)
    return {"D": d, "dof": dof, "sigma_NE": s[:2], "sigma_charge": sc[:2],
            "haven": _stats.jackknife_ratio(g["sigma_NE_mS_cm"].to_numpy(float),
                                            g["sigma_charge_mS_cm"].to_numpy(float)),
            "window": (float(windows[:, 0].min()), float(windows[:, 1].max())), "warnings": None}


def _group_estimate(label: str, T: float, g) -> tuple[str, dict]:
    """(D_method, estimate) of one label × T; warns once if even the combined MSD is not diffusive."""
    msds = _run_msds(g) if len(g) >= 2 else None
    if msds is None:
        return PER_RUN, _per_run_fit(g)
    est = _combined_fit(msds, float(T))
    for w in est["warnings"]:
        warnings.warn(f"{label} at {T:g} K, MSD combined over {len(g)} runs: {w}", stacklevel=3)
    return COMBINED, est


def summarise(runs, *, return_fits: bool = False):
    """summary.csv rows (per label × T) from the runs table.

    D, σ and the Haven ratio come from the Li MSD combined over the seeds (D_method "combined-msd") when
    every run kept its msd.npz and there are at least two runs, else from the mean over runs ("per-run-mean").
    D_runs_mean_cm2_s / D_runs_sem_cm2_s keep the mean ± standard error of the single-run D values for
    comparison. return_fits: also return {(label, T): combined-fit dict} (for the MSD plots).
    """
    import pandas as pd

    rows, fits = [], {}
    for (label, T), g in runs.groupby(["label", "T_K"], sort=True):
        method, est = _group_estimate(label, T, g)
        runs_d = _mean_sem_ci(g["D_cm2_s"].to_numpy(float), g["D_err_cm2_s"].to_numpy(float), _dof(g))
        d, (s, s_err), (sc, sc_err), (h, h_err) = est["D"], est["sigma_NE"], est["sigma_charge"], est["haven"]
        if method == COMBINED:
            fits[(label, T)] = est
        rows.append({
            "label": label, "arch": g["arch"].iloc[0], "functional": g["functional"].iloc[0], "T_K": T,
            "n_runs": len(g), "D_mean_cm2_s": d[0], "D_sem_cm2_s": d[1], "D_ci_lo_cm2_s": d[2],
            "D_ci_hi_cm2_s": d[3], "D_dof": est["dof"], "sigma_mean_mS_cm": s, "sigma_sem_mS_cm": s_err,
            "sigma_charge_mean_mS_cm": sc, "sigma_charge_sem_mS_cm": sc_err, "haven": h, "haven_err": h_err,
            "D_method": method, "fit_window_lo_ps": est["window"][0], "fit_window_hi_ps": est["window"][1],
            # False when the combined MSD showed no diffusive regime (a warning said so); None: not checked.
            "diffusive": (not any("no diffusive regime" in w for w in est["warnings"])
                          if est["warnings"] is not None else None),
            "D_runs_mean_cm2_s": runs_d[0], "D_runs_sem_cm2_s": runs_d[1],
            "T_mean_K": float(g["T_mean_K"].mean()) if "T_mean_K" in g else float("nan"),
            "framework_mobile_runs": _framework_mobile_runs(label, T, g),
        })
    df = pd.DataFrame(rows)
    return (df, fits) if return_fits else df


def _framework_mobile_runs(label: str, T: float, g) -> int:
    """Runs of one label × T whose framework moved (warned once: their D is a liquid's)."""
    if "framework_mobile" not in g:
        return 0
    moved = g["framework_mobile"].fillna("").astype(str).str.strip()
    n = int((moved != "").sum())
    if n:
        species = sorted({s for m in moved for s in m.split()})
        warnings.warn(f"{label} at {T:g} K: the framework ({' '.join(species)}) moved like a liquid in {n} of "
                      f"{len(g)} runs; D at this point is not ion hopping in a solid (see framework in their "
                      "result.json)", stacklevel=3)
    return n


def _fit_label(g):
    """Arrhenius fits of D and of σ_NE for one label's summary rows (None if fewer than 2 temperatures)."""
    if len(g) < 2 or (g["D_mean_cm2_s"] <= 0).any() or (g["D_sem_cm2_s"] <= 0).any():
        return None, None
    T = g["T_K"].to_numpy(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # large relative errors are reported through the interval
        # each temperature's error comes from its runs: with few seeds its own uncertainty sets the t quantiles
        dof = g["D_dof"].to_numpy(float) if "D_dof" in g else None
        fd = fit_arrhenius(T, g["D_mean_cm2_s"], g["D_sem_cm2_s"], quantity="D", dof=dof)
        fs = fit_arrhenius(T, g["sigma_mean_mS_cm"], g["sigma_sem_mS_cm"], quantity="sigma", dof=dof)
    return fd, fs


def arrhenius_table(summary):
    """arrhenius.csv rows (per label): Ea from D(T), D and σ_NE extrapolated to 300 K with 95 % intervals."""
    import pandas as pd

    rows, fits = [], {}
    for label, g in summary.groupby("label", sort=True):
        fd, fs = _fit_label(g)
        fits[label] = (fd, fs, g)
        row = {"label": label, "arch": g["arch"].iloc[0], "functional": g["functional"].iloc[0],
               "n_temperatures": len(g)}
        if fd is None:
            row.update({k: float("nan") for k in ("Ea_eV", "Ea_err_eV", "Ea_dof", "sigma300_dof",
                                                   "prefactor_cm2_s", "D300_cm2_s",
                                                   "D300_lo_cm2_s", "D300_hi_cm2_s", "sigma300_mS_cm",
                                                   "sigma300_lo_mS_cm", "sigma300_hi_mS_cm")})
        else:
            pd300, ps300 = fd.predict(300.0, SWEEP_CI_LEVEL), fs.predict(300.0, SWEEP_CI_LEVEL)
            row.update({"Ea_eV": fd.Ea_eV, "Ea_err_eV": fd.Ea_err_eV, "Ea_dof": fd.Ea_dof,
                        "prefactor_cm2_s": fd.prefactor, "sigma300_dof": float(ps300.dof[0]),
                        "D300_cm2_s": float(pd300.value[0]), "D300_lo_cm2_s": float(pd300.low[0]),
                        "D300_hi_cm2_s": float(pd300.high[0]), "sigma300_mS_cm": float(ps300.value[0]),
                        "sigma300_lo_mS_cm": float(ps300.low[0]), "sigma300_hi_mS_cm": float(ps300.high[0]),
                        "chi2_red": fd.chi2_red})
        rows.append(row)
    return pd.DataFrame(rows), fits


def analyse_sweep(out_dir: str | os.PathLike, *, plots: bool = True) -> dict:
    """Write runs.csv, summary.csv, arrhenius.csv (atomically) and plots for the finished runs in out_dir."""
    out_dir = Path(out_dir)
    runs = load_runs(out_dir)
    if runs.empty:
        raise FileNotFoundError(f"no finished runs (*/result.json) under {out_dir}")
    summary, combined = summarise(runs, return_fits=True)
    arr, fits = arrhenius_table(summary)
    _write_csv(runs, out_dir / RUNS_CSV)
    _write_csv(summary, out_dir / SUMMARY_CSV)
    _write_csv(arr, out_dir / ARRHENIUS_CSV)
    tables = {"runs": runs, "summary": summary, "arrhenius": arr}
    written = _plots(out_dir, runs, fits, tables, combined) if plots else []
    return {"tables": tables, "plots": written, "out_dir": str(out_dir)}


def _plots(out_dir: Path, runs, fits, tables: dict, combined: dict) -> list[str]:
    """MSD per label × T (runs combined, with the summary's fit) and Arrhenius plots. MSDs come from the
    runs' msd.npz; older runs without it are reread from their dumps, and skipped where those were deleted."""
    from lmpflow.trajectory import read_dump

    written = []
    for (label, T), g in runs.groupby(["label", "T_K"], sort=True):
        path = out_dir / f"msd_{safe_label(label)}_{T:g}K.png"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fit warnings were raised once by summarise
            if (label, T) in combined:
                est = combined[(label, T)]
                comb, fit = est["comb"], est["diffusion"]
            else:
                res = _run_msds(g)
                if res is None:
                    dumps = [Path(d) / DUMP_NAME for d in g["run_dir"]]
                    if not all(p.is_file() for p in dumps):
                        continue
                    res = [msd(read_dump(p), "Li", timestep_ps=float(ts)) for p, ts in zip(dumps, g["timestep_ps"])]
                comb = combine_msd(res) if len(res) > 1 else res[0]
                fit = diffusion_coefficient(comb)
            plots.plot_msd(comb, path, fit)
        written.append(str(path))
    for label, (fd, _fs, g) in fits.items():
        if fd is None:
            continue
        path = out_dir / f"arrhenius_{safe_label(label)}.png"  # one model, with its confidence band
        plots.plot_arrhenius(fd, g["T_K"], g["D_mean_cm2_s"], g["D_sem_cm2_s"], path)
        written.append(str(path))
    if any(fd is not None for fd, _, _ in fits.values()):
        written.append(str(plots.plot_arrhenius_comparison(tables, out_dir / "arrhenius.png")))
    return written


def format_results(summary, arrhenius) -> str:
    """Plain-text D(T), σ(T), Ea and 300 K extrapolations of a sweep's tables."""
    out = []
    for label, g in summary.groupby("label", sort=True):
        out.append(f"{label}:")
        out.append(f"  {'T (K)':>7} {'<T> (K)':>7} {'runs':>4}  {'D (cm²/s)':>22}  {'σ_NE (mS/cm)':>20}  "
                   f"{'Haven':>12}  fit (ps), D from")
        for _, r in g.iterrows():
            how = getattr(r, "D_method", "")
            win = (f"{r.fit_window_lo_ps:.2g}-{r.fit_window_hi_ps:.2g}, {how}"
                   if how and np.isfinite(getattr(r, "fit_window_hi_ps", np.nan)) else "")
            out.append(f"  {r.T_K:7.0f} {r.T_mean_K:7.0f} {int(r.n_runs):4d}  {r.D_mean_cm2_s:10.3e} ± "
                       f"{r.D_sem_cm2_s:9.2e}"
                       f"  {r.sigma_mean_mS_cm:9.3g} ± {r.sigma_sem_mS_cm:8.2g}  {r.haven:5.2f} ± {r.haven_err:4.2f}"
                       f"  {win}")
        a = arrhenius[arrhenius["label"] == label]
        if a.empty or not np.isfinite(a["Ea_eV"].iloc[0]):
            out.append("  Arrhenius: needs at least two temperatures with finite errors")
            continue
        a = a.iloc[0]
        out.append(f"  Ea = {a.Ea_eV:.3f} ± {a.Ea_err_eV:.3f} eV (from D(T), {int(a.n_temperatures)} temperatures)")
        out.append(f"  D(300 K) = {a.D300_cm2_s:.3g} cm²/s  [95 %: {a.D300_lo_cm2_s:.3g}, {a.D300_hi_cm2_s:.3g}]")
        out.append(f"  σ(300 K) = {a.sigma300_mS_cm:.3g} mS/cm  [95 %: {a.sigma300_lo_mS_cm:.3g}, "
                   f"{a.sigma300_hi_mS_cm:.3g}]")
    return "\n".join(out)
