"""Partial RDFs against structures with known answers: an ideal gas and a simple cubic lattice."""
from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from lmpflow.analysis.rdf import rdf, rdf_difference


def test_ideal_gas_is_one_and_cross_pairs_count_every_centre():
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(20):  # 60 A and 40 B atoms uniformly in a 10 Å box: g = 1 at every r, within counting noise
        frames.append(Atoms(["Li"] * 60 + ["S"] * 40, positions=rng.uniform(0, 10, (100, 3)), cell=[10] * 3, pbc=True))
    for pair in (("Li", "S"), ("S", "Li"), ("Li", "Li")):
        g = rdf(frames, pair, r_max_A=6.0, bin_A=0.5)
        far = g.g[g.r_A > 2.0]
        assert np.all(np.abs(far - 1) < 0.12), (pair, far)
        assert abs(far.mean() - 1) < 0.02


def test_simple_cubic_shells_and_coordination():
    a = 3.0
    grid = np.stack(np.meshgrid(*[np.arange(4)] * 3, indexing="ij"), -1).reshape(-1, 3) * a
    atoms = Atoms(["Li"] * len(grid), positions=grid, cell=[4 * a] * 3, pbc=True)
    g = rdf([atoms], ("Li", "Li"), r_max_A=4.5, bin_A=0.02)
    assert g.first_peak_A() == pytest.approx(a, abs=0.011)
    # n(r) = ρ ∫ 4πr² g dr (over each bin's shell volume): 6 neighbours at a, 12 more at a√2
    rho = (len(atoms) - 1) / atoms.get_volume()  # the other atoms around each one
    edges = np.append(g.r_A - 0.01, g.r_A[-1] + 0.01)
    n = np.cumsum(rho * 4 / 3 * np.pi * np.diff(edges ** 3) * g.g)
    assert n[g.r_A < 3.5][-1] == pytest.approx(6, rel=1e-9)
    assert n[g.r_A < 4.4][-1] == pytest.approx(18, rel=1e-9)
    assert rdf_difference(g, g) == 0.0


def test_bad_input_is_named():
    atoms = Atoms(["Li"] * 4, positions=np.eye(4, 3) * 2, cell=[5] * 3, pbc=True)
    with pytest.raises(ValueError, match="no S atoms"):
        rdf([atoms], ("Li", "S"))
    with pytest.raises(ValueError, match="at least one frame"):
        rdf([], ("Li", "Li"))
    g1 = rdf([atoms], ("Li", "Li"), bin_A=0.1)
    with pytest.raises(ValueError, match="same pair and bins"):
        rdf_difference(g1, rdf([atoms], ("Li", "Li"), bin_A=0.2))
