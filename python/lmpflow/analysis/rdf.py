"""Partial radial distribution functions g_AB(r) of periodic frames (Å), averaged over frames.

Pairs come from ase's neighbour list, so r may exceed half the cell (small cells are fine). Normalised to an
ideal gas of the same density: g → 1 at large r in a liquid, and the first-shell coordination number is
n_AB(r) = ρ_B ∫ 4πr² g_AB dr.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class RDF:
    """g_AB(r) on bin centres r_A (Å) for centre species A around which B is counted."""

    pair: tuple[str, str]
    r_A: np.ndarray
    g: np.ndarray
    n_frames: int

    def first_peak_A(self, shell_width_A: float = 1.0) -> float:
        """Position (Å) of the highest bin within `shell_width_A` of the closest contact (the first shell)."""
        occupied = np.flatnonzero(self.g > 0)
        if not occupied.size:
            return float("nan")
        shell = (self.r_A >= self.r_A[occupied[0]]) & (self.r_A < self.r_A[occupied[0]] + shell_width_A)
        return float(self.r_A[shell][np.argmax(self.g[shell])])

    def to_json(self) -> dict:
        return {"pair": list(self.pair), "r_A": self.r_A.round(4).tolist(), "g": self.g.round(5).tolist(),
                "n_frames": self.n_frames, "first_peak_A": self.first_peak_A()}


def rdf(frames: Sequence, pair: tuple[str, str], r_max_A: float = 6.0, bin_A: float = 0.05) -> RDF:
    """Partial g_AB(r) of `pair` = (A, B) averaged over `frames` (ase.Atoms, periodic; the cell may change)."""
    from ase.neighborlist import neighbor_list

    frames = list(frames)
    if not frames:
        raise ValueError("rdf needs at least one frame")
    a, b = pair
    edges = np.arange(0.0, r_max_A + 0.5 * bin_A, bin_A)
    counts = np.zeros(len(edges) - 1)
    ideal = np.zeros(len(edges) - 1)
    shell_volume = 4.0 / 3.0 * np.pi * np.diff(edges ** 3)
    for atoms in frames:
        symbols = np.array(atoms.get_chemical_symbols())
        n_a, n_b = int(np.sum(symbols == a)), int(np.sum(symbols == b))
        if n_a == 0 or n_b == 0:
            raise ValueError(f"rdf {a}-{b}: a frame has no {a if n_a == 0 else b} atoms")
        i, j, d = neighbor_list("ijd", atoms, r_max_A)
        keep = (symbols[i] == a) & (symbols[j] == b)
        counts += np.histogram(d[keep], bins=edges)[0]
        # pairs an ideal gas of the same density would put in each shell (B counted around every A, no self)
        ideal += n_a * (n_b - (a == b)) / atoms.get_volume() * shell_volume
    return RDF(pair=(a, b), r_A=0.5 * (edges[1:] + edges[:-1]), g=counts / ideal, n_frames=len(frames))


def rdf_difference(x: RDF, y: RDF) -> float:
    """∫|g_x − g_y| dr / ∫ g_y dr over the common range: 0 for identical structure, ~1 for unrelated ones."""
    if x.pair != y.pair or x.r_A.shape != y.r_A.shape or not np.allclose(x.r_A, y.r_A):
        raise ValueError(f"RDFs {x.pair} and {y.pair} are not on the same pair and bins")
    return float(np.sum(np.abs(x.g - y.g)) / max(np.sum(y.g), 1e-12))
