"""Combining independent trajectories and convergence curves on random-walk replicas."""

import math

import numpy as np
import pytest

from lmpflow.analysis import (
    combine_trajectories, convergence_vs_length, convergence_vs_trajectories, length_needed_ps, trajectories_needed,
)

from .walks import D_TRUE_CM2_S, DT_PS, make_traj, random_walk


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


@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_combined_interval_delivers_its_level(n):
    # Issue 10 item 2: the percentile bootstrap covered ~75 % at n = 3; the Student-t interval
    # (n − 1 dof) covers the stated 95 % and 68 % (2000 replicas of n normal estimates).
    rng = np.random.default_rng(30 + n)
    vals = rng.normal(1e-5, 2e-6, (2000, n))
    combos = [combine_trajectories(v) for v in vals]
    assert all(c.dof == n - 1 for c in combos)
    cover95 = np.mean([c.ci_low < 1e-5 < c.ci_high for c in combos])
    cover68 = np.mean([lo < 1e-5 < hi for lo, hi in (c.ci(0.68) for c in combos)])
    assert abs(cover95 - 0.95) < 0.02 and abs(cover68 - 0.68) < 0.03


def test_convergence_vs_length_falls_as_inverse_sqrt_with_default_window():
    # Issue 10 item 1: with the default window (tied to the caging time, not to the run) the error
    # of D from 4× longer runs halves — and length_needed_ps / trajectories_needed agree with it.
    rng = np.random.default_rng(31)
    trajs = [make_traj(random_walk(rng, n=16, T=1601)) for _ in range(24)]
    conv = convergence_vs_length(trajs, [40.0, 160.0], dt_ps=DT_PS, drift_correction=False)
    np.testing.assert_allclose(conv.mean, D_TRUE_CM2_S, rtol=0.02)
    ratio = conv.rel_err[0] / conv.rel_err[1]
    assert 1.5 < ratio < 2.7  # expect 2 (±0.3 from 24 trajectories)
    assert length_needed_ps(conv.rel_err[0], 40.0, conv.rel_err[0] / 2) == pytest.approx(160.0)
    assert trajectories_needed(conv.rel_err[0], 24, conv.rel_err[0] / 2) == 72  # 4× the runs instead
