"""Nudged-elastic-band (NEB) Li migration barriers in Li6PS5Cl with any LAMMPS pair style.

Method.  ASE's NEB (climbing image, improved tangent) drives the band; every energy/force call goes to
LAMMPS through `LammpsCalculator`, a small ASE calculator over the `lammps` Python module that scatters
positions and runs `run 0`. The pair style enters only as text (`pair_lines`), so the same code evaluates
the lmpflow ML pair styles (`pair_style lmpflow/allegro|nequip`) or any classical potential. One LAMMPS
instance is shared by all images (serial; the band is cheap compared with MD). LAMMPS's own `fix neb`
would need one MPI partition per image; the in-process route is simpler, works with any pair style and is
validated in tests against an analytic Morse saddle (barrier to < 1e-3 eV, climbing image on the saddle).

Hops.  In the ordered Li6PS5Cl cell (`lmpflow.structures.li6ps5cl`) half of the 48h sites are empty: one Li
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
  removed first (recorded as mechanism "vacancy").

Endpoints are relaxed at fixed cell (FIRE to `fmax`), the band is pre-relaxed without climbing, then with the
climbing image, to the stated force tolerance (default 0.05 eV/A). Units: eV, A.
"""
from __future__ import annotations

import csv
import ctypes
import dataclasses
import json
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.data import atomic_masses, atomic_numbers

HOP_NAMES: tuple[str, ...] = ("doublet", "intra-cage", "inter-cage")
DEFAULT_FMAX = 0.05  # eV/A, NEB and endpoint force tolerance

__all__ = [
    "HOP_NAMES", "LammpsCalculator", "CanonicalHop", "NebResult", "find_canonical_hops", "hop_endpoints",
    "relax", "run_neb", "plot_neb", "li_migration_barriers", "potential_pair_lines", "write_neb_outputs",
    "read_neb_barriers",
]


# ----------------------------------------------------------------------------------------------------------
# LAMMPS as an ASE calculator
# ----------------------------------------------------------------------------------------------------------
class LammpsCalculator(Calculator):
    """ASE calculator evaluating energy (eV) and forces (eV/A) with LAMMPS `run 0`.

    pair_lines: LAMMPS commands defining the interaction, e.g. ["pair_style lmpflow/allegro",
    "pair_coeff * * model.nequip.pt2 Li P S Cl"] or a classical potential. species: chemical symbol of each
    LAMMPS type in type order (default Li, P, S, Cl); every atom's symbol must be in it. charges: optional
    {symbol: charge in e} for pair styles that need charges (then atom_style charge is used).
    The LAMMPS box is rebuilt only when the cell, pbc or atom types change; otherwise positions are scattered.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, pair_lines: Sequence[str], species: Sequence[str] | None = None, *,
                 charges: dict[str, float] | None = None, extra_lines: Sequence[str] = (), **kwargs):
        super().__init__(**kwargs)
        if isinstance(pair_lines, str):
            pair_lines = [ln for ln in pair_lines.splitlines() if ln.strip()]
        pair_lines = [str(ln).strip() for ln in pair_lines]
        if not any(ln.startswith("pair_style") for ln in pair_lines):
            raise ValueError(f"pair_lines {pair_lines!r} contain no 'pair_style' command; pass the pair_style "
                             "and pair_coeff lines of the potential")
        if species is None:
            from lmpflow.structures import SPECIES
            species = SPECIES
        unknown = [s for s in species if s not in atomic_numbers]
        if unknown:
            raise ValueError(f"species {unknown} are not chemical symbols")
        self.pair_lines = list(pair_lines)
        self.species = tuple(species)
        self.charges = dict(charges) if charges else None
        self.extra_lines = list(extra_lines)
        self._lmp = None
        self._key = None  # (cell, pbc, types) the LAMMPS box was built for
        self._prism = None
        self.n_calls = 0

    # -- LAMMPS instance management
    def _types(self, atoms: Atoms) -> np.ndarray:
        symbols = atoms.get_chemical_symbols()
        missing = sorted(set(symbols) - set(self.species))
        if missing:
            raise ValueError(f"atoms contain {missing} but the LAMMPS types are {self.species}; pass "
                             "species= listing every element in LAMMPS type order")
        return np.array([self.species.index(s) + 1 for s in symbols], dtype=np.int32)

    def _build(self, atoms: Atoms, types: np.ndarray) -> None:
        from ase.calculators.lammps.coordinatetransform import Prism
        from lmpflow._lammps import lammps_class

        if not np.all(atoms.pbc):
            raise ValueError("LammpsCalculator needs a fully periodic cell (atoms.pbc all True); put molecules "
                             "or clusters in a large periodic box")
        self.close()
        self._prism = Prism(atoms.cell.array, pbc=True)
        xhi, yhi, zhi, xy, xz, yz = (float(v) for v in self._prism.get_lammps_prism())
        lmp = lammps_class()(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
        style = "charge" if self.charges else "atomic"
        cmds = ["units metal", f"atom_style {style}", "atom_modify map array sort 0 0.0", "boundary p p p"]
        if abs(xy) + abs(xz) + abs(yz) > 0:
            cmds.append(f"region box prism 0 {xhi!r} 0 {yhi!r} 0 {zhi!r} {xy!r} {xz!r} {yz!r} units box")
        else:
            cmds.append(f"region box block 0 {xhi!r} 0 {yhi!r} 0 {zhi!r} units box")
        cmds.append(f"create_box {len(self.species)} box")
        cmds += [f"mass {i + 1} {float(atomic_masses[atomic_numbers[s]])!r}" for i, s in enumerate(self.species)]
        lmp.commands_list(cmds)
        x = self._prism.vector_to_lammps(atoms.positions, wrap=True)
        n = len(atoms)
        lmp.create_atoms(n, list(range(1, n + 1)), [int(t) for t in types], x.ravel().tolist())
        if self.charges:
            for i, s in enumerate(self.species):
                lmp.command(f"set type {i + 1} charge {float(self.charges.get(s, 0.0))!r}")
        try:
            lmp.commands_list(self.pair_lines + self.extra_lines + ["thermo_style one", "run 0 post no"])
        except Exception as exc:  # LAMMPS raises a bare exception text; say what was being set up
            lmp.close()
            raise RuntimeError(f"LAMMPS rejected the pair lines {self.pair_lines}: {exc}") from exc
        if lmp.get_natoms() != n:
            lmp.close()
            raise RuntimeError(f"LAMMPS holds {lmp.get_natoms()} atoms instead of {n}; atoms were lost")
        self._lmp = lmp

    def close(self) -> None:
        """Free the LAMMPS instance (a new one is created on the next calculation)."""
        if self._lmp is not None:
            self._lmp.close()
        self._lmp = None
        self._key = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        types = self._types(atoms)
        key = (atoms.cell.array.tobytes(), tuple(atoms.pbc), types.tobytes())
        if self._lmp is None or key != self._key:
            self._build(atoms, types)
            self._key = key
        n = len(atoms)
        x = self._prism.vector_to_lammps(atoms.positions, wrap=True)
        self._lmp.scatter_atoms("x", 1, 3, (ctypes.c_double * (3 * n))(*x.ravel()))
        self._lmp.command("run 0 post no")
        energy = float(self._lmp.get_thermo("pe"))
        f = np.ctypeslib.as_array(self._lmp.gather_atoms("f", 1, 3)).reshape(n, 3).copy()
        self.n_calls += 1
        self.results = {"energy": energy, "free_energy": energy, "forces": self._prism.vector_to_ase(f)}


def potential_pair_lines(potential, species: Sequence[str] | None = None) -> tuple[list[str], tuple[str, ...]]:
    """(pair lines, species in LAMMPS type order) for what the user calls a potential.

    potential: a list of LAMMPS pair lines (species default Li, P, S, Cl), an `lmpflow.inputs.Potential`
    (ML model or classical lines), or a path to a compiled model / a file of pair lines.
    """
    if isinstance(potential, (list, tuple)) and all(isinstance(x, str) for x in potential):
        from lmpflow.structures import SPECIES
        return [str(x) for x in potential], tuple(species or SPECIES)
    from lmpflow.inputs import Potential, as_potential  # written by the inputs helper

    pot = potential if isinstance(potential, Potential) else as_potential(potential)
    return list(pot.lammps_pair_lines()), tuple(pot.species)


# ----------------------------------------------------------------------------------------------------------
# Canonical hops in ordered Li6PS5Cl
# ----------------------------------------------------------------------------------------------------------
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
        raise ValueError("hop finding needs the orthogonal cubic (super)cell from lmpflow.structures.li6ps5cl")
    n_cells = int(np.sum(np.array(atoms.get_chemical_symbols()) == "P")) / 4
    if n_cells < 1 or n_cells != int(n_cells):
        raise ValueError("structure is not Li6PS5Cl made of whole cubic cells (number of P is not 4 per cell)")
    a = (atoms.get_volume() / n_cells) ** (1 / 3)
    reps = np.rint(np.diag(cell) / a).astype(int)
    if np.prod(reps) != n_cells or np.abs(np.diag(cell) / reps - a).max() > 0.05 * a:
        raise ValueError(f"cannot split cell {np.diag(cell)} into {int(n_cells)} equal cubic cells")
    return reps


def _li_48h_sites(atoms: Atoms):
    """All 48h sites of the supercell (Cartesian), the Li index on each (-1 = empty) and each site's cage id."""
    from ase.spacegroup import Spacegroup

    reps = _conventional_repeats(atoms)
    symbols = np.array(atoms.get_chemical_symbols())
    li = np.flatnonzero(symbols == "Li")
    if len(li) == 0:
        raise ValueError("structure holds no Li")
    ref = li[0]  # any Li generates the 48h orbit; prefer one labelled 48h by lmpflow.structures
    if "site" in atoms.arrays and np.any(atoms.arrays["site"][li] == "48h"):
        ref = li[atoms.arrays["site"][li] == "48h"][0]
    scaled = atoms.get_scaled_positions(wrap=True)
    f0 = (scaled[ref] * reps) % 1.0
    sg = Spacegroup(216)
    orbit = np.asarray(sg.equivalent_sites([f0], symprec=1e-3)[0])
    if len(orbit) != 48:
        raise ValueError(f"Li is not on an ideal 48h site (its orbit has {len(orbit)} sites, not 48); find hops "
                         "on the unrelaxed structure from lmpflow.structures.li6ps5cl")
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
    bad = [n for n in names if n not in HOP_NAMES]
    if bad:
        raise ValueError(f"unknown hop names {bad}; choose from {HOP_NAMES}")
    pos, occupant, cage, frac, mic = _li_48h_sites(atoms)
    dist = np.linalg.norm(mic(frac[:, None, :] - frac[None, :, :]), axis=-1)
    np.fill_diagonal(dist, np.inf)
    same = cage[:, None] == cage[None, :]
    tol = 0.05  # A; distance classes of the ideal lattice are > 0.3 A apart
    d_doublet = dist.min()
    d_intra = dist[same & (dist > d_doublet + tol)].min()
    d_inter = dist[~same].min()
    classes = {"doublet": (same, d_doublet), "intra-cage": (same, d_intra), "inter-cage": (~same, d_inter)}
    hops = {}
    for name in names:
        relation, d_class = classes[name]
        in_class = relation & (np.abs(dist - d_class) < tol)
        occ = occupant >= 0
        pairs = np.argwhere(in_class & occ[:, None] & ~occ[None, :])
        mechanism, removed = "empty-48h", None
        if len(pairs) == 0:  # no empty partner of this class anywhere: make a vacancy on an occupied one
            pairs = np.argwhere(in_class & occ[:, None] & occ[None, :])
            mechanism = "vacancy"
        if len(pairs) == 0:
            raise RuntimeError(f"no 48h pair of class {name} found; structure is not argyrodite-like")
        i, j = (int(k) for k in pairs[np.lexsort((pairs[:, 1], occupant[pairs[:, 0]]))][0])
        li_index = int(occupant[i])
        start = atoms.positions[li_index]
        # exact ideal site j, taken as the periodic image nearest to the moving Li
        target = start + mic(frac[j] - atoms.get_scaled_positions(wrap=False)[li_index])
        if mechanism == "vacancy":
            removed = int(occupant[j])
        hops[name] = CanonicalHop(name, li_index, target, float(dist[i, j]), mechanism, removed)
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


# ----------------------------------------------------------------------------------------------------------
# Relaxation and NEB
# ----------------------------------------------------------------------------------------------------------
def relax(atoms: Atoms, calculator: Calculator, fmax: float = DEFAULT_FMAX, steps: int = 1000,
          logfile: str | None = None) -> bool:
    """Relax positions at fixed cell until max |F| < fmax (eV/A); returns whether it converged."""
    from ase.optimize import FIRE

    atoms.calc = calculator
    opt = FIRE(atoms, logfile=logfile)
    return bool(opt.run(fmax=fmax, steps=steps))


@dataclasses.dataclass
class NebResult:
    """A converged (or not) minimum-energy path. Energies in eV, distances in A, forces in eV/A."""

    label: str
    energies_eV: list[float]             # absolute image energies, initial .. final
    path_A: list[float]                  # reaction coordinate: cumulative image-to-image distance
    dE_ds_eV_A: list[float]              # energy slope along the path at each image (-F . tangent)
    barrier_forward_eV: float            # E(saddle) - E(initial)
    barrier_backward_eV: float           # E(saddle) - E(final)
    reaction_energy_eV: float            # E(final) - E(initial)
    climbing_index: int                  # image index of the highest energy (the climbing image)
    saddle_position_A: list[float] | None  # position of the moving atom at the climbing image
    moving_atom: int | None              # index of the atom with the largest displacement
    hop_distance_A: float                # straight distance the moving atom travels
    converged: bool
    fmax_eV_A: float                     # requested tolerance
    max_force_eV_A: float                # achieved max NEB force
    n_steps: int
    n_images: int                        # including both endpoints
    endpoints_relaxed: bool
    mechanism: str = ""
    images: list[Atoms] | None = dataclasses.field(default=None, repr=False)

    @property
    def saddle_found(self) -> bool:
        """False when the highest image is an endpoint: then no barrier lies between the two states (the
        'barrier' is just the energy difference) and the hop is not activated on this potential."""
        return 0 < self.climbing_index < self.n_images - 1

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("images")
        d["saddle_found"] = self.saddle_found
        return d

    def write_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def read_json(cls, path: str | Path) -> "NebResult":
        d = json.loads(Path(path).read_text())
        d.pop("saddle_found", None)
        return cls(**d)


def _path_quantities(images: Sequence[Atoms]):
    """Reaction coordinate (A) and dE/ds (eV/A) from image positions and forces (central-difference tangent)."""
    pos = [im.positions for im in images]
    steps = [np.linalg.norm(pos[i + 1] - pos[i]) for i in range(len(pos) - 1)]
    s = np.concatenate([[0.0], np.cumsum(steps)])
    slopes = []
    for i, im in enumerate(images):
        lo, hi = max(i - 1, 0), min(i + 1, len(images) - 1)
        t = pos[hi] - pos[lo]
        t /= np.linalg.norm(t)
        slopes.append(float(-np.vdot(im.get_forces(), t)))
    return s, np.array(slopes)


def run_neb(initial: Atoms, final: Atoms, calculator: Calculator, *, n_images: int = 5,
            fmax: float = DEFAULT_FMAX, relax_endpoints: bool = True, climb: bool = True, spring: float = 0.1,
            max_steps: int = 2000, interpolation: str = "idpp", label: str = "neb",
            mechanism: str = "", logfile: str | None = None) -> NebResult:
    """Climbing-image NEB between two structures (same atoms, same order, same cell).

    n_images: intermediate images. fmax: force tolerance (eV/A) for the endpoints and the band. The band is
    first relaxed without climbing to max(fmax, 0.3) eV/A, then with the climbing image to fmax.
    Constraints on `initial` (e.g. ase FixAtoms) are kept on every image. logfile: optimizer log
    ("-" for stdout; None: silent).
    """
    from ase.mep import NEB
    from ase.optimize import FIRE

    if len(initial) != len(final) or initial.get_chemical_symbols() != final.get_chemical_symbols():
        raise ValueError("initial and final structures must hold the same atoms in the same order")
    if not np.allclose(initial.cell.array, final.cell.array):
        raise ValueError("initial and final cells differ; NEB here is at fixed cell")
    if n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {n_images}")
    a, b = initial.copy(), final.copy()
    b.set_constraint(initial.constraints)
    relaxed = True
    if relax_endpoints:
        relaxed = relax(a, calculator, fmax, logfile=logfile) & relax(b, calculator, fmax, logfile=logfile)
    images = [a] + [a.copy() for _ in range(n_images)] + [b]
    # final positions as the nearest periodic image of the initial ones, so interpolation takes short paths
    d = b.positions - a.positions
    frac = np.linalg.solve(a.cell.array.T, d.T).T
    b.positions = a.positions + (frac - np.round(frac)) @ a.cell.array
    for im in images:
        im.calc = calculator
    band = NEB(images, k=spring, climb=False, method="improvedtangent", allow_shared_calculator=True)
    band.interpolate(method=interpolation, mic=False, apply_constraint=True)
    opt = FIRE(band, logfile=logfile)
    n_steps = 0
    if climb:
        opt.run(fmax=max(fmax, 0.3), steps=max_steps // 4)
        n_steps += opt.nsteps
        band.climb = True
        opt = FIRE(band, logfile=logfile)
    converged = bool(opt.run(fmax=fmax, steps=max_steps))
    n_steps += opt.nsteps
    energies = np.array([im.get_potential_energy() for im in images])
    max_force = float(np.sqrt((band.get_forces() ** 2).sum(axis=1).max()))
    s, slopes = _path_quantities(images)
    top = int(np.argmax(energies))
    disp = np.linalg.norm(images[-1].positions - images[0].positions, axis=1)
    mover = int(np.argmax(disp))
    return NebResult(
        label=label, energies_eV=energies.tolist(), path_A=s.tolist(), dE_ds_eV_A=slopes.tolist(),
        barrier_forward_eV=float(energies[top] - energies[0]),
        barrier_backward_eV=float(energies[top] - energies[-1]),
        reaction_energy_eV=float(energies[-1] - energies[0]), climbing_index=top,
        saddle_position_A=images[top].positions[mover].tolist(), moving_atom=mover,
        hop_distance_A=float(disp[mover]), converged=converged, fmax_eV_A=float(fmax),
        max_force_eV_A=max_force, n_steps=int(n_steps), n_images=len(images), endpoints_relaxed=bool(relaxed),
        mechanism=mechanism, images=[im.copy() for im in images])


def _smooth_path(result: NebResult, n: int = 200):
    """Piecewise cubic Hermite curve through the image energies using the path slopes (eV vs A)."""
    from scipy.interpolate import CubicHermiteSpline

    s = np.asarray(result.path_A)
    e = np.asarray(result.energies_eV) - result.energies_eV[0]
    if np.any(np.diff(s) <= 0):
        return s, e
    spline = CubicHermiteSpline(s, e, np.asarray(result.dE_ds_eV_A))
    fine = np.linspace(s[0], s[-1], n)
    return fine, spline(fine)


def plot_neb(results: NebResult | Sequence[NebResult], png: str | Path, title: str | None = None) -> Path:
    """Plot energy (relative to each path's initial state, eV) vs reaction coordinate (A) to a PNG."""
    from matplotlib.figure import Figure

    from .plots import save_figure

    if isinstance(results, NebResult):
        results = [results]
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    for r in results:
        fine_s, fine_e = _smooth_path(r)
        line, = ax.plot(fine_s, fine_e, "-", lw=1.5)
        e = np.asarray(r.energies_eV) - r.energies_eV[0]
        ax.plot(r.path_A, e, "o", color=line.get_color(),
                label=f"{r.label}: {r.barrier_forward_eV:.3f} / {r.barrier_backward_eV:.3f} eV")
        ax.plot(r.path_A[r.climbing_index], e[r.climbing_index], "*", ms=12, color=line.get_color())
    ax.set_xlabel("reaction coordinate (Å)")
    ax.set_ylabel("E − E(initial) (eV)")
    ax.set_title(title or "NEB (forward / backward barrier)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, png)


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

    potential: LAMMPS pair_style/pair_coeff lines, an `lmpflow.inputs.Potential`, a model file path
    (see `potential_pair_lines`), or any ASE calculator (used as is). atoms: the unrelaxed ordered structure (default `li6ps5cl()`, one cubic
    cell, 52 atoms). frozen_species: elements held fixed (e.g. ("P", "S", "Cl") for a frozen-framework
    barrier); default: every atom relaxes.
    Writes, if out_dir is given: neb_<hop>.json, neb_<hop>.png, neb_paths.png and neb_barriers.csv with
    one row per hop (fields: %s).
    """
    if atoms is None:
        from lmpflow.structures import li6ps5cl
        atoms = li6ps5cl()
    from ase.calculators.calculator import BaseCalculator

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
        pair_lines, species = potential_pair_lines(potential, species)
        calc = LammpsCalculator(pair_lines, species, charges=charges)
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
    csv_path = out / "neb_barriers.csv"
    with open(csv_path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=_CSV_FIELDS)
        w.writeheader()
        for name, r in results.items():
            row = {k: getattr(r, k) for k in _CSV_FIELDS if hasattr(r, k)}
            row.update(label=label, hop=name)
            w.writerow(row)
    return csv_path


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
