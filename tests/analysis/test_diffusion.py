"""Diffusion coefficient, fit window and the calibration of σ_D against random walks with known D."""

import math
import warnings

import numpy as np
import pytest

from lmpflow.analysis import diffusion_coefficient, fit_window, msd
from lmpflow.output.plots import plot_msd

from .walks import D_TRUE_CM2_S, DT_PS, cage_walk, make_traj, msd_replicas, random_walk, replicas


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


def _scatter_and_sigma(results, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = [diffusion_coefficient(r, **kw) for r in results]
    D = np.array([d.D_cm2_s for d in ds])
    return D.std(ddof=1) / D_TRUE_CM2_S, math.sqrt(np.mean([d.rel_err ** 2 for d in ds])), ds


def test_precision_grows_with_simulated_time_longer_or_more_runs():
    # Issue 10 item 1: σ_D ∝ 1/√(simulated time).  4× the time — 4× longer runs or 4 runs — halves σ_D
    # (scatter over 120 replicas and the reported error alike); the old window (to half a block)
    # did not improve with length at all.
    rng = np.random.default_rng(20)
    short, long_, four = (msd_replicas(rng, 120, T=T, runs=k) for T, k in ((400, 1), (1600, 1), (400, 4)))
    s_short, e_short, _ = _scatter_and_sigma(short)
    s_long, e_long, _ = _scatter_and_sigma(long_)
    s_four, e_four, _ = _scatter_and_sigma(four)
    for s, e in ((s_long, e_long), (s_four, e_four)):
        assert 1.6 < s_short / s < 2.5 and 1.6 < e_short / e < 2.5
    old_short, _, _ = _scatter_and_sigma(short, estimator="ols", span=None)
    old_long, _, _ = _scatter_and_sigma(long_, estimator="ols", span=None)
    assert old_short / old_long < 1.3  # the old estimator's precision is flat in run length
    assert s_long < old_long / 4  # GLS on the physics window: > 4× smaller scatter at 1600 frames


@pytest.mark.parametrize("runs", [1, 4])
def test_intervals_deliver_their_level(runs):
    # Issue 10 item 1: coverage of the 68 % and 95 % intervals within ±5 points over 400 replicas,
    # for one trajectory (5 time blocks, t with 4 dof) and for 4 combined runs (t with 3 dof).
    rng = np.random.default_rng(21 + runs)
    _, _, ds = _scatter_and_sigma(msd_replicas(rng, 400, T=400, runs=runs))
    for level in (0.68, 0.95):
        cover = np.mean([lo < D_TRUE_CM2_S < hi for lo, hi in (d.ci(level) for d in ds)])
        assert abs(cover - level) < 0.05, (level, cover)
    # The random-walk model's error agrees with the block error for independent ions.
    model = math.sqrt(np.mean([d.sigma_D_model_cm2_s ** 2 for d in ds]))
    block = math.sqrt(np.mean([d.sigma_D_cm2_s ** 2 for d in ds]))
    assert model == pytest.approx(block, rel=0.1)


def test_ols_with_old_window_is_the_old_estimator():
    rng = np.random.default_rng(22)
    res = msd_replicas(rng, 1, T=600)[0]
    t0, t1 = fit_window(res, span=None)
    assert t1 == pytest.approx(0.5 * res.block_length_frames * DT_PS)
    d = diffusion_coefficient(res, estimator="ols", span=None)
    i = np.arange(int(round(t0 / DT_PS)), int(round(t1 / DT_PS)) + 1)
    slope = np.polyfit(res.t_ps[i], res.total_A2[i], 1)[0]
    assert d.D_cm2_s == pytest.approx(slope / 6 * 1e-4, rel=1e-10) and d.estimator == "ols"
    with pytest.raises(ValueError, match="estimator"):
        diffusion_coefficient(res, estimator="mle")


def test_window_is_tied_to_the_caging_time_not_the_run_length():
    rng = np.random.default_rng(23)
    hop = random_walk(rng, n=32, T=12000, step=0.2)
    caged = hop + rng.normal(0, 0.3, hop.shape)  # plateau 6a² = 0.54 Å², diffusive beyond ~2.5 ps
    windows = [fit_window(msd(make_traj(caged[:T]), "Li", dt_ps=DT_PS, drift_correction=False))
               for T in (3000, 12000)]
    assert windows[0] == pytest.approx(windows[1], rel=0.25)  # same physics, same window
    assert 1.5 < windows[0][0] < 5 and windows[0][1] == pytest.approx(10 * windows[0][0], rel=0.05)


def test_slowly_relaxing_cage_is_flagged():
    # A cage relaxing over τ = 30 frames steepens the MSD at short lags by a third while β stays
    # within 1 ± 0.15: the window rule cannot see it, the comparison with longer lags must.
    rng = np.random.default_rng(24)
    res = msd(make_traj(cage_walk(rng, 32, 4000, 0.01, 0.05, 30.0)), "Li", dt_ps=DT_PS, drift_correction=False)
    with pytest.warns(UserWarning, match="still relaxing"):
        d = diffusion_coefficient(res)
    D_true = 0.01 / (2 * DT_PS) * 1e-4
    assert d.D_cm2_s > 1.15 * D_true  # the bias the warning is about
    robust = diffusion_coefficient(res, estimator="ols", span=None)
    assert robust.D_cm2_s == pytest.approx(D_true, rel=0.1)
