"""Rattled Li6PS5Cl cells in LAMMPS form (a along x, b in the xy plane): no rotation between ASE and LAMMPS, so
positions and forces compare one to one."""
from __future__ import annotations

from ase import Atoms

from lmpflow.system.structures import li6ps5cl


def rattled_cell(cells=(1, 1, 1), triclinic: bool = False, rattle_A: float = 0.08, seed: int = 1) -> Atoms:
    atoms = li6ps5cl(cells)
    if triclinic:
        cell = atoms.cell.array.copy()
        cell[1, 0] += 0.9
        cell[2, 0] -= 0.6
        cell[2, 1] += 0.7
        atoms.set_cell(cell, scale_atoms=True)
    atoms.rattle(rattle_A, seed=seed)
    return atoms
