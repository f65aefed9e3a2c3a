"""Known trajectories for the reader tests: random walks in fixed and breathing boxes."""

import numpy as np

ELEMENTS = ["Li"] * 6 + ["P"] * 2 + ["S"] * 3 + ["Cl"] * 1
ORTHO = np.diag([10.0, 11.0, 12.0])
TRICLINIC = np.array([[10.0, 0, 0], [2.5, 9.0, 0], [-1.5, 1.2, 11.0]])


def walk(n_frames=300, step=0.6, seed=0, n_atoms=len(ELEMENTS)):
    """Unwrapped Gaussian random walk starting inside the box, Å."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(0, 9, (n_atoms, 3))
    return start + np.cumsum(rng.normal(0, step, (n_frames, n_atoms, 3)), axis=0)


def npt_walk(n_frames=3000, seed=7):
    """Random walk in *fractional* coordinates inside a breathing box (NPT-like)."""
    rng = np.random.default_rng(seed)
    L0 = 10.0
    scale = 1 + 0.03 * np.sin(np.arange(n_frames) / 7.0) + 0.01 * rng.normal(size=n_frames)
    cells = L0 * scale[:, None, None] * np.eye(3)
    frac = rng.uniform(0, 1, (8, 3)) + np.cumsum(rng.normal(0, 0.1, (n_frames, 8, 3)), axis=0)
    return frac, cells, L0
