"""Li migration barriers of Li6PS5Cl for one potential: the canonical hops (lmpflow.system.sites), each run as
a climbing-image NEB (lmpflow.analysis.neb) through LAMMPS, with per-hop JSON, plots and one CSV table.

A barrier needs two distinct minima with a saddle between them. The built endpoints put the Li on an ideal
empty 48h site, which need not be a minimum of the potential: if the endpoints relax into one minimum (the
moving Li ends closer than half the hop length to where it started), or the band between them has no saddle
(its highest image is an endpoint: one endpoint sits on the other's slope), the hop is re-chosen from the other
pairs of its class (vacancy hops between two occupied sites, which are the potential's own relaxed sites, then
other empty sites), and if none has a saddle the hop is reported as absent on this potential. A band that
passes through a minimum lower than both endpoints (other Li rearranging on the way) has that minimum relaxed and
put in place of the endpoint; a band that does not converge is not reported as a barrier. Each hop records
what was done (`endpoints`).

One LAMMPS instance is shared by all images (serial; the band is cheap compared with MD). LAMMPS's own
`fix neb` would need one MPI partition per image; the in-process route works with any pair style.
Units: eV, Å.
"""
from __future__ import annotations

import contextlib
import csv
import io
import math
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator
from ase.geometry import find_mic

from lmpflow._host import atomic_write_text
from lmpflow.analysis.neb import DEFAULT_FMAX, NebResult, relax, run_neb
from lmpflow.lammps.calculator import calculator_for
from lmpflow.output.plots import plot_neb
from lmpflow.system.sites import HOP_NAMES, CanonicalHop, hop_candidates, hop_endpoints
from lmpflow.system.structures import li6ps5cl

_CSV_FIELDS = ["label", "hop", "mechanism", "hop_distance_A", "barrier_forward_eV", "barrier_backward_eV",
               "reaction_energy_eV", "saddle_found", "converged", "fmax_eV_A", "max_force_eV_A", "n_images", "n_steps",
               "endpoints_relaxed", "endpoints"]
_COMPARISON_FIELDS = ["hop", "model_barrier_forward_eV", "reference_barrier_forward_eV", "difference_eV",
                      "same_endpoints", "model_endpoints", "reference_endpoints"]
#: relaxed endpoints are one minimum when the moving Li ends closer than this fraction of the hop length
COLLAPSE_FRACTION = 0.5
#: endpoint pairs tried per hop class before it is reported absent (each costs two relaxations)
MAX_CANDIDATES = 6
#: times an endpoint is replaced by a lower minimum its band passed through before the pair is given up
MAX_ENDPOINT_UPDATES = 3


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
    atoms = _structure(atoms, frozen_species)
    neb_kw = dict(n_images=n_images, fmax=fmax, max_steps=max_steps, logfile=logfile)
    with _calculator(potential, species, charges) as calc:
        results, absent, _ = _bands(atoms, calc, hops, label, neb_kw)
    if out_dir is not None:
        write_neb_outputs(results, out_dir, label, absent)
    return results


def barriers_against_reference(potential, reference, *, atoms: Atoms | None = None,
                               hops: Sequence[str] = HOP_NAMES, species: Sequence[str] | None = None,
                               frozen_species: Sequence[str] = (), n_images: int = 5, fmax: float = DEFAULT_FMAX,
                               max_steps: int = 2000, label: str = "model", reference_label: str | None = None,
                               out_dir: str | Path | None = None, logfile: str | None = None) -> list[dict]:
    """The model's barriers beside the reference's (e.g. its labeler's) on the same hops.

    potential: as in `li_migration_barriers`; reference: an ASE calculator or a label source name
    ("chgnet-pbe", "chgnet-r2scan": the CHGNet weights the shipped models learnt from). The reference starts
    from the unrelaxed endpoints the model's band was run between and relaxes them itself; if they collapse or
    have no saddle on it, it re-chooses as the model would and `same_endpoints` is False. One row per hop
    (fields: %s; barriers in eV, the difference model − reference). Writes, if out_dir is given,
    out_dir/<label>/ and out_dir/<reference_label>/ (as `li_migration_barriers`) and neb_comparison.csv.
    """
    from lmpflow.potentials.training.labels import LABEL_SOURCES, chgnet_calculator

    if isinstance(reference, str):
        if reference not in LABEL_SOURCES:
            raise ValueError(f"reference {reference!r} is neither an ASE calculator nor a label source "
                             f"{sorted(LABEL_SOURCES)}")
        reference_label = reference_label or reference
        reference = chgnet_calculator(reference)
    elif not isinstance(reference, BaseCalculator):
        raise TypeError(f"reference must be an ASE calculator or a label source name, not {type(reference).__name__}")
    reference_label = reference_label or type(reference).__name__
    atoms = _structure(atoms, frozen_species)
    neb_kw = dict(n_images=n_images, fmax=fmax, max_steps=max_steps, logfile=logfile)
    with _calculator(potential, species, None) as calc:
        model, model_absent, chosen = _bands(atoms, calc, hops, label, neb_kw)
    ref, ref_absent, ref_chosen = _bands(atoms, reference, hops, reference_label, neb_kw, preferred=chosen)
    rows = []
    for name in hop_candidates(atoms, hops):
        m, r = model.get(name), ref.get(name)
        rows.append({"hop": name, "model_barrier_forward_eV": m.barrier_forward_eV if m else math.nan,
                     "reference_barrier_forward_eV": r.barrier_forward_eV if r else math.nan,
                     "difference_eV": m.barrier_forward_eV - r.barrier_forward_eV if m and r else math.nan,
                     "same_endpoints": name in chosen and chosen[name] == ref_chosen.get(name),
                     "model_endpoints": m.endpoints if m else f"none: {model_absent[name]}",
                     "reference_endpoints": r.endpoints if r else f"none: {ref_absent[name]}"})
    if out_dir is not None:
        out = Path(out_dir)
        write_neb_outputs(model, out / label, label, model_absent)
        write_neb_outputs(ref, out / reference_label, reference_label, ref_absent)
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=_COMPARISON_FIELDS)
        w.writeheader()
        w.writerows(rows)
        atomic_write_text(out / "neb_comparison.csv", buf.getvalue())
    return rows


def _structure(atoms: Atoms | None, frozen_species: Sequence[str]) -> Atoms:
    """A copy of `atoms` (default `li6ps5cl()`) with `frozen_species` held fixed."""
    atoms = li6ps5cl() if atoms is None else atoms.copy()
    if frozen_species:
        from ase.constraints import FixAtoms
        unknown = sorted(set(frozen_species) - set(atoms.get_chemical_symbols()))
        if unknown:
            raise ValueError(f"frozen_species {unknown} are not in the structure")
        frozen = np.isin(atoms.get_chemical_symbols(), list(frozen_species))
        atoms.set_constraint(FixAtoms(np.flatnonzero(frozen)))
    return atoms


@contextlib.contextmanager
def _calculator(potential, species, charges):
    """Any ASE calculator as is (e.g. nequip's own, to cross-check the LAMMPS pair style); else a LAMMPS one,
    closed after use."""
    if isinstance(potential, BaseCalculator):
        yield potential
        return
    calc = calculator_for(potential, species=species, charges=charges)
    try:
        yield calc
    finally:
        calc.close()


def _bands(atoms: Atoms, calc, hops: Sequence[str], label: str, neb_kw: dict, preferred: dict | None = None):
    """(bands, why absent, index of the candidate used) per hop class; `preferred` gives a candidate index per
    class to try first."""
    results, absent, chosen = {}, {}, {}
    for name, candidates in hop_candidates(atoms, hops).items():
        first = (preferred or {}).get(name)
        order = list(range(len(candidates))) if first is None else [first] + [
            i for i in range(len(candidates)) if i != first]
        band, used, why = _hop_band(atoms, [candidates[i] for i in order], calc, name, label, neb_kw)
        if band is None:
            absent[name] = why
            warnings.warn(f"{label}: no {name} hop: {why}", stacklevel=3)
        else:
            results[name], chosen[name] = band, order[used]
    return results, absent, chosen


def _hop_band(atoms: Atoms, candidates: list[CanonicalHop], calc, name: str, label: str, neb_kw: dict):
    """(band, index in `candidates`, None) of the first candidate whose relaxed endpoints are two minima with a
    saddle between them (its `endpoints` says what was done), else (None, None, why no candidate is). After the
    first candidate (the built hop) come the vacancy hops (between sites the potential's Li occupy, so minima
    of it), then the other empty sites, which in the ordered cell are mostly equivalent to the built one."""
    ordered = [0] + [i for i, h in enumerate(candidates) if i and h.mechanism == "vacancy"] + [
        i for i, h in enumerate(candidates) if i and h.mechanism != "vacancy"]
    fmax, logfile = neb_kw["fmax"], neb_kw["logfile"]
    tried, relaxed_initial = [], {}
    for k, index in enumerate(ordered[:MAX_CANDIDATES]):
        hop = candidates[index]
        initial, final = hop_endpoints(atoms, hop)
        if hop.removed_index not in relaxed_initial:  # empty-site hops share their initial structure
            relaxed_initial[hop.removed_index] = (initial, relax(initial, calc, fmax, logfile=logfile))
        initial, ok_initial = relaxed_initial[hop.removed_index]
        ok_final = relax(final, calc, fmax, logfile=logfile)
        li = hop.li_index - (hop.removed_index is not None and hop.removed_index < hop.li_index)
        what = f"Li {hop.li_index} {hop.mechanism} {hop.distance_A:.2f} A hop"
        band, done, why = _elementary_band(initial.copy(), final, li, hop.distance_A, calc, f"{label} {name}",
                                           hop.mechanism, neb_kw)
        if band is None:
            tried.append(f"{what}: {'; '.join(done + [why])}")
            continue
        band.hop_distance_A, band.endpoints_relaxed = hop.distance_A, ok_initial and ok_final
        separation = _li_separation(band.images[0], band.images[-1], li)
        band.endpoints = "; ".join([f"{what}, relaxed endpoints {separation:.2f} A apart", *done])
        if tried:
            band.endpoints = f"re-chosen (candidate {k + 1}): {band.endpoints}; tried: {'; '.join(tried)}"
        return band, index, None
    return None, None, (f"no candidate pair has two distinct minima with a converged saddle between them "
                        f"({'; '.join(tried)}): the potential has no such hop")


def _li_separation(a: Atoms, b: Atoms, li: int) -> float:
    return float(find_mic(b.positions[li] - a.positions[li], a.cell, a.pbc)[1])


def _elementary_band(initial: Atoms, final: Atoms, li: int, hop_distance_A: float, calc, label: str,
                     mechanism: str, neb_kw: dict):
    """(band, what was done, None) of a converged band with a saddle between `initial` and `final` (relaxed),
    else (None, what was done, why not). A band that passes through a minimum lower than both endpoints has that
    image relaxed and put in place of the endpoint whose Li position it is nearer (the ends were not adjacent
    minima: typically other Li rearrange along the band), up to MAX_ENDPOINT_UPDATES times."""
    done = []
    for _ in range(MAX_ENDPOINT_UPDATES + 1):
        separation = _li_separation(initial, final, li)
        if separation < COLLAPSE_FRACTION * hop_distance_A:
            return None, done, f"endpoints relaxed into one minimum ({separation:.2f} A apart)"
        band = run_neb(initial, final, calc, relax_endpoints=False, label=label, mechanism=mechanism, **neb_kw)
        if band.intermediate_minimum is None:
            break
        low = band.images[band.intermediate_minimum].copy()
        relax(low, calc, neb_kw["fmax"], logfile=neb_kw["logfile"])
        side, end, e_end = (("initial", initial, band.energies_eV[0])
                            if _li_separation(low, initial, li) <= _li_separation(low, final, li)
                            else ("final", final, band.energies_eV[-1]))
        done.append(f"{side} endpoint replaced by a minimum {e_end - low.get_potential_energy():.3f} eV lower that "
                    f"the band passed through (moving Li {_li_separation(low, end, li):.2f} A away)")
        initial, final = (low, final) if side == "initial" else (initial, low)
    else:
        return None, done, f"the band still passes through lower minima after {MAX_ENDPOINT_UPDATES} replacements"
    if not band.saddle_found:
        return None, done, (f"no saddle between the relaxed endpoints ({separation:.2f} A apart; highest image at "
                            "an end)")
    if not band.converged:
        return None, done, (f"the band did not converge (max force {band.max_force_eV_A:.2f} eV/A after "
                            f"{band.n_steps} steps)")
    return band, done, None


li_migration_barriers.__doc__ = li_migration_barriers.__doc__ % ", ".join(_CSV_FIELDS)
barriers_against_reference.__doc__ = barriers_against_reference.__doc__ % ", ".join(_COMPARISON_FIELDS)


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
