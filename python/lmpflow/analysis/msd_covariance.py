"""Covariance of the all-origins MSD estimator of a random walk, and the generalised-least-squares fit it gives.

Why: the MSD at neighbouring lags is almost the same number (the same displacements, one frame longer),
and its variance grows as lag³/T; an ordinary least-squares line through it weighs the noisy long lags
like the precise short ones.  Weighting by the inverse covariance (GLS) extracts what the trajectory
knows about D, and the error then falls as 1/√(simulated time) instead of staying put.

Model, per particle and axis: positions x_k = w_k + ε_k, w a random walk with step variance s² per
frame, ε independent "localisation" noise of variance a² (thermal vibration about a site; it is the
plateau 6a² of a total MSD).  For the estimator MSD(m) = Σ_k (x_{k+m} − x_k)² / (T − m), Gaussian
algebra (Cov(u², v²) = 2 Cov(u, v)²) gives exactly

    Cov[MSD(m), MSD(n)] = 2 / ((T−m)(T−n)) · Σ_δ c(δ) · (s² ov(δ) + a² e(δ))²,

δ = l − k the offset of the two origins, ov(δ) the number of steps the two displacements share,
e(δ) ∈ {−1, 0, 1, 2} their shared noise terms and c(δ) the number of origin pairs at that offset
(Qian, Sheetz & Elson, Biophys. J. 60, 910 (1991) for a² = 0; Bullerjahn, von Bülow & Hummer,
J. Chem. Phys. 153, 024116 (2020) for the noise; kinisi (McCluskey et al.) fits with the same idea).
The sum is exact for any T, so edge effects at long lags are included.  Units here: lags in frames,
covariance in units of s⁴ (one particle, one axis); callers scale by s⁴ · n_axes / n_particles.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import linalg

__all__ = ["msd_covariance", "fit_lags", "gls_operator"]


def msd_covariance(lags: np.ndarray, n_frames: int, noise_ratio: float = 0.0) -> np.ndarray:
    """Covariance matrix (K, K) of the all-origins MSD at integer ``lags`` (frames), in units of s⁴.

    ``n_frames``: frames of the trajectory (T); ``noise_ratio``: a²/s², localisation-noise variance over
    the per-frame step variance (0 for a pure random walk).
    """
    lags = np.asarray(lags, dtype=np.int64)
    T = int(n_frames)
    if lags.ndim != 1 or lags.size == 0 or lags.min() < 1 or lags.max() >= T or np.any(np.diff(lags) <= 0):
        raise ValueError(f"lags must increase strictly and lie in 1..{T - 1} frames")
    r = float(noise_ratio)
    C = np.empty((lags.size, lags.size))
    for i, m in enumerate(lags):
        n = lags[i:, None]  # n ≥ m (sorted lags): the overlap formula below assumes it
        lo = -int(lags[i:].max())
        delta = np.arange(lo, int(m) + 1)[None, :]
        ov = np.clip(np.minimum(m, delta + n) - np.maximum(0, delta), 0, None).astype(np.float64)
        e = (delta == m - n).astype(np.float64) - (delta == m) - (delta == -n) + (delta == 0)
        pairs = np.minimum(T - m - 1, T - n - 1 - delta) - np.maximum(0, -delta) + 1
        pairs = np.where(delta >= -n, np.clip(pairs, 0, None), 0)
        s = np.sum(pairs * (ov + r * e) ** 2, axis=1)
        C[i, i:] = 2.0 * s / ((T - m) * (T - lags[i:]))
        C[i:, i] = C[i, i:]
    return C


def fit_lags(i0: int, i1: int, max_lags: int = 48) -> np.ndarray:
    """Lags (frames) of a window [i0, i1] used in the fit: all of them, or at most ``max_lags``.

    GLS weight sits near the window start, so a subset keeps the first lags contiguous and spaces the
    rest geometrically (with localisation noise the loss against all lags is below 1 % in σ_D).
    """
    if i1 - i0 + 1 <= max_lags:
        return np.arange(i0, i1 + 1)
    head = max_lags // 4
    tail = np.geomspace(i0 + head, i1, max_lags - head)
    return np.unique(np.concatenate([np.arange(i0, i0 + head), np.round(tail).astype(np.int64)]))


@functools.lru_cache(maxsize=64)
def _gls_cached(lags: tuple, n_frames: int, noise_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    lag = np.asarray(lags, dtype=np.float64)
    C = msd_covariance(np.asarray(lags), n_frames, noise_ratio)
    X = np.stack([np.ones_like(lag), lag], axis=1)
    try:
        cf = linalg.cho_factor(C)
        CiX = linalg.cho_solve(cf, X)
    except linalg.LinAlgError:  # near-singular for long contiguous windows: fall back to a pseudo-inverse
        CiX = np.linalg.pinv(C) @ X
    V = np.linalg.inv(X.T @ CiX)  # model covariance of (intercept, slope), units s⁴
    A = V @ CiX.T  # (2, K): y ↦ (intercept, slope per frame)
    A.setflags(write=False)
    V.setflags(write=False)
    return A, V


def gls_operator(lags: np.ndarray, n_frames: int, noise_ratio: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """GLS line through an MSD at ``lags``: the linear map A (2, K) and the model covariance V (2, 2).

    ``A @ msd[lags]`` gives (intercept, slope per frame) for any MSD sampled at those lags (one axis, a
    sum of axes, a collective MSD: the shape of the covariance is the same); V is the covariance of
    that estimate for one particle and one axis in units of s⁴ (multiply by s⁴ · n_axes / n_particles).
    Cached: blocks, axes and the charge MSD of one fit share it.
    """
    r = float(f"{max(float(noise_ratio), 0.0):.3g}")  # coarse key: the weights change slowly with a²/s²
    return _gls_cached(tuple(int(x) for x in lags), int(n_frames), r)
