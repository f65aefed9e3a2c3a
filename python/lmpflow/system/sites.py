"""Li sites of the argyrodite Li6PS5Cl: the 48h sites (occupied and empty), their cages, and the canonical
Li hops between them (what NEB barriers and any jump analysis are computed for).

In the ordered Li6PS5Cl cell (`lmpflow.li6ps5cl`) half of the 48h sites are empty: one Li
per 48h-24g-48h doublet. A hop therefore moves one Li into an EMPTY 48h site (no extra vacancy needed), and
the three canonical hops are found geometrically (`find_canonical_hops`):

* all 48 48h sites of each cubic cell are regenerated from an occupied Li position with the F-43m symmetry
  operations (so empty sites are known exactly);
* each 48h site belongs to the "cage" of its nearest cage centre; the cage centres are the special-position
  orbit (4a/4b/4c/4d) closest to the 48h sites (the free S on 4c in lmpflow's setting, ~2.4 A away);
* doublet = the shortest 48h-48h distance (~1.9 A, the pair straddling a 24g site), intra-cage = the next
  shortest distance between sites of the same cage (~2.3 A), inter-cage = the shortest distance between
  sites of different cages (~3 A; the path passes near 16e);
* the hop is the first (lowest index) occupied -> empty pair in that class. If the ordering leaves no empty
  site of a class next to any Li, the class falls back to a vacancy mechanism: the Li on the target site is
  removed first (recorded as mechanism "vacancy"). `hop_candidates` lists every pair of a class, empty
  targets first, then vacancy hops between two occupied sites: a potential on which an empty 48h site is no
  minimum (the Li relaxes back) still has hops between the sites its Li do occupy.

Units: Å.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from ase import Atoms

HOP_NAMES: tuple[str, ...] = ("doublet", "intra-cage", "inter-cage")


@dataclasses.dataclass
class CanonicalHop:
    """One Li hop: Li atom `li_index` moves to `target` (Cartesian, A, nearest image of the start)."""

    name: str            # "doublet" | "intra-cage" | "inter-cage"
    li_index: int        # index of the moving Li in the structure
    target: np.ndarray   # (3,) Cartesian target position, A (unwrapped: start + minimum-image displacement)
    distance_A: float    # straight-line hop length, A
    mechanism: str       # "empty-48h" (partner site empty in the ordered cell) or "vacancy"
    removed_index: int | None = None  # Li removed to make the vacancy (mechanism "vacancy"), index in input


_F_CENTRING = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
_SPECIAL_4 = {"4a": (0.0, 0.0, 0.0), "4b": (0.5, 0.5, 0.5), "4c": (0.25, 0.25, 0.25), "4d": (0.75, 0.75, 0.75)}


def _conventional_repeats(atoms: Atoms) -> np.ndarray:
    """Number of cubic F-43m cells along each axis of an orthogonal Li6PS5Cl supercell (4 P per cell)."""
    cell = atoms.cell.array
    if np.abs(cell - np.diag(np.diag(cell))).max() > 1e-6:
        raise ValueError("hop finding needs the orthogonal cubic (super)cell from lmpflow.li6ps5cl")
    n_cells = int(np.sum(np.array(atoms.get_chemical_symbols()) == "P")) / 4
    if n_cells < 1 or n_cells != int(n_cells):
        raise ValueError("structure is not Li6PS5Cl made of whole cubic cells (number of P is not 4 per cell)")
    a = (atoms.get_volume() / n_cells) ** (1 / 3)
    reps = np.rint(np.diag(cell) / a).astype(int)
    if np.prod(reps) != n_cells or np.abs(np.diag(cell) / reps - a).max() > 0.05 * a:
        raise ValueError(f"cannot split cell {np.diag(cell)} into {int(n_cells)} equal cubic cells")
    return reps


def li_48h_sites(atoms: Atoms):
    """All 48h sites of the supercell (Cartesian), the Li index on each (-1 = empty) and each site's cage id."""
    from ase.spacegroup import Spacegroup

    reps = _conventional_repeats(atoms)
    symbols = np.array(atoms.get_chemical_symbols())
    li = np.flatnonzero(symbols == "Li")
    if len(li) == 0:
        raise ValueError("structure holds no Li")
    ref = li[0]  # any Li generates the 48h orbit; prefer one labelled 48h by lmpflow.system.structures
    if "site" in atoms.arrays and np.any(atoms.arrays["site"][li] == "48h"):
        ref = li[atoms.arrays["site"][li] == "48h"][0]
    scaled = atoms.get_scaled_positions(wrap=True)
    f0 = (scaled[ref] * reps) % 1.0
    sg = Spacegroup(216)
    orbit = np.asarray(sg.equivalent_sites([f0], symprec=1e-3)[0])
    if len(orbit) != 48:
        raise ValueError(f"Li is not on an ideal 48h site (its orbit has {len(orbit)} sites, not 48); find hops "
                         "on the unrelaxed structure from lmpflow.li6ps5cl")
    shifts = np.array(np.meshgrid(*[np.arange(n) for n in reps], indexing="ij")).reshape(3, -1).T
    frac = ((orbit[None, :, :] + shifts[:, None, :]) / reps).reshape(-1, 3)
    cell = atoms.cell.array

    def mic(d):
        d = d - np.round(d)
        return d @ cell

    # which Li sits on which site (all Li must sit on one, within 0.3 A)
    d_li = np.linalg.norm(mic(scaled[li][:, None, :] - frac[None, :, :]), axis=-1)
    nearest = np.argmin(d_li, axis=1)
    if d_li[np.arange(len(li)), nearest].max() > 0.3:
        raise ValueError("some Li are > 0.3 A from any ideal 48h site; find hops on the unrelaxed structure")
    occupant = np.full(len(frac), -1)
    occupant[nearest] = li
    # cage centres: the special 4-fold orbit nearest to the 48h sites
    best = None
    for name, p in _SPECIAL_4.items():
        centres = ((np.array(p) + _F_CENTRING)[None] + shifts[:, None, :]) / reps
        centres = centres.reshape(-1, 3)
        d = np.linalg.norm(mic(frac[:, None, :] - centres[None]), axis=-1)
        if best is None or d.min() < best[1] - 1e-6:
            best = (name, d.min(), np.argmin(d, axis=1))
    cage = best[2]
    return frac @ cell, occupant, cage, frac, mic


def find_canonical_hops(atoms: Atoms, names: Sequence[str] = HOP_NAMES) -> dict[str, CanonicalHop]:
    """The doublet, intra-cage and inter-cage Li hops of an ordered Li6PS5Cl cell (see module docstring)."""
    return {name: candidates[0] for name, candidates in hop_candidates(atoms, names).items()}


def hop_candidates(atoms: Atoms, names: Sequence[str] = HOP_NAMES) -> dict[str, list[CanonicalHop]]:
    """Every Li hop of each class: occupied -> empty 48h pairs (lowest index first), then occupied -> occupied
    pairs as vacancy hops (the target's Li removed)."""
    bad = [n for n in names if n not in HOP_NAMES]
    if bad:
        raise ValueError(f"unknown hop names {bad}; choose from {HOP_NAMES}")
    pos, occupant, cage, frac, mic = li_48h_sites(atoms)
    dist = np.linalg.norm(mic(frac[:, None, :] - frac[None, :, :]), axis=-1)
    np.fill_diagonal(dist, np.inf)
    same = cage[:, None] == cage[None, :]
    tol = 0.05  # A; distance classes of the ideal lattice are > 0.3 A apart
    d_doublet = dist.min()
    d_intra = dist[same & (dist > d_doublet + tol)].min()
    d_inter = dist[~same].min()
    classes = {"doublet": (same, d_doublet), "intra-cage": (same, d_intra), "inter-cage": (~same, d_inter)}
    occ = occupant >= 0
    scaled = atoms.get_scaled_positions(wrap=False)
    hops = {}
    for name in names:
        relation, d_class = classes[name]
        in_class = relation & (np.abs(dist - d_class) < tol)
        hops[name] = []
        for mechanism, target_occupied in (("empty-48h", ~occ), ("vacancy", occ)):
            pairs = np.argwhere(in_class & occ[:, None] & target_occupied[None, :])
            for i, j in pairs[np.lexsort((pairs[:, 1], occupant[pairs[:, 0]]))]:
                li_index = int(occupant[i])
                # exact ideal site j, taken as the periodic image nearest to the moving Li
                target = atoms.positions[li_index] + mic(frac[j] - scaled[li_index])
                removed = int(occupant[j]) if mechanism == "vacancy" else None
                hops[name].append(CanonicalHop(name, li_index, target, float(dist[i, j]), mechanism, removed))
        if not hops[name]:
            raise RuntimeError(f"no 48h pair of class {name} found; structure is not argyrodite-like")
    return hops


def hop_endpoints(atoms: Atoms, hop: CanonicalHop) -> tuple[Atoms, Atoms]:
    """Unrelaxed initial and final structures of a hop (the vacancy Li removed for mechanism 'vacancy')."""
    initial = atoms.copy()
    final = atoms.copy()
    final.positions[hop.li_index] = hop.target
    if hop.removed_index is not None:
        del initial[hop.removed_index]
        del final[hop.removed_index]
    initial.calc = final.calc = None
    return initial, final
