"""Physics checks of the ordered Li6PS5Cl model (composition, density, bond lengths, symmetry, site exchange)."""
import math

import numpy as np
import pytest
import spglib
from ase.io import write
from ase.neighborlist import neighbor_list
from ase.units import _Nav

from lmpflow.system.structures import SPECIES, density_g_cm3, li6ps5cl, read_structure, site_exchange_fraction

# Standard atomic weights (g/mol), independent of ASE's table, for the density check.
MOLAR = {"Li": 6.94, "P": 30.974, "S": 32.06, "Cl": 35.45}


def min_pair_distances(atoms, cutoff=4.0):
    i, j, d = neighbor_list("ijd", atoms, cutoff)
    s = np.array(atoms.get_chemical_symbols())
    out = {}
    for a in SPECIES:
        for b in SPECIES:
            m = (s[i] == a) & (s[j] == b)
            if m.any():
                out[a, b] = float(d[m].min())
    return out


def spacegroup(atoms):
    cell = (atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers)
    return spglib.get_symmetry_dataset(cell, symprec=1e-3).number


def test_species_order_matches_lammps_types():
    assert SPECIES == ("Li", "P", "S", "Cl")


def test_unit_cell_composition_and_type_order():
    atoms = li6ps5cl()
    assert len(atoms) == 52
    assert atoms.symbols.formula.count() == {"Li": 24, "P": 4, "S": 20, "Cl": 4}
    types = [SPECIES.index(s) for s in atoms.get_chemical_symbols()]
    assert types == sorted(types)  # sorted Li, P, S, Cl as LAMMPS types 1..4
    assert atoms.pbc.all()
    assert atoms.cell.cellpar() == pytest.approx([9.85, 9.85, 9.85, 90, 90, 90])


def test_density_matches_formula_mass():
    atoms = li6ps5cl()
    formula_mass = 6 * MOLAR["Li"] + MOLAR["P"] + 5 * MOLAR["S"] + MOLAR["Cl"]  # 268.4 g/mol
    expected = 4 * formula_mass / _Nav / (9.85e-8) ** 3  # Z = 4 in a (9.85 A)^3 cell
    assert expected == pytest.approx(1.865, abs=0.005)
    assert density_g_cm3(atoms) == pytest.approx(expected, rel=2e-3)


def test_bond_lengths_are_chemical():
    d = min_pair_distances(li6ps5cl())
    assert d["P", "S"] == pytest.approx(2.05, abs=0.01)  # PS4 tetrahedron
    assert d["S", "S"] > 3.2  # tetrahedron edge 2.05*sqrt(8/3) = 3.35 A
    assert 2.3 < d["Li", "S"] < 2.6
    assert 2.4 < d["Li", "Cl"] < 2.7
    assert d["Li", "Li"] > 2.1  # the 1.9 A doublet partner of every Li is empty
    assert d["Li", "P"] > 3.0


def test_each_doublet_holds_exactly_one_li():
    atoms = li6ps5cl()
    li = atoms[[s == "Li" for s in atoms.get_chemical_symbols()]]
    i, j, d = neighbor_list("ijd", li, 2.0)
    assert len(d) == 0


def test_framework_is_f43m_and_li_order_is_stable():
    atoms = li6ps5cl()
    framework = atoms[[s != "Li" for s in atoms.get_chemical_symbols()]]
    assert spacegroup(framework) == 216
    assert spacegroup(atoms) == 5  # the deterministic Li ordering (C2)
    again = li6ps5cl(seed=99)
    assert np.allclose(again.positions, atoms.positions)


def test_supercell_counts():
    atoms = li6ps5cl((2, 2, 2))
    assert len(atoms) == 416
    assert atoms.symbols.formula.count() == {"Li": 192, "P": 32, "S": 160, "Cl": 32}
    assert atoms.get_volume() == pytest.approx(8 * 9.85**3)
    assert len(li6ps5cl(2)) == 416
    assert len(li6ps5cl((1, 1, 3))) == 156


@pytest.mark.parametrize("fraction", [0.25, 0.5, 1.0])
def test_site_exchange_is_exact_seeded_and_clash_free(fraction):
    atoms = li6ps5cl((2, 2, 2), site_exchange=fraction, seed=3)
    assert atoms.symbols.formula.count() == {"Li": 192, "P": 32, "S": 160, "Cl": 32}
    assert atoms.info["n_site_exchanged"] == round(fraction * 32)
    assert site_exchange_fraction(atoms) == pytest.approx(round(fraction * 32) / 32)
    same = li6ps5cl((2, 2, 2), site_exchange=fraction, seed=3)
    assert same.get_chemical_symbols() == atoms.get_chemical_symbols()
    assert np.allclose(same.positions, atoms.positions)
    d = min_pair_distances(atoms)
    assert d["Li", "Li"] > 2.1 and d["Li", "S"] > 2.2 and d["Li", "Cl"] > 2.2
    assert d["P", "S"] == pytest.approx(2.05, abs=0.01)
    assert ("P", "Cl") not in d or d["P", "Cl"] > 3.0  # Cl never enters a PS4 unit


def test_site_exchange_seed_changes_which_sites():
    a = li6ps5cl((2, 2, 2), site_exchange=0.5, seed=1)
    b = li6ps5cl((2, 2, 2), site_exchange=0.5, seed=2)
    # atoms are sorted by type, so a different choice of swapped sites shows up in the positions
    assert a.get_chemical_symbols() == b.get_chemical_symbols()
    assert not np.allclose(a.positions, b.positions)
    assert site_exchange_fraction(li6ps5cl()) == 0.0


@pytest.mark.parametrize("bad", [dict(site_exchange=-0.1), dict(site_exchange=1.5), dict(supercell=(0, 1, 1)),
                                 dict(a=98.5)])
def test_bad_arguments_raise(bad):
    with pytest.raises(ValueError):
        li6ps5cl(**bad)


@pytest.mark.parametrize("name,fmt", [("s.cif", "cif"), ("POSCAR", "vasp"), ("s.extxyz", "extxyz")])
def test_read_structure_roundtrip(tmp_path, name, fmt):
    atoms = li6ps5cl()
    path = tmp_path / name
    write(path, atoms, format=fmt)
    back = read_structure(path)
    assert back.get_chemical_formula() == atoms.get_chemical_formula()
    assert back.get_volume() == pytest.approx(atoms.get_volume(), rel=1e-6)
    assert math.isclose(density_g_cm3(back), density_g_cm3(atoms), rel_tol=1e-3)


def test_read_structure_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_structure(tmp_path / "missing.cif")
    junk = tmp_path / "junk.cif"
    junk.write_text("this is not a cif\n")
    with pytest.raises(ValueError, match="junk.cif"):
        read_structure(junk)
    from ase.build import bulk
    cu = tmp_path / "cu.extxyz"
    write(cu, bulk("Cu"))
    with pytest.raises(ValueError, match="Cu"):
        read_structure(cu)
