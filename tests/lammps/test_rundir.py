"""Data files, run directories and the in.liPSCl script, checked by LAMMPS itself."""
from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers

from lmpflow._host import executable
from lmpflow.lammps.rundir import RunSettings, input_script_path, read_run_vars, write_data, write_run_inputs
from lmpflow.lammps.runtime import lammps_class
from lmpflow.lammps.session import lammps_cell
from lmpflow.potentials.potential import Potential
from lmpflow.system.structures import SPECIES


def _lammps_read(path: Path, ntypes_species) -> dict:
    """Read a data file with LAMMPS: box matrix, types and positions by id, masses per type."""
    lmp = lammps_class()(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    try:
        lmp.commands_string(f"units metal\natom_style atomic\nboundary p p p\nread_data {path}")
        boxlo, boxhi, xy, yz, xz, _, _ = lmp.extract_box()
        n = lmp.get_natoms()
        ids = np.array(lmp.numpy.extract_atom("id")[:n])
        order = np.argsort(ids)
        x = np.array(lmp.numpy.extract_atom("x")[:n])[order]
        types = np.array(lmp.numpy.extract_atom("type")[:n])[order]
        masses = np.array(lmp.numpy.extract_atom("mass")[1:len(ntypes_species) + 1])
        lo, hi = np.array(boxlo), np.array(boxhi)
        h = np.array([[hi[0] - lo[0], 0, 0], [xy, hi[1] - lo[1], 0], [xz, yz, hi[2] - lo[2]]])
        return {"h": h, "lo": lo, "x": x, "types": types, "masses": masses, "ntypes": lmp.extract_global("ntypes")}
    finally:
        lmp.close()


def _frac(x, lo, h):
    f = (x - lo) @ np.linalg.inv(h)
    return f - np.floor(f)


def _same_frac(a, b, tol=1e-9):
    d = a - b
    d -= np.round(d)
    return np.abs(d).max() < tol


def test_data_round_trip_orthorhombic(tmp_path, cell52):
    path = write_data(cell52, tmp_path / "data.lmp")
    got = _lammps_read(path, SPECIES)
    np.testing.assert_allclose(got["h"], np.diag([9.85] * 3), atol=1e-10)
    expected_types = [SPECIES.index(s) + 1 for s in cell52.get_chemical_symbols()]
    assert got["types"].tolist() == expected_types
    assert got["ntypes"] == 4
    np.testing.assert_allclose(got["masses"], [atomic_masses[atomic_numbers[s]] for s in SPECIES], rtol=1e-6)
    assert _same_frac(_frac(got["x"], got["lo"], got["h"]), cell52.get_scaled_positions())


def test_data_round_trip_triclinic_keeps_lattice_and_fractions(tmp_path):
    # A general (rotated, skewed, right-handed) cell: LAMMPS must see the same lattice (lengths/angles) and
    # the same fractional coordinates after write_data's rotation to the restricted form.
    rng = np.random.default_rng(3)
    cell = np.array([[7.0, 0.4, -0.3], [1.9, 6.5, 0.2], [-1.1, 1.3, 8.2]])
    rot, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rot *= np.sign(np.linalg.det(rot))
    cell = cell @ rot.T
    symbols = ["Li"] * 5 + ["P", "S", "S", "Cl"]
    frac = rng.random((len(symbols), 3)) * 1.4 - 0.2  # some outside [0, 1): write_data wraps them
    atoms = Atoms(symbols, scaled_positions=frac, cell=cell, pbc=True)
    got = _lammps_read(write_data(atoms, tmp_path / "tri.lmp"), SPECIES)
    gram = lambda m: m @ m.T  # noqa: E731  (rotation-invariant: lengths and angles)
    np.testing.assert_allclose(gram(got["h"]), gram(cell), atol=1e-9)
    assert _same_frac(_frac(got["x"], got["lo"], got["h"]), frac)
    assert got["types"].tolist() == [SPECIES.index(s) + 1 for s in symbols]


def test_lammps_cell_rejects_left_handed():
    with pytest.raises(ValueError, match="right-handed"):
        lammps_cell(np.diag([5.0, 5.0, -5.0]))


def test_types_follow_the_potential_species_order(tmp_path, cell52):
    # A model listing Cl first must get Cl as type 1: types are the model's, not a fixed table.
    order = ("Cl", "Li", "P", "S")
    got = _lammps_read(write_data(cell52, tmp_path / "d.lmp", species=order), order)
    assert got["types"].tolist() == [order.index(s) + 1 for s in cell52.get_chemical_symbols()]
    np.testing.assert_allclose(got["masses"][0], atomic_masses[atomic_numbers["Cl"]], rtol=1e-6)


def test_species_missing_from_potential_is_a_clear_error(tmp_path, cell52, standin):
    atoms = cell52.copy()
    atoms[0].symbol = "Na"
    with pytest.raises(ValueError, match=r"contains \['Na'\].*only knows.*model trained"):
        write_run_inputs(tmp_path / "r", atoms, potential=standin, steps=400, dump_every=10)
    lips = Potential.classical(standin.pair_lines, ("Li", "P", "S"), label="no-cl")
    with pytest.raises(ValueError, match=r"contains \['Cl'\]"):
        write_run_inputs(tmp_path / "r", cell52, potential=lips, steps=400, dump_every=10)


@pytest.mark.parametrize("kw, msg", [
    ({"steps": 1000, "dump_every": 30}, "not a multiple of dump_every"),
    ({"steps": 390, "dump_every": 10}, "at least 40 dumped frames"),
    ({"timestep_ps": 0.01}, "at most 0.005 ps"),
    ({"T_K": -5}, "temperature"),
    ({"seed": 0}, "seeds must be integers"),
    ({"eq_steps": -1}, "non-negative"),
])
def test_settings_validation(kw, msg):
    with pytest.raises(ValueError, match=msg):
        RunSettings(**{"steps": 1000, "dump_every": 10, **kw}).validated()


def test_run_dir_contents_and_record(tmp_path, cell52, standin):
    rec = write_run_inputs(tmp_path / "run", cell52, potential=standin, T_K=700, seed=5, steps=800,
                           eq_steps=100, dump_every=20)
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"data.lmp", "in.liPSCl", "potential.lmp", "run_vars.json"} <= names
    assert (tmp_path / "run" / "in.liPSCl").read_text() == input_script_path().read_text()
    assert read_run_vars(tmp_path / "run") == rec
    v = rec["variables"]
    assert (v["T"], v["seed"], v["steps"], v["dump_every"], v["species"]) == ("700", "5", "800", "20", "Li P S Cl")
    assert rec["n_li"] == 24 and rec["n_atoms"] == 52
    assert rec["settings"]["thermo_every"] == 20  # ~100 thermo lines, on dumped frames
    with pytest.raises(FileNotFoundError, match="not an lmpflow run directory"):
        read_run_vars(tmp_path)


def _run_lmp(run_dir: Path, *var_args: str) -> subprocess.CompletedProcess:
    return subprocess.run([executable("lmp"), "-in", "in.liPSCl", *var_args], cwd=run_dir, capture_output=True,
                          text=True, timeout=120)


def test_script_runs_as_in_readme_and_dumps_ovito_columns(tmp_path, cell52, standin_file):
    # The README usage: a data file plus `lmp -in in.liPSCl -var NAME VALUE ...`, here with the
    # classical include in place of the model.
    write_data(cell52, tmp_path / "data.lmp")
    (tmp_path / "in.liPSCl").write_text(input_script_path().read_text())
    r = _run_lmp(tmp_path, "-var", "potential", str(standin_file), "-var", "T", "600", "-var", "seed", "11",
                 "-var", "eq_steps", "1000", "-var", "steps", "3000", "-var", "dump_every", "100",
                 "-var", "thermo_every", "50")
    assert r.returncode == 0, r.stdout[-2000:]
    lines = (tmp_path / "dump.lammpstrj").read_text().splitlines()
    assert lines[1] == "0"  # production starts at step 0 after equilibration
    assert lines[8].split() == ["ITEM:", "ATOMS", "id", "element", "xu", "yu", "zu"]
    atoms = [ln.split() for ln in lines[9:9 + 52]]
    assert [int(a[0]) for a in atoms] == list(range(1, 53))  # sort id
    assert [a[1] for a in atoms] == cell52.get_chemical_symbols()
    assert sum(ln == "ITEM: TIMESTEP" for ln in lines) == 31
    from lmpflow.lammps.run import read_thermo

    th = read_thermo(tmp_path / "log.lammps")
    assert th["Step"].iloc[-1] == 3000
    # NVT: the mean production temperature is the target (52 atoms: instantaneous T fluctuates ~11 %).
    assert abs(th["Temp"].mean() - 600) < 0.05 * 600


def test_script_without_potential_stops_with_a_clear_message(tmp_path, cell52):
    write_data(cell52, tmp_path / "data.lmp")
    (tmp_path / "in.liPSCl").write_text(input_script_path().read_text())
    r = _run_lmp(tmp_path, "-var", "model", str(tmp_path / "missing.nequip.pt2"))
    assert r.returncode != 0
    assert "ERROR: no potential: give -var model FILE" in r.stdout


def _fake_compiled_model(path: Path, type_names: str, inputs: str) -> Path:
    """A zip with the metadata layout of an AOTInductor package (enough for model_info; not runnable)."""
    meta = {"type_names": type_names, "r_max": "5.0", "num_types": str(len(type_names.split())),
            "model_dtype": "float64", "nequip_aoti_inputs": inputs,
            "nequip_aoti_outputs": "atomic_energy forces virial"}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("m/data/aotinductor/model/abc_wrapper_metadata.json", json.dumps(meta))
    return path


@pytest.mark.slow
def test_model_branch_builds_the_plugin_pair_lines(tmp_path, cell52):
    model = _fake_compiled_model(tmp_path / "m.nequip.pt2", "Li P S Cl",
                                 "pos edge_index atom_types cell edge_cell_shift")
    rec = write_run_inputs(tmp_path / "run", cell52, model=model, steps=400, dump_every=10, eq_steps=0)
    pot = rec["potential"]
    assert (pot["pair_style"], pot["arch"], pot["r_max_A"]) == ("lmpflow/nequip", "nequip", 5.0)
    assert rec["variables"]["model"] == str(model.resolve()) and rec["variables"]["arch"] == "nequip"
    assert rec["variables"]["core"] == "none"  # not a shipped model: no ZBL core unless asked for
    assert not (tmp_path / "run" / "potential.lmp").exists()
    # The fake model cannot run: LAMMPS must take the model branch and stop either on the pair style
    # (plugin not installed) or, with the plugin, on loading this file in pair_coeff.
    # (tests/test_run.py runs real models through the same script when the plugin is built.)
    r = _run_lmp(tmp_path / "run", "-var", "model", str(model), "-var", "arch", "nequip",
                 "-var", "steps", "400", "-var", "dump_every", "10", "-var", "potential", "none")
    assert r.returncode != 0
    if "Unrecognized pair style 'lmpflow/nequip'" not in r.stdout:  # by hand the ZBL core is on (hybrid/overlay)
        assert "Last input line: pair_coeff * * lmpflow/${arch} ${model} ${species}" in r.stdout, r.stdout[-1500:]


@pytest.mark.slow
def test_model_species_checked_against_structure(tmp_path, cell52):
    model = _fake_compiled_model(tmp_path / "lps.nequip.pt2", "Li P S", "pos edge_index atom_types")
    pot = Potential.from_model(model)
    assert pot.arch == "allegro" and pot.species == ("Li", "P", "S")
    assert pot.lammps_pair_lines() == ["pair_style lmpflow/allegro", f"pair_coeff * * {model.resolve()} Li P S"]
    with pytest.raises(ValueError, match=r"contains \['Cl'\] but potential 'lps' only knows"):
        write_run_inputs(tmp_path / "run", cell52, model=model, steps=400, dump_every=10)
