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
            raise KeyError(_unknown_species_message(sorted(unknown), self.species))
        return np.flatnonzero(np.isin(self.elements, names))

    def frame_interval_steps(self) -> int:
        """MD steps between frames; raises if frames are not evenly spaced."""
        if self.n_frames < 2:
            raise ValueError("need at least two frames for a frame interval")
        d = np.diff(self.timesteps)
        if np.any(d != d[0]) or d[0] <= 0:
            raise ValueError(_uneven_spacing_message(np.asarray(self.timesteps), d))
        return int(d[0])

    def slice_frames(self, start: int | None = None, stop: int | None = None) -> "Trajectory":
        """View of a contiguous range of frames (no copy)."""
        s = slice(start, stop)
        return dataclasses.replace(
            self, positions=self.positions[s], cells=self.cells[s],
            origins=self.origins[s], timesteps=self.timesteps[s],
        )


def _unknown_species_message(unknown: list[str], present: list[str]) -> str:
    msg = f"species {unknown} not in trajectory (has {present})"
    # Without an element column the reader names atoms by their LAMMPS type numbers, so an
    # element name can only be found once the types are named.
    if present and all(s.isdigit() for s in present) and not all(u.isdigit() for u in unknown):
        example = ", ".join(f"{t}: '...'" for t in present)
        msg += ("; the dump has no 'element' column, so atoms are named by their LAMMPS type: "
                f"name the types, e.g. read_dump(path, type_to_element={{{example}}}), or dump "
                "the element column (dump custom ... element, with dump_modify element)")
    return msg


def _uneven_spacing_message(timesteps: np.ndarray, d: np.ndarray) -> str:
    """Where the TIMESTEP grid breaks: the first interval that differs from the first one."""
    k = 0 if d[0] <= 0 else int(np.flatnonzero(d != d[0])[0])
    where = (f"frame {k + 1} (timestep {timesteps[k + 1]}) follows frame {k} (timestep "
             f"{timesteps[k]}) after {d[k]} steps")
    if k > 0:
        where = f"frames 0..{k} are {d[0]} steps apart, but " + where
    return (f"frames are not evenly spaced in TIMESTEP: {where} (intervals {np.unique(d)[:5]}); "
            "MSD with all time origins needs a uniform grid (two runs appended into one dump? "
            "analyse each part with slice_frames)")
