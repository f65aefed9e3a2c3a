"""Sweeps over models × T × seeds: process pool, dask, resumption after SIGKILL, tables."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import morse_standin_lines

import lmpflow
from lmpflow.inputs import Potential
from lmpflow.structures import SPECIES
from lmpflow.sweep import SweepError, run_sweep

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


def _result_stats(out: Path) -> dict:
    return {str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in out.glob("runs/**/result.json")}


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
    # The mean over seeds is the mean of the run results.
    g = runs[(runs["label"] == "fast-li") & (runs["T_K"] == 600)]
    assert d["fast-li", 600] == pytest.approx(g["D_cm2_s"].mean(), rel=1e-12)
    assert json.loads(runs["fit_window_ps"].iloc[0])[1] > 0  # list cells are JSON
    assert {Path(p).name for p in res["plots"]} >= {"msd_fast-li_600K.png", "arrhenius_slow-li.png", "arrhenius.png"}
    assert res["failed"] == []

    # A second call finds everything finished and reruns nothing.
    before = _result_stats(out)
    run_sweep(_potentials(), [600, 900], 2, out, cell52, progress=False, plots=False, **SHORT)
    assert _result_stats(out) == before

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
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        t0 = time.monotonic()
        while not list(out.glob("runs/**/result.json")):
            assert proc.poll() is None, f"sweep exited early: {proc.stderr.read().decode()[-2000:]}"
            assert time.monotonic() - t0 < 120, "no run finished within 120 s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = _result_stats(out)
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
    after = _result_stats(out)
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
