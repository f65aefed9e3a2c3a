"""NequIP on several MPI ranks: the deep_ghost graph of `pair_style lmpflow/nequip`, with real `mpirun`.

A model compiled for lmpflow's target (`lmpflow_nequip`) runs the periodic graph on one rank and the masked
deep-ghost graph on more; both give the same energy, forces, virial and per-atom energy as nequip's ASE
calculator, for any rank count and domain shape, down to cells smaller than the ghost shell and domains
thinner than the cutoff.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from cells import rattled_cell
from mpi_runs import EV_A3_TO_BAR, assert_same, rel, run_lammps

from lmpflow.lammps.runtime import plugin_path
from lmpflow.potentials import nequip as nequip_files
from lmpflow.potentials import registry

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(plugin_path() is None and not os.environ.get("CI"), reason="lmpflow plugin not built")]


def _package(label: str) -> Path:
    return registry.find_model(label, test=label.endswith("-test")).path


@pytest.fixture(scope="module")
def nequip64():
    pkg = _package("nequip-float64-test")
    return {"package": pkg, "pt2": nequip_files.compile_model(pkg, target="lmpflow_nequip")}


def _structure(cells=(2, 1, 1), triclinic=False, seed=11) -> Atoms:
    return rattled_cell(cells, triclinic=triclinic, rattle_A=0.05, seed=seed)


def ase_reference(atoms: Atoms, package: Path) -> dict:
    atoms = atoms.copy()
    atoms.calc = nequip_files.ase_calculator(package)
    return {"energy": atoms.get_potential_energy(), "f": atoms.get_forces(), "pe": atoms.get_potential_energies(),
            # zero velocities: the pressure is the virial alone; ASE stress (xx yy zz yz xz xy) = -virial/V
            "press": -atoms.get_stress(voigt=True) * EV_A3_TO_BAR}


# ---------------------------------------------------------------------------------------------------- exactness
def test_any_rank_count_equals_one_rank_and_nequip(tmp_path, nequip64):
    atoms = _structure()
    one = run_lammps(tmp_path, atoms, nequip64["pt2"], 1)
    assert "deep_ghost graph" not in one["log"]  # one rank: the periodic graph, the faster one
    assert_same(one, ase_reference(atoms, nequip64["package"]), 1e-8, "1 rank (periodic) vs nequip ASE")
    deep = run_lammps(tmp_path, atoms, nequip64["pt2"], 1, style_args="layout deep_ghost")
    assert "deep_ghost graph (2 message-passing layers x 4.5 A): ghost atoms out to 11 A" in deep["log"]
    assert_same(deep, one, 1e-10, "1 rank deep_ghost vs periodic")
    for ranks in (2, 3, 4):
        got = run_lammps(tmp_path, atoms, nequip64["pt2"], ranks)
        assert "deep_ghost graph" in got["log"]
        assert_same(got, one, 1e-10, f"{ranks} ranks vs 1")


def test_md_one_vs_two_ranks(tmp_path, nequip64):
    atoms = _structure(seed=12)
    one = run_lammps(tmp_path, atoms, nequip64["pt2"], 1, md_steps=50)
    two = run_lammps(tmp_path, atoms, nequip64["pt2"], 2, md_steps=50)
    dx = np.abs(one["x"] - two["x"]).max()
    print(f"50 MD steps, 1 vs 2 ranks: max |dx| {dx:.1e} A, forces {rel(two['f'], one['f']):.1e} rel.")
    assert dx < 1e-8 and rel(two["f"], one["f"]) < 1e-7


def test_cell_smaller_than_ghost_shell(tmp_path, nequip64):
    """52 atoms, a = 9.85 A, against a ghost shell of 2 x 4.5 + 2 A: atoms meet several images of themselves."""
    atoms = _structure(cells=(1, 1, 1), seed=13)
    ref = ase_reference(atoms, nequip64["package"])
    for ranks in (2, 4):
        assert_same(run_lammps(tmp_path, atoms, nequip64["pt2"], ranks), ref, 1e-8, f"52 atoms, {ranks} ranks vs ASE")


def test_slabs_thinner_than_the_cutoff(tmp_path, nequip64):
    """processors 4 1 1 on the 52-atom cell: domains 2.46 A thick, against r_max 4.5 A."""
    atoms = _structure(cells=(1, 1, 1), seed=14)
    one = run_lammps(tmp_path, atoms, nequip64["pt2"], 1)
    got = run_lammps(tmp_path, atoms, nequip64["pt2"], 4, pre="processors 4 1 1")
    assert_same(got, one, 1e-10, "processors 4 1 1 (2.46 A slabs) vs 1 rank")


def test_triclinic_cell(tmp_path, nequip64):
    atoms = _structure(triclinic=True, seed=15)
    one = run_lammps(tmp_path, atoms, nequip64["pt2"], 1)
    assert_same(one, ase_reference(atoms, nequip64["package"]), 1e-8, "triclinic, 1 rank vs ASE")
    assert_same(run_lammps(tmp_path, atoms, nequip64["pt2"], 3), one, 1e-10, "triclinic, 3 ranks vs 1")


def test_li_vacancy_with_non_contiguous_ids(tmp_path, nequip64):
    atoms = _structure(seed=16)
    gone = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "Li"][3:5]
    delete = f"group vac id {' '.join(str(i + 1) for i in gone)}\ndelete_atoms group vac compress no"
    one = run_lammps(tmp_path, atoms, nequip64["pt2"], 1, after_read=delete)
    two = run_lammps(tmp_path, atoms, nequip64["pt2"], 2, after_read=delete)
    kept = np.setdiff1d(np.arange(len(atoms)), gone)
    assert (two["id"] == kept + 1).all()  # ids keep their gaps
    assert_same(two, one, 1e-10, "Li vacancy, 2 ranks vs 1")
    del atoms[gone]
    assert_same(one, ase_reference(atoms, nequip64["package"]), 1e-8, "Li vacancy, 1 rank vs ASE")


def test_rank_that_owns_no_atoms(tmp_path, nequip64):
    """A periodic box twice as tall as the crystal: with processors 1 1 4 the top ranks own nothing."""
    atoms = _structure(cells=(2, 1, 1), seed=17)
    cell = atoms.cell.array.copy()
    cell[2, 2] *= 2.5
    atoms.set_cell(cell, scale_atoms=False)
    atoms.positions[:, 2] += 1.0  # nothing wraps to the top of the box
    assert atoms.positions[:, 2].min() > 0 and atoms.positions[:, 2].max() < 0.5 * cell[2, 2]
    one = run_lammps(tmp_path, atoms, nequip64["pt2"], 1)
    four = run_lammps(tmp_path, atoms, nequip64["pt2"], 4, pre="processors 1 1 4")
    assert_same(four, one, 1e-10, "ranks without atoms (processors 1 1 4, 2 of 4 empty) vs 1 rank")


def test_shipped_float32_model_416_atoms(tmp_path):
    pkg = _package(registry.DEFAULT_MODEL_LABEL)
    pt2 = nequip_files.compile_model(pkg, target="lmpflow_nequip")
    atoms = _structure(cells=(2, 2, 2), seed=18)
    one = run_lammps(tmp_path, atoms, pt2, 1)
    two = run_lammps(tmp_path, atoms, pt2, 2)
    assert "deep_ghost graph (3 message-passing layers x 5 A)" in two["log"]
    assert_same(two, one, 1e-5, "nequip-chgnet-pbe (float32), 416 atoms, 2 ranks vs 1")


# ---------------------------------------------------------------------------------------------------- errors
def test_too_small_user_ghost_cutoff(tmp_path, nequip64):
    out = run_lammps(tmp_path, _structure(), nequip64["pt2"], 2, pre="comm_modify cutoff 8", check=False)
    assert out["returncode"] != 0
    assert re.search(r"comm_modify cutoff 8 is too small .* set it to at least 11", out["output"]), out["output"][-2000:]


def test_single_rank_file_on_two_ranks_names_the_recompile(tmp_path, nequip64):
    old = nequip_files.compile_model(nequip64["package"], target="pair_nequip")
    atoms = _structure()
    assert run_lammps(tmp_path, atoms, old, 1)["energy"] < 0  # still fine on one rank
    out = run_lammps(tmp_path, atoms, old, 2, check=False)
    assert out["returncode"] != 0
    assert "nequip-compile --target pair_nequip, whose graph needs every atom on one MPI rank" in out["output"]
    assert "recompile it for any number of ranks with lmpflow compile" in out["output"]


def test_layout_keyword_errors(tmp_path, nequip64):
    out = run_lammps(tmp_path, _structure(), nequip64["pt2"], 2, style_args="layout periodic", check=False)
    assert out["returncode"] != 0 and "'layout periodic' needs every atom on one MPI rank" in out["output"]
    out = run_lammps(tmp_path, _structure(), nequip64["pt2"], 1, style_args="layout ghost", check=False)
    assert out["returncode"] != 0 and "builds the graph layouts 'periodic deep_ghost'" in out["output"]


def test_nan_on_two_ranks_is_reported(tmp_path, nequip64):
    """Two atoms on the same spot make the model's edge directions 0/0."""
    atoms = _structure()
    atoms.positions[1] = atoms.positions[0]
    out = run_lammps(tmp_path, atoms, nequip64["pt2"], 2, check=False)
    assert out["returncode"] != 0 and "the model returned NaN or infinite energy/forces" in out["output"]
