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
