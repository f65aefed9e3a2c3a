"""Nudged-elastic-band (NEB) minimum-energy paths with any ASE calculator (in lmpflow: LAMMPS `run 0` through
`lmpflow.lammps.calculator.LammpsCalculator`, so the ML pair styles and classical potentials alike).

ASE's NEB (climbing image, improved tangent) drives the band. Endpoints are relaxed at fixed cell (FIRE to
`fmax`), the band is pre-relaxed without climbing, then with the climbing image, to the stated force tolerance
(default 0.05 eV/Å). A pre-relaxed band whose profile dips below both endpoints between them is not one
elementary hop: a climbing image on it has no saddle to find and can climb off the band, so it is returned
unclimbed with `intermediate_minimum` set (`lmpflow.workflows.barriers` relaxes that image and re-runs).
Validated in tests against an analytic Morse saddle (barrier to < 1e-3 eV, climbing image on the saddle).
Which hops to run in Li6PS5Cl: `lmpflow.system.sites`. Units: eV, Å.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from lmpflow._host import atomic_write_text

DEFAULT_FMAX = 0.05  # eV/A, NEB and endpoint force tolerance
#: an interior image this far below both endpoints (eV) is a minimum of its own, not noise of the relaxation
INTERMEDIATE_MINIMUM_EV = 0.02


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
    endpoints: str = ""                  # how the endpoints were chosen (lmpflow.workflows.barriers)
    intermediate_minimum: int | None = None  # interior image in a minimum below both ends (band not climbed)
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
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1))

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


def intermediate_minimum(energies_eV: Sequence[float], tol_eV: float = INTERMEDIATE_MINIMUM_EV) -> int | None:
    """The lowest interior image that is a local minimum of the band profile and lies more than `tol_eV` below
    both endpoints, or None: the endpoints are then not adjacent minima."""
    e = np.asarray(energies_eV, float)
    dips = [k for k in range(1, len(e) - 1)
            if e[k] <= e[k - 1] and e[k] <= e[k + 1] and e[k] < min(e[0], e[-1]) - tol_eV]
    return min(dips, key=lambda k: e[k]) if dips else None


def run_neb(initial: Atoms, final: Atoms, calculator: Calculator, *, n_images: int = 5,
            fmax: float = DEFAULT_FMAX, relax_endpoints: bool = True, climb: bool = True, spring: float = 0.1,
            max_steps: int = 2000, interpolation: str = "idpp", label: str = "neb",
            mechanism: str = "", logfile: str | None = None) -> NebResult:
    """Climbing-image NEB between two structures (same atoms, same order, same cell).

    n_images: intermediate images. fmax: force tolerance (eV/A) for the endpoints and the band. The band is
    first relaxed without climbing to max(fmax, 0.3) eV/A, then with the climbing image to fmax, unless it
    has an `intermediate_minimum` (then it is returned as pre-relaxed, not converged). Constraints on
    `initial` (e.g. ase FixAtoms) are kept on every image. logfile: optimizer log ("-" for stdout; None: silent).
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
    n_steps, dip, converged = 0, None, False
    if climb:
        opt.run(fmax=max(fmax, 0.3), steps=max_steps // 4)
        n_steps += opt.nsteps
        dip = intermediate_minimum([im.get_potential_energy() for im in images])
        band.climb = True
        opt = FIRE(band, logfile=logfile)
    if dip is None:
        converged = bool(opt.run(fmax=fmax, steps=max_steps))
        n_steps += opt.nsteps
        dip = intermediate_minimum([im.get_potential_energy() for im in images])
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
        mechanism=mechanism, intermediate_minimum=dip, images=[im.copy() for im in images])


def smooth_path(result: NebResult, n: int = 200):
    """Piecewise cubic Hermite curve through the image energies using the path slopes (eV vs A)."""
    from scipy.interpolate import CubicHermiteSpline

    s = np.asarray(result.path_A)
    e = np.asarray(result.energies_eV) - result.energies_eV[0]
    if np.any(np.diff(s) <= 0):
        return s, e
    spline = CubicHermiteSpline(s, e, np.asarray(result.dE_ds_eV_A))
    fine = np.linspace(s[0], s[-1], n)
    return fine, spline(fine)
