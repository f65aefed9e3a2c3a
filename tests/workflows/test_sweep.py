"""Sweeps over models × T × seeds: process pool, dask, resumption after SIGKILL, tables."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import morse_standin_lines
from sweep_runs import kill_after_results, result_stats

import lmpflow
from lmpflow.potentials.potential import Potential
from lmpflow.system.structures import SPECIES
from lmpflow.workflows.sweep import SweepError, run_sweep

SHORT = dict(steps=1000, eq_steps=200, dump_every=20)
SUMMARY_COLS = ["label", "arch", "functional", "T_K", "n_runs", "D_mean_cm2_s", "D_sem_cm2_s", "D_ci_lo_cm2_s",
                "D_ci_hi_cm2_s", "sigma_mean_mS_cm", "sigma_sem_mS_cm", "haven", "haven_err"]
ARRHENIUS_COLS = ["label", "arch", "functional", "Ea_eV", "Ea_err_eV", "prefactor_cm2_s", "D300_cm2_s",
                  "D300_lo_cm2_s", "D300_hi_cm2_s", "sigma300_mS_cm", "sigma300_lo_mS_cm", "sigma300_hi_mS_cm",
                  "n_temperatures"]


def _potentials():
    """Two stand-ins differing only in the Li-anion well depth: deeper wells bind Li more (slower Li)."""
    return [Potential.classical(morse_standin_lines(0.20), SPECIES, label="fast-li"),
            Potential.classical(morse_standin_lines(0.45), SPECIES, label="slow-li")]


def test_sweep_process_pool_tables_and_physics(tmp_path, cell52):
    out = tmp_path / "sweep"
    res = run_sweep(_potentials(), [600, 900], 2, out, cell52, workers=2, progress=False, **SHORT)
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 8 and set(runs["label"]) == {"fast-li", "slow-li"}
    assert sorted(set(runs["seed"])) == [1, 2] and sorted(set(runs["T_K"])) == [600, 900]
    summary = pd.read_csv(out / "summary.csv")
    arr = pd.read_csv(out / "arrhenius.csv")
    assert set(SUMMARY_COLS) <= set(summary.columns)
    assert set(ARRHENIUS_COLS) <= set(arr.columns)
    assert (summary["n_runs"] == 2).all() and len(summary) == 4
    # Physics: D rises with T (positive Ea) and deeper Li wells give slower Li at every T.
    assert (arr["Ea_eV"] > 0).all() and (arr["n_temperatures"] == 2).all()
    d = summary.set_index(["label", "T_K"])["D_mean_cm2_s"]
    for T in (600, 900):
        assert d["slow-li", T] < d["fast-li", T]
    # Intervals bracket the estimates.
    assert ((summary["D_ci_lo_cm2_s"] <= summary["D_mean_cm2_s"]) &
            (summary["D_mean_cm2_s"] <= summary["D_ci_hi_cm2_s"])).all()
    assert ((arr["D300_lo_cm2_s"] < arr["D300_cm2_s"]) & (arr["D300_cm2_s"] < arr["D300_hi_cm2_s"])).all()
    # D comes from the MSD combined over the seeds; the mean of the single-run D values is kept beside it.
    assert (summary["D_method"] == "combined-msd").all()
    g = runs[(runs["label"] == "fast-li") & (runs["T_K"] == 600)]
    runs_mean = summary.set_index(["label", "T_K"])["D_runs_mean_cm2_s"]
    assert runs_mean["fast-li", 600] == pytest.approx(g["D_cm2_s"].mean(), rel=1e-12)
    # Each seed is one error block, so the window reaches past a single run's (half of one of 5 blocks).
    assert (summary["fit_window_hi_ps"] > runs.groupby(["label", "T_K"])["fit_window_ps"].apply(
        lambda w: max(json.loads(x)[1] for x in w)).to_numpy()).all()
    assert json.loads(runs["fit_window_ps"].iloc[0])[1] > 0  # list cells are JSON
    assert {Path(p).name for p in res["plots"]} >= {"msd_fast-li_600K.png", "arrhenius_slow-li.png", "arrhenius.png"}
    assert res["failed"] == []

    # A second call finds everything finished and reruns nothing.
    before = result_stats(out)
    run_sweep(_potentials(), [600, 900], 2, out, cell52, progress=False, plots=False, **SHORT)
    assert result_stats(out) == before

    # Finished runs made with other settings are not silently mixed in.
    with pytest.raises(ValueError, match="finished with other settings"):
        run_sweep(_potentials(), [600, 900], 2, out, cell52, progress=False, **{**SHORT, "steps": 2000})


def test_sweep_on_dask_local_cluster_matches_process_pool(tmp_path, cell52):
    from distributed import Client, LocalCluster

    pots = _potentials()[:1]
    pool = run_sweep(pots, [600, 900], 2, tmp_path / "pool", cell52, workers=2, progress=False, plots=False,
                     **SHORT)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        dask = run_sweep(pots, [600, 900], 2, tmp_path / "dask", cell52, executor=client, progress=False,
                         plots=False, **SHORT)
    a, b = pool["tables"]["runs"], dask["tables"]["runs"]
    assert len(b) == 4
    # Deterministic runs: the executor must not change a single number.
    np.testing.assert_array_equal(a["D_cm2_s"].to_numpy(), b["D_cm2_s"].to_numpy())


def test_failed_runs_are_reported_and_the_rest_tabulated(tmp_path, cell52):
    boom = Potential.classical(["pair_style lj/cut 6.0", "pair_coeff * * 2.0 3.5"], label="boom")
    with pytest.raises(SweepError, match=r"(?s)2 of 4 runs failed.*boom.*blew up"):
        run_sweep([_potentials()[0], boom], [700], 2, tmp_path / "s", cell52, workers=2, progress=False,
                  plots=False, **SHORT)
    runs = pd.read_csv(tmp_path / "s" / "runs.csv")
    assert set(runs["label"]) == {"fast-li"} and len(runs) == 2
    assert (tmp_path / "s" / "runs" / "boom" / "T700K" / "seed1" / "error.txt").is_file()


def test_bad_grids_are_rejected(tmp_path, cell52):
    p = _potentials()[0]
    with pytest.raises(ValueError, match="labels must be unique"):
        run_sweep([p, p], [600], 1, tmp_path, cell52, **SHORT)
    with pytest.raises(ValueError, match="temperatures"):
        run_sweep([p], [600, 600], 1, tmp_path, cell52, **SHORT)
    with pytest.raises(ValueError, match="seeds"):
        run_sweep([p], [600], [1, 1], tmp_path, cell52, **SHORT)


def test_killed_sweep_restarts_without_losing_or_redoing_runs(tmp_path):
    # A real interruption: the sweep (CLI, process pool of 2) is SIGKILLed with its whole process group as
    # soon as one run has finished; the restarted sweep must keep finished runs untouched, redo the rest.
    for name, well in (("fast", 0.20), ("slow", 0.45)):
        (tmp_path / f"{name}.lmp").write_text("\n".join(morse_standin_lines(well)) + "\n")
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "lmpflow", "sweep", str(out), "--potential", f"{tmp_path / 'fast.lmp'}=fast",
           "--potential", f"{tmp_path / 'slow.lmp'}=slow", "--T", "600", "900", "--seeds", "2",
           "--steps", "4000", "--eq-steps", "200", "--dump-every", "40", "--workers", "2"]
    env = dict(os.environ, PYTHONPATH=str(Path(lmpflow.__file__).parents[1]))
    kill_after_results(cmd, env, out, 1)
    finished = result_stats(out)
    assert 1 <= len(finished) < 8, "the kill must leave unfinished runs for this test to mean anything"
    # Plant a half-written run (as an interrupted worker leaves it): it must be wiped, not counted.
    half = out / "runs" / "slow" / "T900K" / "seed2"
    if not (half / "result.json").exists():
        half.mkdir(parents=True, exist_ok=True)
        (half / "dump.lammpstrj").write_text("ITEM: TIMESTEP\n0\n")
    for f in finished:  # nothing finished was lost by the kill
        assert json.loads((out / f).read_text())["steps"] == 4000
    assert not (out / "runs.csv").exists() or len(pd.read_csv(out / "runs.csv")) <= len(finished)

    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    after = result_stats(out)
    assert len(after) == 8
    for k, stat in finished.items():  # finished runs were neither redone nor rewritten
        assert after[k] == stat, f"{k} was rerun"
    assert f"{len(finished)} already finished" in r.stderr
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 8 and runs["D_cm2_s"].gt(0).all()
    assert len(pd.read_csv(out / "summary.csv")) == 4 and len(pd.read_csv(out / "arrhenius.csv")) == 2
    # The planted half-run was redone from scratch into a complete one.
    assert json.loads((half / "result.json").read_text())["steps"] == 4000
    assert (half / "dump.lammpstrj").read_text().count("ITEM: TIMESTEP") == 101


# --------------------------------------------------------------------------------------------------- #
# Combined-MSD estimate per label × T, on synthetic random-walk runs
# --------------------------------------------------------------------------------------------------- #

RW_DT_PS, RW_FRAMES, RW_N_LI, RW_N_FW = 0.02, 301, 24, 8  # 6 ps runs, the demo's length and frame spacing
RW_D_A2_PS = 0.5  # true Li tracer D, Å²/ps (5e-5 cm²/s)
RW_BOX = 12.0


def _rw_positions(rng, cage_A2: float = 0.1, d_A2_ps: float = RW_D_A2_PS, frames: int = RW_FRAMES):
    """Li random walks (per-axis variance 2·D·dt a frame) plus an uncorrelated 'vibration' of variance
    cage_A2 per axis: MSD = 6Dt + 6·cage_A2, whose local exponent is t/(t + cage_A2/D), i.e. far from 1
    at a single 6 ps run's 0.6 ps window but close to 1 at 1–3 ps. Framework atoms only vibrate."""
    steps = rng.normal(0.0, np.sqrt(2 * d_A2_ps * RW_DT_PS), (frames, RW_N_LI, 3))
    steps[0] = 0.0
    li = rng.uniform(0, RW_BOX, (RW_N_LI, 3)) + np.cumsum(steps, axis=0)
    li += rng.normal(0.0, np.sqrt(cage_A2), li.shape)
    fw = rng.uniform(0, RW_BOX, (RW_N_FW, 3)) + rng.normal(0.0, 0.03, (frames, RW_N_FW, 3))
    return np.concatenate([li, fw], axis=1)


_RW_ELEMENTS = ["Li"] * RW_N_LI + ["S"] * RW_N_FW


def _rw_trajectory(rng, **kw):
    from lmpflow.trajectory import Trajectory

    pos = _rw_positions(rng, **kw)
    n = pos.shape[0]
    return Trajectory(positions=pos, cells=np.broadcast_to(np.eye(3) * RW_BOX, (n, 3, 3)).copy(),
                      origins=np.zeros((n, 3)), timesteps=np.arange(n) * 10,
                      ids=np.arange(1, pos.shape[1] + 1), elements=np.array(_RW_ELEMENTS))


def _write_rw_run(run_dir: Path, rng, label: str, T_K: float, seed: int, *, keep_msd: bool = True, **kw):
    """A finished run directory as run.analyse_run leaves it: dump, msd.npz, result.json."""
    from lmpflow.trajectory import write_dump
    from lmpflow.workflows.single_run import MSD_NPZ_NAME, analyse_dump, save_msd

    run_dir.mkdir(parents=True)
    pos = _rw_positions(rng, **kw)
    write_dump(run_dir / "dump.lammpstrj", pos, np.eye(3) * RW_BOX, elements=_RW_ELEMENTS,
               timesteps=np.arange(pos.shape[0]) * 10)
    rec, res = analyse_dump(run_dir / "dump.lammpstrj", 0.002, T_K)
    if keep_msd:
        save_msd(run_dir / MSD_NPZ_NAME, res)
    rec.update(model="synthetic", label=label, arch="rw", functional="none", T_K=T_K, seed=seed,
               n_atoms=pos.shape[1], n_li=RW_N_LI, timestep_ps=0.002, steps=3000, dump_every=10,
               T_mean_K=T_K, wall_s=0.0)
    (run_dir / "result.json").write_text(json.dumps(rec))
    return rec


def test_msd_npz_round_trip(tmp_path):
    from lmpflow.analysis import msd
    from lmpflow.workflows.single_run import load_msd, save_msd

    res = msd(_rw_trajectory(np.random.default_rng(0)), "Li", dt_ps=RW_DT_PS)
    back = load_msd(save_msd(tmp_path / "msd.npz", res))
    for k in ("t_ps", "msd_A2", "charge_msd_A2", "block_msd_A2", "block_charge_msd_A2"):
        np.testing.assert_array_equal(getattr(back, k), getattr(res, k))
    assert (back.species, back.n_frames, back.block_length_frames, back.independent_blocks) == \
        ("Li", res.n_frames, res.block_length_frames, False)
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(ValueError, match="not an lmpflow MSD file"):
        load_msd(tmp_path / "other.npz")


def test_summary_uses_msd_combined_over_seeds(tmp_path):
    from lmpflow.workflows.tables import analyse_sweep

    rng = np.random.default_rng(11)
    recs = [_write_rw_run(tmp_path / "runs" / "rw" / "T700K" / f"seed{s}", rng, "rw", 700.0, s)
            for s in range(1, 5)]
    # Every single 6 ps run is too short for its own (0.6 ps) window to be diffusive ...
    assert all(any("no diffusive regime" in w for w in r["analysis_warnings"]) for r in recs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ... but the combined MSD is: no warning at all
        out = analyse_sweep(tmp_path, plots=False)
    row = out["tables"]["summary"].iloc[0]
    assert row["D_method"] == "combined-msd" and row["n_runs"] == 4 and bool(row["diffusive"])
    assert row["fit_window_hi_ps"] == pytest.approx(3.0)  # half a run
    assert row["fit_window_lo_ps"] > max(r["fit_window_ps"][1] for r in recs)  # past the single-run window
    d_true = RW_D_A2_PS * 1e-4
    assert abs(row["D_mean_cm2_s"] - d_true) < 4 * row["D_sem_cm2_s"]
    assert row["D_ci_lo_cm2_s"] < row["D_mean_cm2_s"] < row["D_ci_hi_cm2_s"]
    assert pd.read_csv(tmp_path / "summary.csv")["D_method"].iloc[0] == "combined-msd"


def test_combined_error_matches_the_spread_of_independent_runs():
    # 40 independent 4-seed groups of random-walk runs: the reported standard error of the combined D
    # must match both the actual scatter of the combined D between groups and the spread of the per-run
    # D values (over the same window) divided by √4.
    from lmpflow.analysis import msd
    from lmpflow.workflows.tables import _combined_fit

    rng = np.random.default_rng(5)
    n_groups, n_seeds = 40, 4
    D, sem, per_run_spread = [], [], []
    for _ in range(n_groups):
        msds = [msd(_rw_trajectory(rng), "Li", dt_ps=RW_DT_PS) for _ in range(n_seeds)]
        est = _combined_fit(msds, 700.0)  # (β of 4 short runs is noisy: some windows fall back, fine here)
        D.append(est["D"][0])
        sem.append(est["D"][1])
        per_run_spread.append(est["diffusion"].block_D_cm2_s.std(ddof=1) / np.sqrt(n_seeds))
    D, sem = np.array(D), np.array(sem)
    np.testing.assert_allclose(sem, per_run_spread, rtol=1e-10)
    scatter = D.std(ddof=1)
    rms_sem = np.sqrt(np.mean(sem ** 2))
    # Each side is a variance estimate from ~40–120 degrees of freedom: ±35 % is ~3σ.
    assert 0.65 < rms_sem / scatter < 1.5, (rms_sem, scatter)
    # Unbiased: the mean over groups lies within 3 standard errors of the true D.
    assert abs(D.mean() - RW_D_A2_PS * 1e-4) < 3 * scatter / np.sqrt(n_groups)


def test_per_run_mean_fallback_and_one_warning_per_label_and_T(tmp_path):
    from lmpflow.workflows.tables import analyse_sweep

    rng = np.random.default_rng(3)
    runs = tmp_path / "runs"
    _write_rw_run(runs / "one" / "T700K" / "seed1", rng, "one-seed", 700.0, 1)  # single seed
    for s in (1, 2):  # older runs without msd.npz
        _write_rw_run(runs / "old" / "T700K" / f"seed{s}", rng, "no-npz", 700.0, s, keep_msd=False)
    for T in (600.0, 700.0):  # caged: not diffusive even over 3 ps (β ≈ t/(t + 10 ps))
        for s in (1, 2, 3):
            _write_rw_run(runs / "caged" / f"T{T:g}K" / f"seed{s}", rng, "caged", T, s, cage_A2=0.5,
                          d_A2_ps=0.05)
    with pytest.warns(UserWarning) as record:
        out = analyse_sweep(tmp_path, plots=False)
    combined_warnings = [str(w.message) for w in record if "no diffusive regime" in str(w.message)]
    assert len(combined_warnings) == 2, combined_warnings  # once per (label, T), not per run
    assert all(m.startswith("caged at ") and "combined over 3 runs" in m for m in combined_warnings)
    s = out["tables"]["summary"].set_index("label")
    assert set(s.loc["caged", "D_method"]) == {"combined-msd"} and not s.loc["caged", "diffusive"].any()
    for label, n in (("one-seed", 1), ("no-npz", 2)):
        row = s.loc[label]
        g = out["tables"]["runs"].query("label == @label")
        assert row["D_method"] == "per-run-mean" and row["n_runs"] == n
        assert row["D_mean_cm2_s"] == pytest.approx(g["D_cm2_s"].mean(), rel=1e-12)
        assert row["D_mean_cm2_s"] == row["D_runs_mean_cm2_s"]
    assert s.loc["one-seed", "D_sem_cm2_s"] == pytest.approx(
        out["tables"]["runs"].query("label == 'one-seed'")["D_err_cm2_s"].iloc[0])
