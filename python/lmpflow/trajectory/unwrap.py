"""Unwrapping of consecutive chunks of frames: image flags, minimum image, NPT increments.

With a constant box the unwrapped position is ``w + n·H`` with image counts ``n`` from
``ix iy iz`` or, when absent, accumulated from minimum-image increments between
consecutive frames (displacements must stay below half a box length per frame; the
increments are watched, see ``check_minimum_image``).  With a changing box (NPT) the
default is the "toroidal" scheme of von Bülow, Bullerjahn & Hummer (J. Chem. Phys. 153,
021101, 2020): positions are accumulated from per-frame increments taken in the current
box, because LAMMPS' own ``x + ix·Lx(t)`` adds spurious jumps ``ix·ΔLx`` that inflate the
MSD of fast diffusers.

For the frames of a constant box both schemes give the same positions, so the reader
starts with the constant-box formula and switches (``box_changed``) when it first sees
the box change: the frames already written stay valid and the file is read once.
"""

from __future__ import annotations

import numpy as np

from .dump_format import Layout
from .trajectory import DumpFormatError

NEAR_HALF_FRACTIONAL = 0.4  # a minimum-image increment this close to half a box is suspect
MAX_NEAR_HALF_FRACTION = 1e-3  # of all moves; a diffusive walk safe to unwrap stays far below


class Unwrapper:
    """Stateful unwrapping of consecutive chunks of frames, in file order."""

    def __init__(self, layout: Layout, npt_unwrap: str):
        self.unwrapped_input = layout.unwrapped
        self.position_columns = layout.position_columns
        self.npt_unwrap = npt_unwrap
        self.toroidal = False  # increments in the current box, once the box has changed
        self.moves = 0  # atom moves between consecutive frames unwrapped by minimum image
        self.moves_near_half = 0  # of which with a fractional increment above the threshold
        # Where the next chunk continues: last wrapped position, its image flags (None when
        # images are inferred), last unwrapped position, accumulated inferred image counts.
        self._w = self._img = self._u = self._n = None
        self._raw = None  # (r, cell, origin) of the last frame passed through unchanged

    @property
    def passthrough(self) -> bool:
        """Already-unwrapped coordinates are kept as they are unless the box changes and
        the caller asked for the toroidal scheme."""
        return self.unwrapped_input and not self.toroidal

    def box_changed(self) -> None:
        """The box differs from the first frame's from the next chunk on."""
        if self.npt_unwrap != "toroidal" or self.toroidal:
            return  # LAMMPS' convention is the constant-box formula with per-frame cells
        self.toroidal = True
        if self._raw is not None:  # continue from the last passed-through frame
            r, cell, origin = self._raw
            w, img = _split_unwrapped(r[None], cell[None], origin[None])
            self._w, self._img = w[0], img[0]

    def __call__(self, r: np.ndarray, img: np.ndarray | None, cells: np.ndarray,
                 origins: np.ndarray) -> np.ndarray:
        """Unwrapped positions (frames, atoms, 3) of the Cartesian positions ``r``."""
        if self.passthrough:
            self._raw = (r[-1].copy(), cells[-1], origins[-1])
            self._u = self._raw[0]
            return r
        if self.unwrapped_input:
            w, img = _split_unwrapped(r, cells, origins)
        else:
            w = r
            img = None if img is None else img.astype(np.float64)
        if self.toroidal:
            u = self._toroidal(w, img, cells)
        else:
            n = self._images_from_increments(w, cells) if img is None else img
            u = w + np.einsum("fai,fij->faj", n, cells)
        self._w, self._u = w[-1].copy(), u[-1].copy()
        self._img = None if img is None else img[-1].copy()
        return u

    def check_minimum_image(self, path) -> None:
        """Raise if too many inferred increments are near half a box: some were then
        steps the other way, and the MSD comes out too low without any other sign."""
        if not self.moves or self.moves_near_half <= MAX_NEAR_HALF_FRACTION * self.moves:
            return
        frac = self.moves_near_half / self.moves
        raise DumpFormatError(
            f"{path}: the dump has wrapped positions ({' '.join(self.position_columns)}) without "
            f"image flags, and {100 * frac:.2g} % of the atom moves between consecutive frames "
            f"({self.moves_near_half} of {self.moves}) span more than {NEAR_HALF_FRACTIONAL} of a "
            "box vector: atoms move so far between frames that the minimum-image unwrapping "
            "cannot tell a step from a step the other way, so the MSD and D would come out too "
            "low. Dump image flags (dump custom ... ix iy iz) or unwrapped coordinates "
            "(xu yu zu), or dump more often")

    def _min_image_jumps(self, dw: np.ndarray, cells: np.ndarray, skip_first: bool) -> np.ndarray:
        """Lattice jumps -rint(Δs) of fractional increments Δs, counting the suspect ones."""
        frac = np.einsum("fai,fij->faj", dw, np.linalg.inv(cells))
        jumps = np.rint(frac)
        near = (np.abs(frac - jumps) > NEAR_HALF_FRACTIONAL).any(axis=2)
        self.moves += near.size - (near.shape[1] if skip_first else 0)
        self.moves_near_half += int(np.count_nonzero(near))
        return -jumps

    def _images_from_increments(self, w: np.ndarray, cells: np.ndarray) -> np.ndarray:
        """Image counts from minimum-image frame-to-frame increments."""
        first = self._w is None
        prev = w[:1] if first else self._w[None]
        dw = np.diff(np.concatenate([prev, w]), axis=0)
        # A crossing shows up as a jump of one cell vector.
        jumps = self._min_image_jumps(dw, cells, skip_first=first)
        start = np.zeros_like(w[0]) if self._n is None else self._n
        n = start + np.cumsum(jumps, axis=0)
        self._n = n[-1].copy()
        return n

    def _toroidal(self, w: np.ndarray, img: np.ndarray | None, cells: np.ndarray) -> np.ndarray:
        """Accumulate increments taken in the current box (von Bülow et al. 2020)."""
        first = self._w is None
        if first:
            u0 = w[0] + (0 if img is None else img[0] @ cells[0])
            prev_w, prev_n = w[0], (None if img is None else img[0])
        else:
            u0, prev_w, prev_n = self._u, self._w, self._img
        dw = np.diff(np.concatenate([prev_w[None], w]), axis=0)
        if img is None:
            dn = self._min_image_jumps(dw, cells, skip_first=first)
        else:
            dn = np.diff(np.concatenate([prev_n[None], img]), axis=0)
        d = dw + np.einsum("fai,fij->faj", dn, cells)
        return u0 + np.cumsum(d, axis=0)


def _split_unwrapped(r: np.ndarray, cells: np.ndarray,
                     origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wrapped positions and image counts of unwrapped ones: r = w + n·H."""
    frac = np.einsum("fai,fij->faj", r - origins[:, None], np.linalg.inv(cells))
    img = np.floor(frac)
    return r - np.einsum("fai,fij->faj", img, cells), img
