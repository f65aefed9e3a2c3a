"""A run directory for an NVT transport run: the data file, the potential and every setting, self-describing.

A run directory written by `write_run_inputs` can be run by hand:

    data.lmp        the structure, LAMMPS types in the order of the potential's species
    in.liPSCl       a copy of lmpflow's input script (lammps_inputs/in.liPSCl)
    potential.lmp   only for a classical potential: its pair_style/pair_coeff lines
    run_vars.json   every run setting (units in the key names) and the exact `lmp` command line

Units are LAMMPS `metal`: Å, ps, eV, K, bar.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers

from lmpflow._host import atomic_write_text
from lmpflow.lammps.session import lammps_cell
from lmpflow.potentials.potential import POTENTIAL_NAME, Potential, as_potential
from lmpflow.system.structures import SPECIES

INPUT_SCRIPT_NAME = "in.liPSCl"
RUN_VARS_NAME = "run_vars.json"
DATA_NAME = "data.lmp"
DUMP_NAME = "dump.lammpstrj"
LOG_NAME = "log.lammps"

#: Fewest production frames the transport analysis accepts (5 error blocks of 8 frames).
MIN_FRAMES = 40


def input_script_path() -> Path:
    """lmpflow's NVT input script: `lmpflow/data/in.liPSCl` in an installed package, else the source tree's
    `lammps_inputs/in.liPSCl`."""
    here = Path(__file__).resolve().parents[1]
    for cand in (here / "data" / INPUT_SCRIPT_NAME, here.parents[1] / "lammps_inputs" / INPUT_SCRIPT_NAME):
        if cand.is_file():
            return cand
    raise FileNotFoundError(
        f"{INPUT_SCRIPT_NAME} not found in the package (lmpflow/data/) or the source tree (lammps_inputs/); "
        "reinstall lmpflow")


# --------------------------------------------------------------------------------------------------- #
# Data file
# --------------------------------------------------------------------------------------------------- #

def _check_species(atoms: Atoms, species: Sequence[str], what: str = "the potential") -> None:
    present = list(dict.fromkeys(atoms.get_chemical_symbols()))
    missing = [s for s in present if s not in species]
    if missing:
        raise ValueError(
            f"the structure contains {missing} but {what} only knows {list(species)}; use a model trained "
            f"on these elements or remove those atoms from the structure")


def write_data(atoms: Atoms, path: str | os.PathLike, species: Sequence[str] = SPECIES) -> Path:
    """Write `atoms` as a LAMMPS data file (atom_style atomic, units metal: Å, g/mol).

    LAMMPS type i+1 is `species[i]` (all species get a type and a mass, present or not, so the type
    count matches the potential). Triclinic cells are rotated to LAMMPS' restricted form (see
    `lammps_cell`); atoms are wrapped into the box; ids follow the order of `atoms`.
    """
    species = list(species)
    _check_species(atoms, species)
    if not all(atoms.pbc):
        raise ValueError("lmpflow runs periodic cells only; set atoms.pbc = True (and a cell) first")
    h, (lx, ly, lz, xy, xz, yz) = lammps_cell(atoms.cell.array)
    frac = atoms.cell.scaled_positions(atoms.positions) % 1.0
    frac[frac >= 1.0 - 1e-12] = 0.0  # % can return 1.0 for tiny negatives
    pos = frac @ h
    types = np.array([species.index(s) + 1 for s in atoms.get_chemical_symbols()])
    triclinic = max(abs(xy), abs(xz), abs(yz)) > 1e-10 * max(lx, ly, lz)
    out = [f"LAMMPS data file written by lmpflow ({atoms.get_chemical_formula()}; types {' '.join(species)})",
           "", f"{len(atoms)} atoms", f"{len(species)} atom types", "",
           f"0.0 {lx:.12f} xlo xhi", f"0.0 {ly:.12f} ylo yhi", f"0.0 {lz:.12f} zlo zhi"]
    if triclinic:
        out.append(f"{xy:.12f} {xz:.12f} {yz:.12f} xy xz yz")
    out += ["", "Masses", ""]
    out += [f"{i + 1} {atomic_masses[atomic_numbers[s]]:.6f}  # {s}" for i, s in enumerate(species)]
    out += ["", "Atoms  # atomic", ""]
    out += [f"{i + 1} {t} {x:.12f} {y:.12f} {z:.12f}" for i, (t, (x, y, z)) in enumerate(zip(types, pos))]
    path = Path(path)
    atomic_write_text(path, "\n".join(out) + "\n")
    return path


# --------------------------------------------------------------------------------------------------- #
# Run directory
# --------------------------------------------------------------------------------------------------- #

@dataclasses.dataclass(frozen=True)
class RunSettings:
    """NVT run settings (LAMMPS metal units). Production `steps` are dumped every `dump_every` steps."""

    T_K: float = 600.0
    seed: int = 1
    steps: int = 35_000
    eq_steps: int = 5_000
    timestep_ps: float = 0.002
    dump_every: int = 50
    thermo_every: int | None = None  # default: ~100 thermo lines per production run, at dump frames

    def validated(self) -> "RunSettings":
        """Check the settings; returns a copy with thermo_every filled in. Raises ValueError naming the fix."""
        if not (np.isfinite(self.T_K) and 0 < self.T_K < 5000):
            raise ValueError(f"T_K={self.T_K}: temperature must be in (0, 5000) K")
        if int(self.seed) != self.seed or not 0 < self.seed < 900_000_000:
            raise ValueError(f"seed={self.seed}: LAMMPS velocity seeds must be integers in 1..899999999")
        if not 0 < self.timestep_ps <= 0.005:
            raise ValueError(f"timestep_ps={self.timestep_ps}: use a positive step of at most 0.005 ps "
                             "(Li is light; 0.001-0.002 ps is usual)")
        for name in ("steps", "dump_every"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise ValueError(f"{name}={v} must be a positive integer")
        if int(self.eq_steps) != self.eq_steps or self.eq_steps < 0:
            raise ValueError(f"eq_steps={self.eq_steps} must be a non-negative integer")
        if self.steps % self.dump_every:
            raise ValueError(f"steps={self.steps} is not a multiple of dump_every={self.dump_every}; "
                             "make it one so the last production step is dumped")
        if self.steps // self.dump_every < MIN_FRAMES:
            raise ValueError(f"steps/dump_every = {self.steps // self.dump_every} frames: the MSD analysis needs "
                             f"at least {MIN_FRAMES} dumped frames; raise steps or lower dump_every")
        thermo = self.thermo_every
        if thermo is None:
            thermo = self.dump_every * max(1, self.steps // self.dump_every // 100)
        if int(thermo) != thermo or thermo < 1:
            raise ValueError(f"thermo_every={thermo} must be a positive integer")
        return dataclasses.replace(self, seed=int(self.seed), steps=int(self.steps),
                                   eq_steps=int(self.eq_steps), dump_every=int(self.dump_every),
                                   thermo_every=int(thermo), T_K=float(self.T_K),
                                   timestep_ps=float(self.timestep_ps))

    def script_vars(self) -> dict[str, str]:
        return {"T": f"{self.T_K:g}", "seed": str(self.seed), "dt": f"{self.timestep_ps:g}",
                "eq_steps": str(self.eq_steps), "steps": str(self.steps),
                "dump_every": str(self.dump_every), "thermo_every": str(self.thermo_every)}


def lmp_var_args(variables: Mapping[str, str]) -> list[str]:
    """`-var NAME VALUE` arguments (a value with spaces stays one argument, as LAMMPS expects)."""
    args: list[str] = []
    for k, v in variables.items():
        args += ["-var", k, str(v)]
    return args


def write_run_inputs(run_dir: str | os.PathLike, atoms: Atoms, model: str | os.PathLike | None = None,
                     potential: Potential | str | Sequence[str] | None = None, *, T_K: float = 600.0,
                     seed: int = 1, steps: int = 35_000, eq_steps: int = 5_000, timestep_ps: float = 0.002,
                     dump_every: int = 50, thermo_every: int | None = None, label: str | None = None,
                     functional: str = "", species: Sequence[str] = SPECIES) -> dict:
    """Write a complete run directory (data.lmp, in.liPSCl, potential.lmp if classical, run_vars.json).

    Give exactly one of `model` (an ML model: compiled file, package or shipped label; see `as_potential`)
    or `potential` (a `Potential`, a potential file path, or classical LAMMPS pair lines written for types
    in `species` order). `label`/`functional` name the potential in tables. T_K in K, timestep_ps in ps,
    steps/eq_steps/dump_every/thermo_every in MD steps. Returns the run record (also in run_vars.json).
    Existing files of the same names are replaced.
    """
    if (model is None) == (potential is None):
        raise ValueError("give exactly one of model= (an ML model file) or potential= (pair lines / Potential)")
    if model is not None:
        pot = as_potential(model)
        pot = dataclasses.replace(pot, label=label or pot.label, functional=functional or pot.functional)
    elif isinstance(potential, Potential):
        pot = potential
    elif isinstance(potential, (str, os.PathLike)) and "\n" not in str(potential) and Path(potential).is_file():
        pot = Potential.from_file(potential, species=species, label=label, functional=functional)
    else:
        pot = Potential.classical(potential, species=species, label=label or "classical", functional=functional)
    settings = RunSettings(T_K, seed, steps, eq_steps, timestep_ps, dump_every, thermo_every).validated()
    _check_species(atoms, pot.species, f"potential {pot.label!r}")

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_data(atoms, run_dir / DATA_NAME, pot.species)
    shutil.copyfile(input_script_path(), run_dir / INPUT_SCRIPT_NAME)
    if pot.pair_lines:
        atomic_write_text(run_dir / POTENTIAL_NAME,
                          f"# pair lines of potential {pot.label!r}; types: {' '.join(pot.species)}\n"
                          + "\n".join(pot.pair_lines) + "\n")
    variables = {**pot.script_vars(), **settings.script_vars(), "data": DATA_NAME, "dump": DUMP_NAME}
    symbols = atoms.get_chemical_symbols()
    record = {
        "potential": pot.to_json(),
        "settings": dataclasses.asdict(settings),
        "variables": variables,
        "lmp_command": ["lmp", "-in", INPUT_SCRIPT_NAME, *lmp_var_args(variables)],
        "n_atoms": len(atoms),
        "n_li": int(symbols.count("Li")),
        "volume_A3": float(atoms.get_volume()),
        "formula": atoms.get_chemical_formula(),
    }
    atomic_write_text(run_dir / RUN_VARS_NAME, json.dumps(record, indent=1) + "\n")
    return record


def read_run_vars(run_dir: str | os.PathLike) -> dict:
    """The record written by `write_run_inputs` (raises FileNotFoundError naming the fix)."""
    p = Path(run_dir) / RUN_VARS_NAME
    if not p.is_file():
        raise FileNotFoundError(f"{p} missing: {run_dir} is not an lmpflow run directory; "
                                "create one with `lmpflow input` or lmpflow.write_run_inputs")
    return json.loads(p.read_text())
