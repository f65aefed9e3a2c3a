"""The shared statistics (lmpflow._stats) against scipy and hand-computed values, and the import rule."""

import math

import numpy as np
import pytest
from scipy import stats

from lmpflow import _stats


def test_quantiles_and_intervals():
    assert _stats.two_sided_quantile(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert _stats.two_sided_quantile(0.95, 2) == pytest.approx(4.302653, abs=1e-6)
    assert _stats.two_sided_quantile(0.68, 7.5) == pytest.approx(stats.t.ppf(0.84, 7.5))
    assert _stats.t_interval(10.0, 1.0, 4, 0.95) == pytest.approx((10 - 2.776445, 10 + 2.776445), abs=1e-6)
    with pytest.raises(ValueError, match="degrees of freedom"):
        _stats.two_sided_quantile(0.95, 0)
    with pytest.raises(ValueError, match="level"):
        _stats.two_sided_quantile(1.5)


def test_satterthwaite_and_welch():
    # Two equal variances with 4 dof each: 8 dof; one exact term leaves the other's dof scaled up.
    assert _stats.satterthwaite_dof([1.0, 1.0], [4, 4]) == pytest.approx(8.0)
    assert _stats.satterthwaite_dof([1.0, 1.0], [4, math.inf]) == pytest.approx(16.0)
    assert _stats.satterthwaite_dof([1.0, 2.0], math.inf) == math.inf
    r = _stats.difference_test(1.0, 0.3, 0.4, 4, 9)
    a, b = 0.3 ** 2, 0.4 ** 2
    dof = (a + b) ** 2 / (a ** 2 / 4 + b ** 2 / 9)
    assert r.name == "Welch t" and r.dof == pytest.approx(dof) and r.err == pytest.approx(0.5)
    assert r.p_value == pytest.approx(2 * stats.t.sf(2.0, dof))
    err, stat, dof_z, p, name = _stats.difference_test(1.0, 0.3, 0.4, 0, 9)  # unknown dof: z test
    assert name == "z" and p == pytest.approx(2 * stats.norm.sf(2.0)) and dof_z == math.inf
    assert _stats.difference_test(float("nan"), 0.3, 0.4).name == "n/a"


def test_jackknife_ratio_and_scaling():
    rng = np.random.default_rng(0)
    num = rng.normal(2.0, 0.1, 12)
    den = rng.normal(1.0, 0.1, 12)
    r, err = _stats.jackknife_ratio(num, den)
    jk = np.array([np.delete(num, i).mean() / np.delete(den, i).mean() for i in range(12)])
    assert r == pytest.approx(num.mean() / den.mean())
    assert err == pytest.approx(math.sqrt(11 / 12 * np.sum((jk - jk.mean()) ** 2)))
    assert math.isnan(_stats.jackknife_ratio([1.0], [2.0])[1])
    assert _stats.scale_to_target(0.05, 12, 0.01) == pytest.approx(300)
    assert _stats.scale_to_target(0.02, 100.0, 0.01) == pytest.approx(400.0)  # ps of simulation


def test_log_chi2_moments_and_dof_inversion():
    rng = np.random.default_rng(1)
    for nu in (1, 2, 5):
        ln = np.log(rng.chisquare(nu, 200000) / nu)
        assert _stats.log_chi2_mean(nu) == pytest.approx(ln.mean(), abs=0.02)
        assert _stats.log_chi2_var(nu) == pytest.approx(ln.var(), rel=0.03)
        assert _stats.dof_from_log_variance(_stats.log_chi2_var(nu)) == pytest.approx(nu, rel=1e-8)
    assert _stats.dof_from_log_variance(0.0) == math.inf and _stats.log_chi2_mean(math.inf) == 0.0
