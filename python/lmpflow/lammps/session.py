"""One way to put ASE atoms into an in-process LAMMPS: the box, the types, the masses, the positions.

The calculator (NEB, model comparison), the tests and the benchmarks all build their LAMMPS instance here, so
the cell convention (LAMMPS' restricted triclinic form, `lammps_cell`) is written once.
"""
from __future__ import annotations

import ctypes
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers

from lmpflow.lammps.runtime import lammps_class
from lmpflow.system.structures import SPECIES

QUIET = ("-screen", "none", "-log", "none", "-nocite")


def lammps_cell(cell: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float, float, float, float]]:
    """LAMMPS restricted-triclinic form of a cell (rows a, b, c in Å).

    Returns (H, (lx, ly, lz, xy, xz, yz)) with H lower-triangular rows a'=(lx,0,0), b'=(xy,ly,0),
    c'=(xz,yz,lz): the same lattice rotated so that a lies along x and b in the xy plane.
    """
    a, b, c = np.asarray(cell, float)
    if np.linalg.det(np.array([a, b, c])) <= 0:
        raise ValueError("the cell is left-handed or singular; LAMMPS needs a right-handed cell "
                         "(swap two lattice vectors)")
    lx = np.linalg.norm(a)
    xy = b @ a / lx
    ly = np.sqrt(b @ b - xy * xy)
    xz = c @ a / lx
    yz = (b @ c - xy * xz) / ly
    lz = np.sqrt(c @ c - xz * xz - yz * yz)
    h = np.array([[lx, 0, 0], [xy, ly, 0], [xz, yz, lz]])
    return h, tuple(float(v) for v in (lx, ly, lz, xy, xz, yz))


def atom_types(atoms: Atoms, species: Sequence[str]) -> np.ndarray:
    """LAMMPS type (1-based, `species` order) of each atom; ValueError naming missing elements."""
    symbols = atoms.get_chemical_symbols()
    missing = sorted(set(symbols) - set(species))
    if missing:
        raise ValueError(f"atoms contain {missing} but the LAMMPS types are {tuple(species)}; pass "
                         "species= listing every element in LAMMPS type order")
    return np.array([list(species).index(s) + 1 for s in symbols], dtype=np.int32)


class LammpsSession:
    """An in-process LAMMPS holding `atoms` (ids 1..N in their order, types in `species` order) in the
    LAMMPS form of their cell; `boundary` follows atoms.pbc. Positions and forces cross in the ASE frame.

    pre_box: commands before the box is created (e.g. `processors`, `atom_modify`); atom_style "charge"
    for pair styles that need charges. Add the interaction with `commands([...pair lines...])`.
    """

    def __init__(self, atoms: Atoms, species: Sequence[str] = SPECIES, *, pre_box: Sequence[str] = (),
                 atom_style: str = "atomic", cmdargs: Sequence[str] = QUIET):
        self.species = tuple(species)
        types = atom_types(atoms, self.species)
        self.n = len(atoms)
        self.pbc = np.array(atoms.pbc, bool)
        h, (lx, ly, lz, xy, xz, yz) = lammps_cell(atoms.cell.array)
        self.cell = h
        self._to_lammps = np.linalg.solve(atoms.cell.array, h)  # x_lammps = x_ase @ _to_lammps (a rotation)
        self.lmp = lammps_class()(cmdargs=list(cmdargs))
        bounds = " ".join("p" if p else "f" for p in self.pbc)
        cmds = ["units metal", f"atom_style {atom_style}", "atom_modify map array sort 0 0.0",
                f"boundary {bounds}", *pre_box]
        if abs(xy) + abs(xz) + abs(yz) > 0:
            cmds.append(f"region box prism 0 {lx!r} 0 {ly!r} 0 {lz!r} {xy!r} {xz!r} {yz!r} units box")
        else:
            cmds.append(f"region box block 0 {lx!r} 0 {ly!r} 0 {lz!r} units box")
        cmds.append(f"create_box {len(self.species)} box")
        cmds += [f"mass {i + 1} {float(atomic_masses[atomic_numbers[s]])!r}" for i, s in enumerate(self.species)]
        try:
            self.lmp.commands_list(cmds)
            x = self.to_lammps(atoms.positions)
            self.lmp.create_atoms(self.n, list(range(1, self.n + 1)), [int(t) for t in types], x.ravel().tolist())
            if self.lmp.get_natoms() != self.n:
                raise RuntimeError(f"LAMMPS holds {self.lmp.get_natoms()} atoms instead of {self.n}; atoms "
                                   "outside a non-periodic box were lost")
        except Exception:
            self.lmp.close()
            raise

    def to_lammps(self, positions: np.ndarray) -> np.ndarray:
        """Cartesian positions (Å, ASE frame) in the LAMMPS frame, wrapped into the box along periodic axes."""
        frac = np.linalg.solve(self.cell.T, (np.asarray(positions, float) @ self._to_lammps).T).T
        frac[:, self.pbc] %= 1.0
        return frac @ self.cell

    def commands(self, lines: Sequence[str]) -> None:
        self.lmp.commands_list(list(lines))

    def set_positions(self, positions: np.ndarray) -> None:
        """Move every atom (ASE frame, id order)."""
        x = self.to_lammps(positions)
        self.lmp.scatter_atoms("x", 1, 3, (ctypes.c_double * (3 * self.n))(*x.ravel()))

    def forces(self) -> np.ndarray:
        """Forces (eV/Å, ASE frame, id order) of the last run."""
        f = np.ctypeslib.as_array(self.lmp.gather_atoms("f", 1, 3)).reshape(self.n, 3)
        return f @ self._to_lammps.T

    def stress(self, pressure_compute: str) -> np.ndarray:
        """Stress (eV/Å^3, ASE frame and Voigt order xx yy zz yz xz xy) = minus the pressure tensor of the
        global compute `pressure_compute` (LAMMPS frame, bar) at the last run."""
        from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

        p = self.lmp.extract_compute(pressure_compute, LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)
        xx, yy, zz, xy, xz, yz = (float(p[k]) for k in range(6))
        # LAMMPS's own eV/Å^3 -> bar factor (its constants are older than CODATA 2018's)
        pressure = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]]) / self.lmp.extract_global("nktv2p")
        # x_lammps = x_ase @ R: a tensor goes back as R t R^T
        s = -(self._to_lammps @ pressure @ self._to_lammps.T)
        return np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])

    def close(self) -> None:
        self.lmp.close()

    def __enter__(self) -> "LammpsSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
