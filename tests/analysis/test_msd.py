"""MSD over all origins (FFT against the direct sum, blocks) and drift correction, on random walks."""


import numpy as np
import pytest

from lmpflow.analysis import diffusion_coefficient, fit_window, msd

from .walks import D_TRUE_CM2_S, DT_PS, framework_traj, make_traj, random_walk


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


def test_drift_correction_removes_framework_drift():
    rng = np.random.default_rng(5)
    tr = framework_traj(rng, np.array([0.05, -0.03, 0.02]))
    good = diffusion_coefficient(msd(tr, "Li", dt_ps=DT_PS))
    assert good.D_cm2_s == pytest.approx(D_TRUE_CM2_S, rel=0.08)
    # A drift adds v²t² to the MSD: it shows at long lags, so judge it on the old half-block window.
    res_bad = msd(tr, "Li", dt_ps=DT_PS, drift_correction=False)
    with pytest.warns(UserWarning, match="no diffusive regime"):  # v²t² makes it look super-diffusive
        bad = diffusion_coefficient(res_bad, fit_window(res_bad, span=None))
    assert bad.D_cm2_s > 1.3 * D_TRUE_CM2_S
    with pytest.raises(ValueError, match="framework"):
        msd(make_traj(random_walk(rng, T=100)), "Li", dt_ps=DT_PS)
