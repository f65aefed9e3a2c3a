"""Positions of a read held in RAM (``read_dump(cache=False)``)."""

from __future__ import annotations

import numpy as np


class MemorySink:
    """Collects the unwrapped blocks and joins them at the end."""

    def __init__(self):
        self._blocks: list[np.ndarray] = []

    def expect(self, n_frames: int) -> None:
        """The number of frames the dump probably holds."""

    def buffer(self, n_frames: int, n_atoms: int) -> np.ndarray | None:
        """Where the next block may be assembled in place; None: in fresh memory."""
        return None

    def write(self, u: np.ndarray) -> None:
        self._blocks.append(u)

    def publish(self, n_frames: int, n_atoms: int, meta: dict) -> np.ndarray:
        return np.concatenate(self._blocks)

    def close(self) -> None:
        self._blocks = []
