"""Framework mobility: a vibrating host is a solid, a diffusing one is flagged, on trajectories with a known
answer (harmonic vibration about fixed sites vs a random walk of known D)."""
from __future__ import annotations

import numpy as np
import pytest

from lmpflow.analysis.diffusion import A2_PER_PS_TO_CM2_PER_S
from lmpflow.analysis.framework import framework_mobility
from lmpflow.trajectory import Trajectory

BOX, FRAMES, DT_PS = 20.0, 400, 0.05


def _trajectory(rng, host_D_A2_ps: dict, n_li=16, n_host=12) -> Trajectory:
    """Li random walk (D = 0.5 Å²/ps); each host species vibrates (0.1 Å) about its site, plus a random walk of
    D host_D_A2_ps[species] (0: a solid)."""
    species = ["Li"] * n_li + [s for s in host_D_A2_ps for _ in range(n_host)]
    steps = np.zeros((FRAMES, len(species), 3))
    for k, s in enumerate(species):
        D = 0.5 if s == "Li" else host_D_A2_ps[s]
        steps[1:, k] = rng.normal(0.0, np.sqrt(2 * D * DT_PS), (FRAMES - 1, 3))
    sites = rng.uniform(0, BOX, (len(species), 3))
    pos = sites + np.cumsum(steps, axis=0) + rng.normal(0, 0.1, (FRAMES, len(species), 3))
    return Trajectory(pos, np.tile(np.eye(3) * BOX, (FRAMES, 1, 1)), np.zeros((FRAMES, 3)),
                      np.arange(FRAMES) * 10, np.arange(1, len(species) + 1), np.array(species))


def test_solid_framework_holds():
    fw = framework_mobility(_trajectory(np.random.default_rng(1), {"P": 0.0, "S": 0.0, "Cl": 0.0}),
                            ["P", "S", "Cl"], dt_ps=DT_PS)
    assert fw.mobile == () and fw.warning() is None
    for s in fw.species:
        assert fw.msd_A2[s][1] == pytest.approx(2 * 3 * 0.1**2, rel=0.5)  # the vibrational plateau, 0.06 Å²
        assert abs(fw.D_cm2_s[s]) < 1e-6


def test_molten_framework_is_flagged_with_its_D():
    D = 0.05  # Å²/ps: a tenth of Li's
    fw = framework_mobility(_trajectory(np.random.default_rng(2), {"P": D, "S": D, "Cl": 0.0}), ["P", "S", "Cl"],
                            dt_ps=DT_PS)
    assert fw.mobile == ("P", "S")
    assert fw.D_cm2_s["P"] == pytest.approx(D * A2_PER_PS_TO_CM2_PER_S, rel=0.35)
    assert "molten or amorphising" in fw.warning() and "P " in fw.warning() and "Cl" not in fw.warning()


def test_rotating_sulfur_alone_is_named_as_such():
    fw = framework_mobility(_trajectory(np.random.default_rng(3), {"P": 0.0, "S": 0.05}), ["P", "S", "Cl"],
                            dt_ps=DT_PS)
    assert fw.species == ("P", "S") and fw.mobile == ("S",) and "PS4 units may rotate" in fw.warning()


def test_no_framework_species():
    with pytest.raises(ValueError, match="none of the framework species"):
        framework_mobility(_trajectory(np.random.default_rng(4), {}), ["P"], dt_ps=DT_PS)


def test_detection_rates_over_replicas():
    """200 replicas each (12 P atoms, 20 ps): a vibrating framework is never flagged; one diffusing at a tenth
    of Li's D is flagged in at least 98 % of them (199 here)."""
    solid = sum(bool(framework_mobility(_trajectory(np.random.default_rng(100 + k), {"P": 0.0}), ["P"],
                                        dt_ps=DT_PS).mobile) for k in range(200))
    molten = sum(bool(framework_mobility(_trajectory(np.random.default_rng(500 + k), {"P": 0.05}), ["P"],
                                         dt_ps=DT_PS).mobile) for k in range(200))
    assert solid == 0 and molten >= 196, (solid, molten)
