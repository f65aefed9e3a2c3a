"""Li migration barriers of Li6PS5Cl for one potential: the canonical hops (lmpflow.system.sites), each run as
a climbing-image NEB (lmpflow.analysis.neb) through LAMMPS, with per-hop JSON, plots and one CSV table.

A barrier needs two distinct minima with a saddle between them. The built endpoints put the Li on an ideal
empty 48h site, which need not be a minimum of the potential: if the endpoints relax into one minimum (the
moving Li ends closer than half the hop length to where it started), or the band between them has no saddle
(its highest image is an endpoint: one endpoint sits on the other's slope), the hop is re-chosen from the other
pairs of its class (vacancy hops between two occupied sites, which are the potential's own relaxed sites, then
other empty sites), and if none has a saddle the hop is reported as absent on this potential. Each hop records
what was done (`endpoints`).

One LAMMPS instance is shared by all images (serial; the band is cheap compared with MD). LAMMPS's own
`fix neb` would need one MPI partition per image; the in-process route works with any pair style.
Units: eV, Å.
"""
from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator
from ase.geometry import find_mic

from lmpflow._host import atomic_write_text
from lmpflow.analysis.neb import DEFAULT_FMAX, NebResult, relax, run_neb
from lmpflow.lammps.calculator import LammpsCalculator
from lmpflow.output.plots import plot_neb
from lmpflow.potentials.potential import as_potential
from lmpflow.system.sites import HOP_NAMES, CanonicalHop, hop_candidates, hop_endpoints
from lmpflow.system.structures import SPECIES, li6ps5cl

_CSV_FIELDS = ["label", "hop", "mechanism", "hop_distance_A", "barrier_forward_eV", "barrier_backward_eV",
               "reaction_energy_eV", "saddle_found", "converged", "fmax_eV_A", "max_force_eV_A", "n_images", "n_steps",
               "endpoints_relaxed", "endpoints"]
#: relaxed endpoints are one minimum when the moving Li ends closer than this fraction of the hop length
COLLAPSE_FRACTION = 0.5
#: endpoint pairs tried per hop class before it is reported absent (each costs two relaxations)
MAX_CANDIDATES = 6


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
    one row per hop (fields: %s). A hop none of whose candidate endpoint pairs has a saddle (module docstring)
    is left out of the returned dict (with a warning) and written as a row without a barrier.
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
    results, absent = {}, {}
    try:
        neb_kw = dict(n_images=n_images, fmax=fmax, max_steps=max_steps, logfile=logfile)
        for name, candidates in hop_candidates(atoms, hops).items():
            band, why = _hop_band(atoms, candidates, calc, name, label, neb_kw)
            if band is None:
                absent[name] = why
                warnings.warn(f"{label}: no {name} hop: {why}", stacklevel=2)
            else:
                results[name] = band
    finally:
        if own_calc:
            calc.close()
    if out_dir is not None:
        write_neb_outputs(results, out_dir, label, absent)
    return results


def _hop_band(atoms: Atoms, candidates: list[CanonicalHop], calc, name: str, label: str, neb_kw: dict):
    """The band of the first candidate whose relaxed endpoints are two minima with a saddle between them
    (its `endpoints` says what was done), else (None, why no candidate is). After the built hop come the
    vacancy hops (between sites the potential's Li occupy, so minima of it), then the other empty sites, which
    in the ordered cell are mostly equivalent to the built one."""
    first, rest = candidates[:1], candidates[1:]
    ordered = first + [h for h in rest if h.mechanism == "vacancy"] + [h for h in rest if h.mechanism != "vacancy"]
    fmax, logfile = neb_kw["fmax"], neb_kw["logfile"]
    tried, relaxed_initial = [], {}
    for k, hop in enumerate(ordered[:MAX_CANDIDATES]):
        initial, final = hop_endpoints(atoms, hop)
        if hop.removed_index not in relaxed_initial:  # empty-site hops share their initial structure
            relaxed_initial[hop.removed_index] = (initial, relax(initial, calc, fmax, logfile=logfile))
        initial, ok_initial = relaxed_initial[hop.removed_index]
        initial = initial.copy()
        ok_final = relax(final, calc, fmax, logfile=logfile)
        li = hop.li_index - (hop.removed_index is not None and hop.removed_index < hop.li_index)
        separation = float(find_mic(final.positions[li] - initial.positions[li], initial.cell, initial.pbc)[1])
        what = f"Li {hop.li_index} {hop.mechanism} {hop.distance_A:.2f} A hop"
        if separation < COLLAPSE_FRACTION * hop.distance_A:
            tried.append(f"{what}: endpoints relaxed into one minimum ({separation:.2f} A apart)")
            continue
        band = run_neb(initial, final, calc, relax_endpoints=False, label=f"{label} {name}", mechanism=hop.mechanism,
                       **neb_kw)
        if not band.saddle_found:
            tried.append(f"{what}: no saddle between the relaxed endpoints ({separation:.2f} A apart; highest "
                         "image at an end)")
            continue
        band.hop_distance_A, band.endpoints_relaxed = hop.distance_A, ok_initial and ok_final
        band.endpoints = f"{what}, relaxed endpoints {separation:.2f} A apart"
        if tried:
            band.endpoints = f"re-chosen (candidate {k + 1}): {band.endpoints}; tried: {'; '.join(tried)}"
        return band, None
    return None, (f"no candidate pair has two distinct minima with a saddle between them ({'; '.join(tried)}): the "
                  "potential has no such hop")


li_migration_barriers.__doc__ = li_migration_barriers.__doc__ % ", ".join(_CSV_FIELDS)


def write_neb_outputs(results: dict[str, NebResult], out_dir: str | Path, label: str,
                      absent: dict[str, str] | None = None) -> Path:
    """Write neb_<hop>.json/.png, neb_paths.png and neb_barriers.csv (hops in `absent`, with the reason, as
    rows without a barrier); returns the CSV path."""
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
    nan = float("nan")
    for name, why in (absent or {}).items():
        w.writerow({"label": label, "hop": name, "barrier_forward_eV": nan, "barrier_backward_eV": nan,
                    "reaction_energy_eV": nan, "hop_distance_A": nan, "fmax_eV_A": nan, "max_force_eV_A": nan,
                    "n_images": 0, "n_steps": 0, "saddle_found": False, "converged": False,
                    "endpoints_relaxed": False, "endpoints": f"none: {why}"})
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
