"""Diffusion coefficient, fit window and the calibration of σ_D against random walks with known D."""

import math
import warnings

import numpy as np
import pytest

from lmpflow.analysis import diffusion_coefficient, fit_window, msd
from lmpflow.plots import plot_msd

from .walks import D_TRUE_CM2_S, DT_PS, make_traj, random_walk, replicas


def test_random_walk_D_and_units():
    rng = np.random.default_rng(1)
    res = msd(make_traj(random_walk(rng, n=128)), "Li", timestep_ps=0.01,
              drift_correction=False)
    assert res.dt_ps == pytest.approx(DT_PS)  # 10 steps of 0.01 ps
    d = diffusion_coefficient(res)
    assert d.D_cm2_s == pytest.approx(D_TRUE_CM2_S, rel=0.08)
    assert abs(d.D_cm2_s - D_TRUE_CM2_S) < 4 * d.sigma_D_cm2_s
    np.testing.assert_allclose(d.D_axes_cm2_s, D_TRUE_CM2_S, rtol=0.12)
    lo, hi = d.ci()
    assert lo < d.D_cm2_s < hi
    # Units by hand: 6 D t = MSD  ->  D [Å²/ps] · 1e-4 = D [cm²/s].
    t = 10.0
    assert res.total_A2[int(t / DT_PS)] == pytest.approx(6 * D_TRUE_CM2_S / 1e-4 * t, rel=0.1)


def test_anisotropic_walk_per_axis():
    rng = np.random.default_rng(2)
    steps = rng.normal(0, 1, (2000, 64, 3)) * np.array([0.1, 0.3, 0.5])
    res = msd(make_traj(np.cumsum(steps, axis=0)), "Li", dt_ps=DT_PS, drift_correction=False)
    d = diffusion_coefficient(res)
    expect = np.array([0.1, 0.3, 0.5]) ** 2 / (2 * DT_PS) * 1e-4
    np.testing.assert_allclose(d.D_axes_cm2_s, expect, rtol=0.2)
    assert np.all(np.abs(d.D_axes_cm2_s - expect) < 4 * d.sigma_D_axes_cm2_s)
    assert d.D_cm2_s == pytest.approx(expect.mean(), rel=0.1)


def test_sigma_D_is_calibrated_against_replica_spread():
    # Across 24 independent replicas the reported single-trajectory σ_D must
    # match the observed spread of D within a factor 1.5 (an OLS slope error
    # would be ~100x too small here).
    rng = np.random.default_rng(11)
    Ds, sig = [], []
    for _ in range(24):
        res = msd(make_traj(random_walk(rng, n=32, T=1000)), "Li", dt_ps=DT_PS,
                  drift_correction=False)
        d = diffusion_coefficient(res)
        Ds.append(d.D_cm2_s)
        sig.append(d.sigma_D_cm2_s)
    spread = np.std(Ds, ddof=1)
    reported = math.sqrt(np.mean(np.square(sig)))
    assert 1 / 1.5 < reported / spread < 1.5
    assert np.mean(Ds) == pytest.approx(D_TRUE_CM2_S, rel=0.05)


def test_fit_window_skips_caged_regime():
    # Slow hops plus large uncorrelated vibrations: MSD = 6 a² + 6 D t, a plateau
    # first and diffusive only later.  The window must start after the plateau.
    rng = np.random.default_rng(3)
    hop = random_walk(rng, n=64, T=4000, step=0.1)
    vib = rng.normal(0, 0.3, hop.shape)
    res = msd(make_traj(hop + vib), "Li", dt_ps=DT_PS, drift_correction=False)
    t0, t1 = fit_window(res)
    D = 0.1 ** 2 / (2 * DT_PS)  # Å²/ps
    plateau = 2 * 3 * 0.3 ** 2
    assert 6 * D * t0 > 3 * plateau  # diffusive part dominates at the window start
    d = diffusion_coefficient(res)
    assert d.fit_window_ps == (pytest.approx(t0), pytest.approx(t1))
    assert d.D_cm2_s == pytest.approx(D * 1e-4, rel=0.1)
    assert d.intercept_A2 == pytest.approx(plateau, rel=0.3)


def test_subdiffusive_data_warns():
    rng = np.random.default_rng(4)
    caged = rng.normal(0, 0.5, (1000, 32, 3))  # no diffusion at all
    res = msd(make_traj(caged), "Li", dt_ps=DT_PS, drift_correction=False)
    with pytest.warns(UserWarning, match="no diffusive regime"):
        fit_window(res)


def test_window_longer_than_block_is_refused():
    rng = np.random.default_rng(10)
    res = replicas(rng, 1, T=500)[0]
    with pytest.raises(ValueError, match="fewer n_blocks"):
        diffusion_coefficient(res, (1.0, 30.0))


def test_plot_msd_writes_files(tmp_path):
    rng = np.random.default_rng(12)
    res = replicas(rng, 1, T=400)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = diffusion_coefficient(res)
    for ext in ("png", "svg"):
        p = plot_msd(res, tmp_path / f"msd.{ext}", d, per_axis=True, charge=True)
        assert p.stat().st_size > 5000
