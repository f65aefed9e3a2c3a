"""The `lmpflow` command line, run as users run it (a subprocess of `python -m lmpflow`)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from ase.io import read

import lmpflow
from lmpflow.cli import build_parser, main

ENV = dict(os.environ, PYTHONPATH=str(Path(lmpflow.__file__).parents[1]))


def lmpflow_cli(*args, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lmpflow", *map(str, args)], env=ENV, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def test_help_of_every_subcommand_states_units_and_defaults(capsys):
    commands = build_parser()._subparsers._group_actions[0].choices
    assert set(commands) >= {"structure", "input", "info", "run", "sweep", "analyze", "report", "demo", "render",
                             "neb", "compare"}
    for name in commands:
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
        text = capsys.readouterr().out
        assert "Units: Å, ps, eV, K" in text, name
    r = lmpflow_cli("--help")
    assert r.returncode == 0 and "sweep" in r.stdout and "demo" in r.stdout


def test_input_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["input", "--help"])
    text = capsys.readouterr().out
    assert "timestep, ps (default: 0.002)" in text and "temperature, K (default: 600.0)" in text


def test_structure_command_writes_readable_files(tmp_path):
    r = lmpflow_cli("structure", tmp_path / "cell.xyz", "--supercell", "2", "1", "1")
    assert r.returncode == 0, r.stderr
    atoms = read(tmp_path / "cell.xyz")
    assert len(atoms) == 104 and atoms.cell.lengths()[0] == pytest.approx(19.7)
    r = lmpflow_cli("structure", tmp_path / "data.lmp")
    assert r.returncode == 0 and "52 atoms" in r.stdout
    assert "4 atom types" in (tmp_path / "data.lmp").read_text()


def test_input_run_analyze_round_trip(tmp_path, standin_file):
    rd = tmp_path / "run"
    r = lmpflow_cli("input", rd, "--potential", standin_file, "--T", 750, "--seed", 4, "--steps", 1000,
                    "--eq-steps", 200, "--dump-every", 20)
    assert r.returncode == 0, r.stderr
    assert "lmp -in in.liPSCl" in r.stdout and "-var T 750" in r.stdout
    r = lmpflow_cli("run", rd, "--mode", "lmp", "--no-progress")
    assert r.returncode == 0, r.stderr
    res = json.loads((rd / "result.json").read_text())
    assert (res["T_K"], res["seed"], res["mode"]) == (750.0, 4, "lmp")
    assert f"D = {res['D_cm2_s']:.3e}" in r.stdout
    # A bare dump analysed with the same timestep gives the same D.
    r = lmpflow_cli("analyze", rd / "dump.lammpstrj", "--T", 750, "--timestep-ps", 0.002)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["D_cm2_s"] == res["D_cm2_s"]
    r = lmpflow_cli("analyze", rd)
    assert r.returncode == 0 and f"D = {res['D_cm2_s']:.3e}" in r.stdout


def test_info_prints_the_script_variables(standin_file):
    r = lmpflow_cli("info", "--potential", f"{standin_file}=morse")
    assert r.returncode == 0, r.stderr
    assert "morse: classical potential, species (LAMMPS type order) Li P S Cl" in r.stdout
    assert "pair_style morse 6.0" in r.stdout
    assert f"lmp -in in.liPSCl -var species 'Li P S Cl' -var potential {standin_file}" in r.stdout


def test_info_lists_the_shipped_models():
    r = lmpflow_cli("info")
    assert r.returncode == 0, r.stderr
    for label, style in (("nequip-chgnet-pbe", "lmpflow/nequip"), ("allegro-chgnet-pbe", "lmpflow/allegro"),
                         ("mace-chgnet-pbe", "lmpflow/mace"), ("mace-chgnet-r2scan", "lmpflow/mace")):
        line = next(ln for ln in r.stdout.splitlines() if ln.startswith(label + " "))
        assert style in line and "meV/Å" in line, line
    default = next(ln for ln in r.stdout.splitlines() if ln.startswith("nequip-chgnet-pbe "))
    assert "(default)" in default
    checks = lmpflow.find_model("nequip-chgnet-pbe").metadata["fidelity"]["checks"].values()
    passed = sum(c["passed"] for c in checks)
    assert ("yes" if passed == len(checks) else f"no ({passed}/{len(checks)})") in default


@pytest.mark.slow
def test_info_shows_the_zbl_core_of_a_shipped_model_and_no_core_removes_it():
    from lmpflow.potentials import registry

    package = next(s.path for s in registry.shipped_models(test=True) if s.label == "allegro-float64-test")
    r = lmpflow_cli("info", "--model", package)
    assert r.returncode == 0, r.stderr
    assert "pair_style hybrid/overlay lmpflow/allegro zbl 1 1.5" in r.stdout and "-var core zbl" in r.stdout
    r = lmpflow_cli("info", "--model", package, "--no-core")
    assert r.returncode == 0, r.stderr
    assert "pair_style lmpflow/allegro" in r.stdout and "hybrid" not in r.stdout and "-var core none" in r.stdout


def _metadata_only_pt2(path: Path, inputs: str, **extra) -> Path:
    import zipfile

    meta = {"type_names": "Li P S Cl", "num_types": "4", "r_max": "5.0", "model_dtype": "float32",
            "nequip_aoti_inputs": inputs, "nequip_aoti_outputs": "atomic_energy forces virial", **extra}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("m/data/aotinductor/model/x_wrapper_metadata.json", json.dumps(meta))
    return path


def test_info_says_which_mpi_ranks_a_model_runs_on(tmp_path):
    periodic = "pos edge_index atom_types cell edge_cell_shift"
    any_ranks = _metadata_only_pt2(tmp_path / "a.nequip.pt2", periodic + " lmpflow_owned_mask",
                                   lmpflow_layouts="periodic deep_ghost", lmpflow_num_layers="3")
    r = lmpflow_cli("info", "--model", any_ranks)
    assert r.returncode == 0, r.stderr
    assert "MPI ranks: any (periodic graph on one rank, deep_ghost graph on more: 3 message-passing layers, " \
           "ghost atoms out to 15 Å + skin)" in r.stdout
    r = lmpflow_cli("info", "--model", _metadata_only_pt2(tmp_path / "p.nequip.pt2", periodic))
    assert r.returncode == 0 and "MPI ranks: 1 only" in r.stdout and "`lmpflow compile`" in r.stdout


def test_errors_are_one_clear_line(tmp_path):
    r = lmpflow_cli("input", tmp_path / "x")
    assert r.returncode == 1
    assert r.stderr.strip() == ("lmpflow input: error: give --model MODEL (an ML model) or --potential FILE "
                                "(classical pair lines)")
    r = lmpflow_cli("analyze", tmp_path / "nothing-here")
    assert r.returncode == 1 and "not a dump file, run directory or sweep directory" in r.stderr


def test_tiny_demo_prints_arrhenius_results(tmp_path, standin_file):
    out = tmp_path / "demo"
    r = lmpflow_cli("demo", "--potential", f"{standin_file}=standin", "--out-dir", out, "--T", 600, 900,
                    "--seeds", 2, "--production-ps", 2, "--eq-ps", 0.2, "--frame-ps", 0.04, "--workers", 2)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Ea = " in r.stdout and "σ(300 K) = " in r.stdout and "D(300 K) = " in r.stdout
    arr = pd.read_csv(out / "arrhenius.csv")
    assert arr["label"].tolist() == ["standin"] and arr["Ea_eV"].iloc[0] > 0
    assert (out / "arrhenius.png").is_file() and (out / "msd_standin_900K.png").is_file()
    # The sweep directory can be re-analysed by the CLI and reported on.
    r = lmpflow_cli("analyze", out, "--no-plots")
    assert r.returncode == 0 and "Ea = " in r.stdout
    r = lmpflow_cli("report", out, "--out", tmp_path / "report")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "standin" in (tmp_path / "report" / "report.md").read_text()


def test_sweep_target_err_adds_trajectories_until_the_error(tmp_path, standin_file):
    out = tmp_path / "sweep"
    r = lmpflow_cli("sweep", out, "--potential", f"{standin_file}=standin", "--T", 900, "--target-err", "20%",
                    "--min-seeds", 3, "--max-seeds", 5, "--batch", 1, "--steps", 1000, "--eq-steps", 200,
                    "--dump-every", 20, "--workers", 2, "--no-plots")
    assert r.returncode == 0, r.stderr[-3000:]
    row = pd.read_csv(out / "adaptive.csv").iloc[0]
    n = int(row["n_seeds"])
    assert 3 <= n <= 5 and row["target_rel_err"] == 0.2
    assert (row["status"] == "target reached" and row["rel_err_bound"] <= 0.2) or \
        (row["status"] == "max_seeds reached" and n == 5)
    assert "trajectories per point (adaptive):" in r.stdout
    assert f"standin 900 K: {n} trajectories, relative error of D {row['rel_err']:.2%} (target 20.00%)" in r.stdout
    assert len(pd.read_csv(out / "runs.csv")) == n and "adaptive.csv" in r.stdout
    assert "target relative error of D 20 %" in r.stderr and "MD steps/s" in r.stderr


def test_sweep_target_err_errors_are_clear(tmp_path, standin_file):
    base = ["sweep", tmp_path / "s", "--potential", standin_file, "--T", 900]
    r = lmpflow_cli(*base, "--target-err", "150%")
    assert r.returncode == 2 and "'150%' is not a relative error in (0, 100 %): give e.g. 1% or 0.01" in r.stderr
    r = lmpflow_cli(*base, "--target-err", "1%", "--seeds", 4)
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert "give one of them (bound an adaptive sweep with --min-seeds/--max-seeds)" in r.stderr
    r = lmpflow_cli(*base, "--target-err", "0.05", "--min-seeds", 2)
    assert r.returncode == 1 and "min_seeds=2 must be an integer ≥ 3" in r.stderr


def test_model_arguments_take_a_label_and_factor_labels():
    from lmpflow.cli import _split_model_arg

    assert _split_model_arg("nequip-chgnet-pbe=arch:NequIP,xc:PBE") == (
        "nequip-chgnet-pbe", None, {"arch": "NequIP", "xc": "PBE"})
    assert _split_model_arg("m.nequip.pt2=mine, xc:HSE06") == ("m.nequip.pt2", "mine", {"xc": "HSE06"})
    assert _split_model_arg("pot.lmp=morse") == ("pot.lmp", "morse", {})
    with pytest.raises(ValueError, match="two labels"):
        _split_model_arg("m=a,b")
    with pytest.raises(ValueError, match="NAME:LEVEL"):
        _split_model_arg("m=arch:")


def test_compare_with_factor_labels_reports_main_effects(tmp_path):
    from conftest import morse_standin_lines

    args = []
    # a 2 × 2 grid less one cell, like the shipped NequIP-PBE, NequIP-r2SCAN, Allegro-PBE
    for name, well, factors in (("m1-a", 0.20, "arch:M1,xc:A"), ("m1-b", 0.30, "arch:M1,xc:B"),
                                ("m2-a", 0.22, "arch:M2,xc:A")):
        f = tmp_path / f"{name}.lmp"
        f.write_text("\n".join(morse_standin_lines(well)) + "\n")
        args += ["--potential", f"{f}={name},{factors}"]
    out = tmp_path / "cmp"
    r = lmpflow_cli("compare", *args, "--T", 700, 1000, "--seeds", 2, "--steps", 1000, "--eq-steps", 200,
                    "--dump-every", 20, "--workers", 2, "--hops", "--frames", 0, "--out-dir", out, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "report.html" in r.stdout
    fac = pd.read_csv(out / "factors.csv").set_index("model")
    assert fac.loc["m1-b", "xc"] == "B" and fac.loc["m2-a", "arch"] == "M2"
    eff = pd.read_csv(out / "factorial_effects.csv")
    ea = eff[eff["quantity"] == "Ea_eV"].set_index("factor")
    arr = pd.read_csv(out / "sweep" / "arrhenius.csv").set_index("label")["Ea_eV"]
    assert ea.loc["xc", "effect"] == pytest.approx(abs(arr["m1-b"] - arr["m1-a"]))  # at fixed arch M1
    assert ea.loc["arch", "effect"] == pytest.approx(abs(arr["m2-a"] - arr["m1-a"]))  # at fixed xc A
    ratios = pd.read_csv(out / "factorial_ratios.csv")
    assert set(ratios["numerator"]) == {"arch"} and set(ratios["denominator"]) == {"xc"}
    md = (out / "report.md").read_text()
    assert "arch effect / xc effect = " in md and "Trajectories per point" in md
    assert "src='data:image/png;base64," in (out / "report.html").read_text()


def test_validate_against_reference_frames(tmp_path, standin_file):
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write
    from conftest import morse_standin_lines

    from lmpflow.lammps.calculator import LammpsCalculator
    from lmpflow.workflows.validate import validation_structures

    calc = LammpsCalculator(morse_standin_lines())
    frames, shifted = [], []
    for atoms in validation_structures()[:4]:
        atoms.calc = calc
        e, f = atoms.get_potential_energy(), atoms.get_forces()
        frames.append(atoms.copy())
        frames[-1].calc = SinglePointCalculator(frames[-1], energy=e, forces=f)
        shifted.append(atoms.copy())
        shifted[-1].calc = SinglePointCalculator(shifted[-1], energy=e, forces=f + 0.2)
    write(tmp_path / "same.extxyz", frames)
    write(tmp_path / "off.extxyz", shifted)
    r = lmpflow_cli("validate", "--potential", standin_file, "--reference", tmp_path / "same.extxyz",
                    "--out-dir", tmp_path / "v")
    assert r.returncode == 0, r.stderr
    assert "ok   force MAE" in r.stdout and "faithful" in r.stdout
    assert (tmp_path / "v" / "validation.html").is_file()
    r = lmpflow_cli("validate", "--potential", standin_file, "--reference", tmp_path / "off.extxyz",
                    "--out-dir", tmp_path / "w")
    assert r.returncode == 3 and "FAIL force MAE, meV/Å: 200" in r.stdout and "NOT faithful" in r.stdout
    r = lmpflow_cli("validate", "--potential", standin_file, "--reference", "nonsense")
    assert r.returncode == 1 and "neither an ASE calculator, a label source" in r.stderr
    r = lmpflow_cli("neb", "--potential", standin_file, "--reference", "nonsense", "--out-dir", tmp_path / "n")
    assert r.returncode == 1 and "neither an ASE calculator nor a label source" in r.stderr
