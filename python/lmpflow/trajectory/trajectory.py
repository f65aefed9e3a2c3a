"""The unwrapped trajectory a dump is read into, and the error a bad dump raises.

Units follow LAMMPS ``units metal``: lengths in Å, times in MD steps (the caller supplies
the step length in ps when computing transport properties).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np


class DumpFormatError(ValueError):
    """The dump is malformed, truncated or changes its atoms between frames."""


@dataclasses.dataclass
class Trajectory:
    """Unwrapped atomic trajectory sorted by atom id.

    Attributes
    ----------
    positions : (n_frames, n_atoms, 3) float64, unwrapped Cartesian positions in Å
        (possibly a read-only ``np.memmap`` of the cache file).
    cells : (n_frames, 3, 3) float64, lattice vectors a, b, c as rows, Å.
    origins : (n_frames, 3) float64, box origin (xlo, ylo, zlo), Å.
    timesteps : (n_frames,) int64, MD step numbers from ``ITEM: TIMESTEP``.
    ids : (n_atoms,) int64, LAMMPS atom ids, ascending.
    elements : (n_atoms,) str, element names (``element`` column) or, without
        one, the type numbers as strings ("1", "2", ...).
    types : (n_atoms,) int64 or None, LAMMPS atom types.
    source : path of the dump the trajectory came from, if any.
    """

    positions: np.ndarray
    cells: np.ndarray
    origins: np.ndarray
    timesteps: np.ndarray
    ids: np.ndarray
    elements: np.ndarray
    types: np.ndarray | None = None
    source: str | None = None

    @property
    def n_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_atoms(self) -> int:
        return int(self.positions.shape[1])

    @property
    def volumes_A3(self) -> np.ndarray:
        """Cell volume of every frame in Å³."""
        return np.abs(np.linalg.det(self.cells))

    @property
    def species(self) -> list[str]:
        """Distinct species names in order of first appearance."""
        return list(dict.fromkeys(self.elements.tolist()))

    def indices(self, species: str | Sequence[str]) -> np.ndarray:
        """Atom indices (columns of ``positions``) of one or several species."""
        names = [species] if isinstance(species, str) else list(species)
        unknown = set(names) - set(self.species)
        if unknown:
            raise KeyError(f"species {sorted(unknown)} not in trajectory (has {self.species})")
        return np.flatnonzero(np.isin(self.elements, names))

    def frame_interval_steps(self) -> int:
        """MD steps between frames; raises if frames are not evenly spaced."""
        if self.n_frames < 2:
            raise ValueError("need at least two frames for a frame interval")
        d = np.diff(self.timesteps)
        if np.any(d != d[0]) or d[0] <= 0:
            raise ValueError(
                "frames are not evenly spaced in TIMESTEP "
                f"(intervals {np.unique(d)[:5]}); MSD with all time origins needs a uniform grid"
            )
        return int(d[0])

    def slice_frames(self, start: int | None = None, stop: int | None = None) -> "Trajectory":
        """View of a contiguous range of frames (no copy)."""
        s = slice(start, stop)
        return dataclasses.replace(
            self, positions=self.positions[s], cells=self.cells[s],
            origins=self.origins[s], timesteps=self.timesteps[s],
        )

