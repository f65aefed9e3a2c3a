"""Physics checks of MSD, D, conductivity, Haven ratio and their uncertainties
against random walks with analytic answers."""

import math
import warnings

import numpy as np
import pytest

from lmpflow.trajectory import Trajectory
from lmpflow.output.plots import plot_msd
from lmpflow.transport import (
    combine_msd, combine_trajectories, conductivity_from_msd, conductivity_nernst_einstein,
    convergence_vs_length, convergence_vs_trajectories, diffusion_coefficient, fit_window,
    haven_ratio, msd, trajectories_needed,
)

DT_PS = 0.1
STEP_A = 0.3  # Gaussian step per axis per frame, Å  ->  D = s²/(2 dt) per axis
D_TRUE_CM2_S = STEP_A ** 2 / (2 * DT_PS) * 1e-4
BOX = 20.0


def make_traj(pos, elements=None, step=10):
    T, N, _ = pos.shape
    return Trajectory(pos, np.tile(np.eye(3) * BOX, (T, 1, 1)), np.zeros((T, 3)),
                      np.arange(T) * step, np.arange(1, N + 1),
                      np.array(elements if elements is not None else ["Li"] * N))


def random_walk(rng, n=64, T=2000, step=STEP_A, pairs=False):
    steps = rng.normal(0, step, (T, n, 3))
    if pairs:  # ions moving in lock-step pairs: collective MSD doubled, H_R = 1/2
        steps[:, 1::2] = steps[:, 0::2]
    return np.cumsum(steps, axis=0)


def test_fft_msd_matches_direct_sum():
    rng = np.random.default_rng(0)
    pos = random_walk(rng, n=5, T=120)
    q = {"Li": 1.0}
    res = msd(make_traj(pos), "Li", dt_ps=DT_PS, drift_correction=False, per_particle=True,
              charges=q, n_blocks=3, particle_block=2)
    for m in (1, 7, 60, 119):
        d = pos[m:] - pos[:-m]
        np.testing.assert_allclose(res.msd_A2[m], (d ** 2).mean(axis=(0, 1)), rtol=1e-10)
        np.testing.assert_allclose(res.per_particle_A2[m], (d ** 2).mean(axis=0), rtol=1e-10)
        np.testing.assert_allclose(res.charge_msd_A2[m], (d.sum(axis=1) ** 2).mean(axis=0),
                                   rtol=1e-10)
    # Block MSDs are the MSDs of the contiguous thirds.
    b = pos[40:80]
    d = b[5:] - b[:-5]
    np.testing.assert_allclose(res.block_msd_A2[1, 5], (d ** 2).mean(axis=(0, 1)), rtol=1e-10)
    assert res.msd_A2[0].sum() == pytest.approx(0, abs=1e-9)


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


def framework_traj(rng, drift_per_frame, T=1500, n_li=64, n_fw=64):
    li = random_walk(rng, n=n_li, T=T)
    fw = rng.uniform(0, BOX, (n_fw, 3)) + rng.normal(0, 0.1, (T, n_fw, 3))
    drift = np.arange(T)[:, None, None] * drift_per_frame  # the whole cell moves
    pos = np.concatenate([li, fw], axis=1) + drift
    return make_traj(pos, ["Li"] * n_li + ["S"] * n_fw)


def test_drift_correction_removes_framework_drift():
    rng = np.random.default_rng(5)
    tr = framework_traj(rng, np.array([0.05, -0.03, 0.02]))
    good = diffusion_coefficient(msd(tr, "Li", dt_ps=DT_PS))
    assert good.D_cm2_s == pytest.approx(D_TRUE_CM2_S, rel=0.08)
    bad = diffusion_coefficient(msd(tr, "Li", dt_ps=DT_PS, drift_correction=False),
                                good.fit_window_ps)
    assert bad.D_cm2_s > 1.3 * D_TRUE_CM2_S
    with pytest.raises(ValueError, match="framework"):
        msd(make_traj(random_walk(rng, T=100)), "Li", dt_ps=DT_PS)


def test_nernst_einstein_units():
    # 1 ion per cm³ (1e24 Å³), D = 1 cm²/s, 300 K:  σ = e²/(k_B·300 K) S/cm.
    e, kb = 1.602176634e-19, 1.380649e-23
    assert conductivity_nernst_einstein(1.0, 1, 1e24, 300.0) == pytest.approx(e ** 2 / (kb * 300) * 1e3)
    # Li6PS5Cl: 24 Li in (9.86 Å)³; D = 2e-8 cm²/s at 300 K gives ~3 mS/cm, the
    # measured room-temperature order of magnitude.
    s = conductivity_nernst_einstein(2e-8, 24, 9.86 ** 3, 300.0)
    assert s == pytest.approx(24 / (9.86e-8) ** 3 * e ** 2 * 2e-8 / (kb * 300) * 1e3)
    assert 2.5 < s < 3.7
    assert conductivity_nernst_einstein(2e-8, 24, 9.86 ** 3, 300.0, charge=2) == pytest.approx(4 * s)


def replicas(rng, k, pairs=False, n=32, T=1000):
    return [msd(make_traj(random_walk(rng, n=n, T=T, pairs=pairs)), "Li", dt_ps=DT_PS,
                drift_correction=False) for _ in range(k)]


@pytest.mark.parametrize("pairs,expected", [(False, 1.0), (True, 0.5)])
def test_haven_ratio_and_conductivity_over_trajectories(pairs, expected):
    rng = np.random.default_rng(6)
    comb = combine_msd(replicas(rng, 20, pairs=pairs))
    assert comb.n_blocks == 20 and comb.independent_blocks
    h = haven_ratio(comb, (0.5, 20.0))
    assert abs(h.H_R - expected) < 3 * h.err
    assert h.err < 0.2 * expected
    c = conductivity_from_msd(comb, 300.0, (0.5, 20.0))
    # Independent ions: charge-MSD σ equals Nernst–Einstein; pairs: twice it.
    assert c.sigma_mS_cm == pytest.approx(c.nernst_einstein_mS_cm / expected, rel=3 * c.err_mS_cm / c.sigma_mS_cm)
    ne = conductivity_nernst_einstein(D_TRUE_CM2_S, 32, BOX ** 3, 300.0)
    assert c.nernst_einstein_mS_cm == pytest.approx(ne, rel=0.05)


def test_single_trajectory_haven_error_is_calibrated_and_warns():
    rng = np.random.default_rng(7)
    H, err = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for res in replicas(rng, 24, n=32, T=600):
            h = haven_ratio(res)
            H.append(h.H_R)
            err.append(h.err)
    assert 1 / 1.5 < math.sqrt(np.mean(np.square(err))) / np.std(H, ddof=1) < 1.5
    assert abs(np.mean(H) - 1) < 3 * np.std(H, ddof=1) / math.sqrt(24)
    with pytest.warns(UserWarning, match="not settled.*more independent trajectories"):
        h = haven_ratio(res, max_rel_err=0.02)
    assert not h.settled


def test_combine_trajectories_and_convergence():
    rng = np.random.default_rng(8)
    vals = rng.normal(1e-5, 2e-6, 300)
    c = combine_trajectories(vals, seed=1)
    assert c.sem == pytest.approx(vals.std(ddof=1) / math.sqrt(300))
    assert c.ci_low < c.mean < c.ci_high
    assert (c.ci_high - c.ci_low) / 2 == pytest.approx(1.96 * c.sem, rel=0.15)
    conv = convergence_vs_trajectories(vals, [1, 4, 16, 64])
    np.testing.assert_allclose(conv.rel_err * np.sqrt(conv.x), 0.2, rtol=0.15)
    # The study: rel. error 5 % with 12 runs needs 300 runs for 1 % -> 288 more.
    assert trajectories_needed(0.05, 12, 0.01) == 288
    assert trajectories_needed(0.005, 300, 0.01) == 0
    assert trajectories_needed(c.rel_err, 300, c.rel_err / 2) == 900


def test_convergence_vs_length():
    rng = np.random.default_rng(9)
    trajs = [make_traj(random_walk(rng, n=16, T=1200)) for _ in range(8)]
    conv = convergence_vs_length(trajs, [20.0, 110.0], dt_ps=DT_PS, drift_correction=False,
                                 fit_window_ps=(0.5, 2.0))
    assert conv.rel_err[1] < conv.rel_err[0]
    np.testing.assert_allclose(conv.mean, D_TRUE_CM2_S, rtol=0.15)


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
