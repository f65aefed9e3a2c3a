"""Positions of a read held in RAM (``read_dump(cache=False)``)."""

from __future__ import annotations

import numpy as np

_GROWTH = 1.5


class MemorySink:
    """One (frames, atoms, 3) array, filled block by block and grown geometrically when
    the guessed frame count is exceeded: positions are never held twice, as joining
    blocks at the end would.  ``ndarray.resize`` reallocates in place, which for arrays
    this large moves pages (mremap) rather than copying them; pages reserved but never
    written cost no memory, and the unused tail is released at the end."""

    def __init__(self):
        self._arr: np.ndarray | None = None
        self._hint = 1
        self.n_frames = 0

    def expect(self, n_frames: int) -> None:
        """The number of frames the dump probably holds (the first allocation)."""
        self._hint = max(1, n_frames)

    def buffer(self, n_frames: int, n_atoms: int) -> np.ndarray:
        """The next ``n_frames`` rows of the result, to assemble a block in place."""
        self._reserve(n_frames, n_atoms)
        return self._arr[self.n_frames:self.n_frames + n_frames]

    def write(self, u: np.ndarray) -> None:
        nf = len(u)
        self._reserve(nf, u.shape[1])
        dst = self._arr[self.n_frames:self.n_frames + nf]
        if u.__array_interface__["data"][0] != dst.__array_interface__["data"][0]:
            dst[...] = u  # not assembled in place (unwrapping made new positions)
        self.n_frames += nf

    def publish(self, n_frames: int, n_atoms: int, meta: dict) -> np.ndarray:
        if self._arr is None:
            return np.empty((0, n_atoms, 3))
        arr, self._arr = self._arr, None
        arr.resize((self.n_frames, n_atoms, 3), refcheck=False)
        return arr

    def close(self) -> None:
        self._arr = None

    def _reserve(self, n_frames: int, n_atoms: int) -> None:
        need = self.n_frames + n_frames
        if self._arr is None:
            self._arr = np.empty((max(need, self._hint), n_atoms, 3))
        elif need > len(self._arr):
            # No view of the array is alive here (blocks are copied in, not kept).
            self._arr.resize((max(need, int(len(self._arr) * _GROWTH) + 1), n_atoms, 3),
                             refcheck=False)
