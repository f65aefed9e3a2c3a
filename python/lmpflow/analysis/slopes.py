"""Slopes of an MSD over a lag window with errors calibrated by independent blocks (shared by D, σ, H_R).

Estimators.  ``"gls"`` (default): generalised least squares with the covariance of the all-origins MSD
of a random walk with localisation noise (``msd_covariance``); its weight sits at the window start,
where the MSD is most precise, so σ falls as 1/√(simulated time).  ``"ols"``: ordinary least squares
over the window (the estimator before GLS; kept for comparison) — unbiased but it weighs the noisy
long lags like the precise short ones.

Errors.  The MSD at different lags is strongly correlated, so the standard error of a least-squares
line is *not* an uncertainty of D.  Instead the same linear estimator is applied to each independent
block — contiguous time blocks of one trajectory, or whole trajectories after ``combine_msd`` — and
the spread of the block slopes gives the error of the full estimate.  Blocks include every
correlation (between ions, in time), so the scheme also works for the collective (charge) MSD.  A
full single-trajectory estimate also uses the origins that straddle block borders, so its variance
is below the block mean's by the factor f = M · Var_T / Var_Tb (M blocks of Tb frames out of T),
computed from the same covariance model (for OLS: ``(T − M·m)/(T − m)``, Qian et al. 1991); that
factor is applied.  Independent trajectories need none.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from .msd import MSDResult
from .msd_covariance import fit_lags, gls_operator

__all__ = ["SlopeEstimate", "ESTIMATORS", "window_indices", "noise_ratio", "slope_with_error", "method_name"]

ESTIMATORS = ("gls", "ols")


@dataclasses.dataclass
class SlopeEstimate:
    """A slope of an MSD (Å²/ps) with its block-calibrated error; shared by D, σ and the Haven ratio."""

    value: float  # full-data slope, Å²/ps
    sigma: float  # calibrated standard error, Å²/ps
    blocks: np.ndarray  # per-block slopes, Å²/ps
    dof: int
    factor: float  # Var(full) / Var(block mean)
    intercept: float  # of the full-data line, same units as the MSD
    model_var_frames: float  # GLS model variance of the slope per frame, one particle and axis, units s⁴ (nan: OLS)


def window_indices(res: MSDResult, window: tuple[float, float]) -> np.ndarray:
    """Lag indices (frames) of a fit window given in ps; refuses windows the blocks cannot fit."""
    t0, t1 = window
    i0 = int(round(t0 / res.dt_ps))
    i1 = int(round(t1 / res.dt_ps))
    if i0 < 0 or i1 <= i0 + 1:
        raise ValueError(f"fit window {window} ps spans fewer than 3 lags")
    limit = res.n_frames - 1 if res.independent_blocks else res.block_length_frames - 1
    if i1 > limit:
        raise ValueError(
            f"fit window ends at {t1} ps, beyond the {limit * res.dt_ps:.4g} ps usable in each "
            "block; use a shorter window or recompute the MSD with fewer n_blocks")
    return np.arange(i0, i1 + 1)


def _block_frames(res: MSDResult) -> int:
    return res.n_frames if res.independent_blocks else res.block_length_frames


def _ols(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS (intercept, slope) of y (…, n) against t (n,) — a point estimator only."""
    tc = t - t.mean()
    slope = (y - y.mean(axis=-1, keepdims=True)) @ tc / (tc @ tc)
    return y.mean(axis=-1) - slope * t.mean(), slope


def noise_ratio(res: MSDResult, idx: np.ndarray) -> float:
    """a²/s² of the random-walk-plus-noise model from a first GLS line (a² from the intercept 6a², s² from the slope).

    Vibrations about a site add the plateau 6a² and make the shortest lags less informative; the
    weights then spread to longer lags.  Zero when the intercept is negative (ballistic start).
    """
    lags = fit_lags(int(idx[0]), int(idx[-1]))
    A, _ = gls_operator(lags, res.n_frames, 0.0)
    b0, b1 = A @ res.total_A2[lags]
    return float(max(b0, 0.0) / (2.0 * b1)) if b1 > 0 else 0.0


def _factor_ols(res: MSDResult, idx: np.ndarray) -> float:
    """Var(full) / Var(block mean) of the OLS slope; see module docstring."""
    T, M = res.n_frames, res.n_blocks
    m = 0.5 * (idx[0] + idx[-1])  # effective lag of the slope
    return float(min(1.0, max((T - M * m) / (T - m), 0.1)))


def slope_with_error(res: MSDResult, y_full: np.ndarray, y_blocks: np.ndarray, window: tuple[float, float], *,
                     estimator: str = "gls", noise: float = 0.0) -> tuple[SlopeEstimate, np.ndarray]:
    """Slope of ``y_full`` over ``window`` (ps) with its error from the block slopes; also the lag indices.

    ``y_blocks`` (n_blocks, n_block_lags): the same MSD in each block; ``noise``: a²/s² for the GLS
    weights (``noise_ratio``).  The same estimator is applied to the full MSD and to every block.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    idx = window_indices(res, window)
    M, dt = y_blocks.shape[0], res.dt_ps
    if estimator == "ols":
        t = res.t_ps[idx]
        (b0, full), (_, blocks) = _ols(t, y_full[idx]), _ols(t, y_blocks[:, idx])
        f = 1.0 if res.independent_blocks else _factor_ols(res, idx)
        model = float("nan")
    else:
        lags = fit_lags(int(idx[0]), int(idx[-1]))
        A, V = gls_operator(lags, res.n_frames, noise)
        Ab, Vb = (A, V) if res.independent_blocks else gls_operator(lags, _block_frames(res), noise)
        b0, full = A @ y_full[lags]
        full, blocks = full / dt, (y_blocks[:, lags] @ Ab[1]) / dt
        f = 1.0 if res.independent_blocks else float(min(1.0, M * V[1, 1] / Vb[1, 1]))
        model = float(V[1, 1])
    if not res.independent_blocks and idx[-1] > 0.5 * res.block_length_frames:
        warnings.warn("fit window longer than half a block: block error correction is rough", stacklevel=3)
    sigma = float(np.sqrt(f * blocks.var(ddof=1) / M))
    return SlopeEstimate(float(full), sigma, blocks, M - 1, f, float(b0), model), idx


def method_name(res: MSDResult, estimator: str = "gls") -> str:
    """How estimates from ``res`` and their errors were obtained (reported in results)."""
    fit = "GLS (random-walk MSD covariance)" if estimator == "gls" else "OLS"
    if res.independent_blocks:
        return f"{fit}; spread of {res.n_blocks} independent trajectories"
    return f"{fit}; {res.n_blocks} independent time blocks (overlap-corrected)"
