"""LAMMPS as an ASE calculator: energy (eV) and forces (eV/Å) of any pair style by `run 0`."""
from __future__ import annotations

from typing import Sequence

from ase.calculators.calculator import Calculator, all_changes
from ase.data import atomic_numbers

from lmpflow.lammps.session import LammpsSession, atom_types
from lmpflow.system.structures import SPECIES

_PRESSURE = "lmpflow_virial_pressure"


class LammpsCalculator(Calculator):
    """ASE calculator evaluating energy (eV), forces (eV/A) and stress (eV/A^3) with LAMMPS `run 0`.

    pair_lines: LAMMPS commands defining the interaction, e.g. ["pair_style lmpflow/allegro",
    "pair_coeff * * model.nequip.pt2 Li P S Cl"] or a classical potential. species: chemical symbol of each
    LAMMPS type in type order (default Li, P, S, Cl); every atom's symbol must be in it. charges: optional
    {symbol: charge in e} for pair styles that need charges (then atom_style charge is used).
    The LAMMPS box is rebuilt only when the cell, pbc or atom types change; otherwise positions are scattered.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, pair_lines: Sequence[str], species: Sequence[str] | None = None, *,
                 charges: dict[str, float] | None = None, extra_lines: Sequence[str] = (), **kwargs):
        super().__init__(**kwargs)
        if isinstance(pair_lines, str):
            pair_lines = [ln for ln in pair_lines.splitlines() if ln.strip()]
        pair_lines = [str(ln).strip() for ln in pair_lines]
        if not any(ln.startswith("pair_style") for ln in pair_lines):
            raise ValueError(f"pair_lines {pair_lines!r} contain no 'pair_style' command; pass the pair_style "
                             "and pair_coeff lines of the potential")
        species = SPECIES if species is None else species
        unknown = [s for s in species if s not in atomic_numbers]
        if unknown:
            raise ValueError(f"species {unknown} are not chemical symbols")
        self.pair_lines = list(pair_lines)
        self.species = tuple(species)
        self.charges = dict(charges) if charges else None
        self.extra_lines = list(extra_lines)
        self._session: LammpsSession | None = None
        self._key = None  # (cell, pbc, types) the LAMMPS box was built for
        self.n_calls = 0

    def _build(self, atoms) -> None:
        if not all(atoms.pbc):
            raise ValueError("LammpsCalculator needs a fully periodic cell (atoms.pbc all True); put molecules "
                             "or clusters in a large periodic box")
        self.close()
        session = LammpsSession(atoms, self.species, atom_style="charge" if self.charges else "atomic")
        try:
            if self.charges:
                session.commands([f"set type {i + 1} charge {float(self.charges.get(s, 0.0))!r}"
                                  for i, s in enumerate(self.species)])
            # the virial part of the pressure (atoms have no velocities here); thermo evaluates it every run
            session.commands(self.pair_lines + self.extra_lines +
                             [f"compute {_PRESSURE} all pressure NULL virial",
                              f"thermo_style custom step pe c_{_PRESSURE}[1]", "run 0 post no"])
        except Exception as exc:  # LAMMPS raises a bare exception text; say what was being set up
            session.close()
            from lmpflow.lammps.runtime import plugin_path

            hint = ("; this lmpflow has no LAMMPS plugin (lmpflow/lib/lmpflowplugin.so): use the installed package "
                    "(`pip install --no-build-isolation .`) or set LMPFLOW_PLUGIN to the .so"
                    if "pair style 'lmpflow/" in str(exc) and plugin_path() is None else "")
            raise RuntimeError(f"LAMMPS rejected the pair lines {self.pair_lines}: {exc}{hint}") from exc
        self._session = session

    def close(self) -> None:
        """Free the LAMMPS instance (a new one is created on the next calculation)."""
        if self._session is not None:
            self._session.close()
        self._session = None
        self._key = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        key = (atoms.cell.array.tobytes(), tuple(atoms.pbc), atom_types(atoms, self.species).tobytes())
        if self._session is None or key != self._key:
            self._build(atoms)
            self._key = key
        self._session.set_positions(atoms.positions)
        self._session.commands(["run 0 post no"])
        energy = float(self._session.lmp.get_thermo("pe"))
        self.n_calls += 1
        self.results = {"energy": energy, "free_energy": energy, "forces": self._session.forces(),
                        "stress": self._session.stress(_PRESSURE)}


def calculator_for(model, species=None, charges: dict[str, float] | None = None) -> LammpsCalculator:
    """A LammpsCalculator of anything `lmpflow.potentials.potential.as_potential` resolves (a shipped model's
    label, a model file, a Potential, classical pair lines); `species` is the type order of classical lines,
    `charges` (e per element) those of a Coulomb pair style."""
    from lmpflow.potentials.potential import as_potential

    pot = as_potential(model, species=species or SPECIES)
    return LammpsCalculator(pot.lammps_pair_lines(), pot.species, charges=charges)
