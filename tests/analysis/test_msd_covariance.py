"""The analytic covariance of the all-origins MSD against exact Gaussian algebra and Monte Carlo walks."""

import numpy as np
import pytest

from lmpflow.analysis.msd_covariance import fit_lags, gls_operator, msd_covariance


def _exact(lags, T, r):
    """Cov of the quadratic forms MSD(m) = xᵀA_m x for Gaussian x: 2 tr(A_m Σ A_n Σ)."""
    L = np.tril(np.ones((T, T)))
    S = L @ L.T + r * np.eye(T)  # random walk (unit steps) plus independent noise of variance r

    def A(m):
        D = np.zeros((T - m, T))
        D[np.arange(T - m), np.arange(T - m) + m] = 1
        D[np.arange(T - m), np.arange(T - m)] = -1
        return D.T @ D / (T - m)

    return np.array([[2 * np.trace(A(a) @ S @ A(b) @ S) for b in lags] for a in lags])


@pytest.mark.parametrize("r", [0.0, 1.5])
def test_covariance_is_exact(r):
    lags = [1, 3, 7, 12, 20]
    np.testing.assert_allclose(msd_covariance(lags, 25, r), _exact(lags, 25, r), rtol=1e-12)


def test_covariance_matches_simulated_walks():
    rng = np.random.default_rng(0)
    T, lags, P = 60, np.array([1, 2, 5, 13, 30]), 20000
    x = np.cumsum(rng.normal(0, 1, (T, P)), axis=0) + rng.normal(0, 1, (T, P))
    m = np.array([np.mean((x[k:] - x[:-k]) ** 2, axis=0) for k in lags])
    np.testing.assert_allclose(m.mean(axis=1), lags + 2.0, rtol=0.02)
    np.testing.assert_allclose(np.cov(m), msd_covariance(lags, T, 1.0), rtol=0.1)  # Monte Carlo noise ~3 %


def test_gls_operator_fits_lines_exactly_and_is_efficient():
    lags = np.arange(1, 11)
    A, V = gls_operator(lags, 400)
    np.testing.assert_allclose(A @ (2.5 + 0.7 * lags), [2.5, 0.7], atol=1e-10)
    # A pure random walk: all information sits in the shortest lags; GLS beats OLS on the same lags.
    C = msd_covariance(lags, 400)
    X = np.stack([np.ones(10), lags], 1)
    ols = np.linalg.pinv(X)[1]
    assert V[1, 1] == pytest.approx(A[1] @ C @ A[1])
    assert V[1, 1] < 0.5 * ols @ C @ ols


def test_fit_lags_keeps_start_and_bounds_count():
    assert list(fit_lags(3, 10)) == list(range(3, 11))
    lags = fit_lags(10, 5000, max_lags=48)
    assert lags.size <= 48 and lags[0] == 10 and lags[-1] == 5000
    assert list(lags[:12]) == list(range(10, 22)) and np.all(np.diff(lags) > 0)
