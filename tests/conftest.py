"""Shared test fixtures: a small Li6PS5Cl cell and a cheap classical stand-in potential for it.

The stand-in is a Morse pair potential (no charges, `atom_style atomic`) with each pair's minimum at the
Li6PS5Cl nearest-neighbour distance: a stiff P-S bond keeps the PS4 tetrahedra, anion-anion wells keep
the S/Cl framework crystalline up to at least 900 K, and shallow Li-anion wells let Li diffuse (a
superionic caricature, D ~ 1e-4 cm²/s). It lets everything that drives LAMMPS run in seconds without the
ML plugin; `li_well_eV` (the Li-S/Li-Cl well depth) makes potentials with slower or faster Li.
"""
from __future__ import annotations

import pytest

from lmpflow.system.structures import SPECIES, li6ps5cl


def morse_standin_lines(li_well_eV: float = 0.20) -> list[str]:
    """LAMMPS pair lines (types Li=1, P=2, S=3, Cl=4): pair_coeff i j D0 (eV) alpha (1/Å) r0 (Å)."""
    w = li_well_eV
    return [
        "pair_style morse 6.0",
        "pair_coeff 1 1 0.01 2.0 3.0",
        "pair_coeff 1 2 0.01 2.0 3.6",
        f"pair_coeff 1 3 {w} 1.6 2.45",
        f"pair_coeff 1 4 {w} 1.6 2.55",
        "pair_coeff 2 2 0.01 2.0 5.5",
        "pair_coeff 2 3 4.00 2.0 2.05",
        "pair_coeff 2 4 0.20 1.5 4.9",
        "pair_coeff 3 3 0.25 1.5 3.7",
        "pair_coeff 3 4 0.25 1.5 4.1",
        "pair_coeff 4 4 0.05 1.5 5.5",
        "pair_modify shift yes",
    ]


@pytest.fixture(scope="session")
def cell52():
    """Ordered Li6PS5Cl cubic cell (Li24 P4 S20 Cl4, a = 9.85 Å)."""
    return li6ps5cl()


@pytest.fixture
def standin():
    """The stand-in as an lmpflow Potential (species Li P S Cl)."""
    from lmpflow.potentials.potential import Potential

    return Potential.classical(morse_standin_lines(), SPECIES, label="morse")


@pytest.fixture
def standin_file(tmp_path):
    """The stand-in written as a LAMMPS include file (what `-var potential FILE` takes)."""
    p = tmp_path / "morse.lmp"
    p.write_text("\n".join(morse_standin_lines()) + "\n")
    return p
