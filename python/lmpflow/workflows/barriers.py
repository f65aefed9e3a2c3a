"""Li migration barriers of Li6PS5Cl for one potential: the canonical hops (lmpflow.system.sites), each run as
a climbing-image NEB (lmpflow.analysis.neb) through LAMMPS, with per-hop JSON, plots and one CSV table.

One LAMMPS instance is shared by all images (serial; the band is cheap compared with MD). LAMMPS's own
`fix neb` would need one MPI partition per image; the in-process route works with any pair style.
Units: eV, Å.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator

from lmpflow._host import atomic_write_text
from lmpflow.analysis.neb import DEFAULT_FMAX, NebResult, run_neb
from lmpflow.lammps.calculator import LammpsCalculator
from lmpflow.output.plots import plot_neb
from lmpflow.potentials.potential import as_potential
from lmpflow.system.sites import HOP_NAMES, find_canonical_hops, hop_endpoints
from lmpflow.system.structures import SPECIES, li6ps5cl

_CSV_FIELDS = ["label", "hop", "mechanism", "hop_distance_A", "barrier_forward_eV", "barrier_backward_eV",
               "reaction_energy_eV", "saddle_found", "converged", "fmax_eV_A", "max_force_eV_A", "n_images", "n_steps",
               "endpoints_relaxed"]


def li_migration_barriers(potential, *, atoms: Atoms | None = None,
                          hops: Sequence[str] = HOP_NAMES, species: Sequence[str] | None = None,
                          frozen_species: Sequence[str] = (), charges: dict[str, float] | None = None,
                          n_images: int = 5,
                          fmax: float = DEFAULT_FMAX, max_steps: int = 2000, label: str = "model",
                          out_dir: str | Path | None = None, logfile: str | None = None) -> dict[str, NebResult]:
    """NEB barriers (eV) of the canonical Li hops in ordered Li6PS5Cl for one potential.

    potential: anything `lmpflow.potentials.potential.as_potential` takes (LAMMPS pair_style/pair_coeff lines
    for types in `species` order, a Potential, a model file or label), or any ASE calculator (used as is). atoms: the unrelaxed ordered structure (default `li6ps5cl()`, one cubic
    cell, 52 atoms). frozen_species: elements held fixed (e.g. ("P", "S", "Cl") for a frozen-framework
    barrier); default: every atom relaxes.
    Writes, if out_dir is given: neb_<hop>.json, neb_<hop>.png, neb_paths.png and neb_barriers.csv with
    one row per hop (fields: %s).
    """
    if atoms is None:
        atoms = li6ps5cl()
    own_calc = not isinstance(potential, BaseCalculator)
    atoms = atoms.copy()
    if frozen_species:
        from ase.constraints import FixAtoms
        unknown = sorted(set(frozen_species) - set(atoms.get_chemical_symbols()))
        if unknown:
            raise ValueError(f"frozen_species {unknown} are not in the structure")
        frozen = np.isin(atoms.get_chemical_symbols(), list(frozen_species))
        atoms.set_constraint(FixAtoms(np.flatnonzero(frozen)))
    if own_calc:
        pot = as_potential(potential, species=species or SPECIES)
        calc = LammpsCalculator(pot.lammps_pair_lines(), pot.species, charges=charges)
    else:  # any ASE calculator (e.g. nequip's own, to cross-check the LAMMPS pair style)
        calc = potential
    results = {}
    try:
        for name, hop in find_canonical_hops(atoms, hops).items():
            initial, final = hop_endpoints(atoms, hop)
            results[name] = run_neb(initial, final, calc, n_images=n_images, fmax=fmax, max_steps=max_steps,
                                    label=f"{label} {name}", mechanism=hop.mechanism, logfile=logfile)
            results[name].hop_distance_A = hop.distance_A
    finally:
        if own_calc:
            calc.close()
    if out_dir is not None:
        write_neb_outputs(results, out_dir, label)
    return results


li_migration_barriers.__doc__ = li_migration_barriers.__doc__ % ", ".join(_CSV_FIELDS)


def write_neb_outputs(results: dict[str, NebResult], out_dir: str | Path, label: str) -> Path:
    """Write neb_<hop>.json/.png, neb_paths.png and neb_barriers.csv; returns the CSV path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, r in results.items():
        r.write_json(out / f"neb_{name}.json")
        plot_neb(r, out / f"neb_{name}.png", title=f"{label}: {name} hop")
    if results:
        plot_neb(list(results.values()), out / "neb_paths.png", title=f"{label}: Li hops")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_CSV_FIELDS)
    w.writeheader()
    for name, r in results.items():
        row = {k: getattr(r, k) for k in _CSV_FIELDS if hasattr(r, k)}
        row.update(label=label, hop=name)
        w.writerow(row)
    return atomic_write_text(out / "neb_barriers.csv", buf.getvalue())


def read_neb_barriers(path: str | Path) -> list[dict]:
    """Rows of a neb_barriers.csv (numbers converted to float/int/bool)."""
    rows = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            for k in ("hop_distance_A", "barrier_forward_eV", "barrier_backward_eV", "reaction_energy_eV",
                      "fmax_eV_A", "max_force_eV_A"):
                row[k] = float(row[k])
            for k in ("n_images", "n_steps"):
                row[k] = int(row[k])
            for k in ("saddle_found", "converged", "endpoints_relaxed"):
                row[k] = row[k] == "True"
            rows.append(row)
    return rows
