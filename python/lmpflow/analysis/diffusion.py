"""Tracer diffusion coefficient from an MSD: fit window, slope, and an error calibrated by independent blocks.

Units: times in ps, MSD in Å², D in cm²/s.

Uncertainty model.  The MSD at different lags is strongly correlated, so the
standard error of an ordinary least-squares slope is *not* an uncertainty of
D (it understates it by orders of magnitude).  Instead:

* one trajectory: the trajectory is cut into ``n_blocks`` contiguous,
  independent time blocks; D is fitted in each block over the same lag window
  as the full-trajectory fit, and the spread of the block values gives the
  error of the full estimate.  Blocks include every correlation (between ions,
  in time), so the same scheme works for the collective (charge) MSD.  The
  full-trajectory estimate uses also the time origins that straddle block
  borders, so its variance is smaller than the block mean's by about
  ``(T - M·m)/(T - m)`` (T: trajectory length, M: blocks, m: lag; follows
  from the variance of a time-averaged MSD of a random walk,
  Var ∝ m/(T - m), Qian et al. Biophys. J. 60, 910 (1991)); that factor is
  applied.  ``tests/analysis/test_diffusion.py`` checks the calibration against the
  spread of independent random-walk replicas.
* several independent trajectories (``combine_msd``): each trajectory is a
  block, no correction needed; this is the method of choice.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from lmpflow import _stats

from .msd import MSDResult

__all__ = ["A2_PER_PS_TO_CM2_PER_S", "DiffusionResult", "fit_window", "diffusion_coefficient"]

A2_PER_PS_TO_CM2_PER_S = 1e-4  # 1 Å²/ps = 1e-16 cm² / 1e-12 s


def _max_window_frames(res: MSDResult, max_lag_fraction: float) -> int:
    """Longest lag usable by both the full and the block fits, frames."""
    if res.independent_blocks:
        return max(2, int(max_lag_fraction * res.n_frames))
    return max(2, int(max_lag_fraction * res.block_length_frames))


def fit_window(
    res: MSDResult,
    *,
    tolerance: float = 0.15,
    max_lag_fraction: float = 0.5,
    charge: bool = False,
) -> tuple[float, float]:
    """Automatic fit window (t_start_ps, t_end_ps) in the diffusive regime.

    The window ends at ``max_lag_fraction`` of a block (of the trajectory for
    independent trajectories): longer lags have few independent origins.  It
    starts where the local exponent β = d ln MSD / d ln t (on log-spaced lags,
    after the ballistic and caged regimes) stays within 1 ± ``tolerance`` up
    to the window end.  If no such lag exists (sub-diffusive data) a warning
    is issued and the last half of the window is used.
    """
    end = _max_window_frames(res, max_lag_fraction)
    y = res.charge_total if charge else res.total_A2
    lags = np.unique(np.round(np.geomspace(1, end, 40)).astype(int))
    lags = lags[y[lags] > 0]
    if lags.size < 4:
        raise ValueError("too few lags with positive MSD for a fit window")
    ly = np.log(y[lags])
    lt = np.log(lags * res.dt_ps)
    beta = np.gradient(ly, lt)
    # Smooth over neighbours so that noise at single lags does not break the regime.
    beta = np.convolve(np.pad(beta, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    ok = np.abs(beta - 1.0) <= tolerance
    start = None
    for i in range(lags.size - 1, -1, -1):  # walk back from the end while diffusive
        if not ok[i]:
            break
        start = lags[i]
    if start is None or start > end // 2:
        warnings.warn(
            f"no diffusive regime (|β-1| ≤ {tolerance}) found up to {end * res.dt_ps:.3g} ps "
            f"(β at window end {beta[-1]:.2f}); fitting the last half of the window — "
            "the result is not a converged diffusion coefficient", stacklevel=2)
        start = max(1, end // 2)
    return float(start * res.dt_ps), float(end * res.dt_ps)


def _slopes(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """OLS slopes of y (…, n) against t (n,) — a point estimator only."""
    tc = t - t.mean()
    return (y - y.mean(axis=-1, keepdims=True)) @ tc / (tc @ tc)


def _window_indices(res: MSDResult, window: tuple[float, float]) -> np.ndarray:
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


def _block_variance_factor(res: MSDResult, idx: np.ndarray) -> float:
    """Var(full estimate) / Var(mean of block estimates); see module docstring."""
    if res.independent_blocks:
        return 1.0
    T = res.n_frames
    M = res.n_blocks
    m = 0.5 * (idx[0] + idx[-1])  # effective lag of the slope
    f = (T - M * m) / (T - m)
    if idx[-1] > 0.5 * res.block_length_frames:
        warnings.warn("fit window longer than half a block: block error correction is rough",
                      stacklevel=3)
    return float(min(1.0, max(f, 0.1)))


@dataclasses.dataclass
class SlopeEstimate:
    """A slope of an MSD (Å²/ps) with its block-calibrated error; shared by D, σ and the Haven ratio."""

    value: float  # full-data slope, Å²/ps
    sigma: float  # calibrated standard error, Å²/ps
    blocks: np.ndarray  # per-block slopes
    dof: int
    factor: float  # Var(full) / Var(block mean)


def slope_with_error(res: MSDResult, y_full: np.ndarray, y_blocks: np.ndarray,
                     window: tuple[float, float]) -> tuple[SlopeEstimate, np.ndarray]:
    """Slope of ``y_full`` over ``window`` (ps) with its error from the block slopes; also the lag indices."""
    idx = _window_indices(res, window)
    t = res.t_ps[idx]
    full = float(_slopes(t, y_full[idx]))
    blocks = _slopes(t, y_blocks[:, idx])
    M = blocks.size
    f = _block_variance_factor(res, idx)
    sigma = float(np.sqrt(f * blocks.var(ddof=1) / M))
    return SlopeEstimate(full, sigma, blocks, M - 1, f), idx


def method_name(res: MSDResult) -> str:
    """How the errors of estimates from ``res`` were obtained (reported in results)."""
    if res.independent_blocks:
        return f"spread of {res.n_blocks} independent trajectories"
    return f"{res.n_blocks} independent time blocks (overlap-corrected)"


@dataclasses.dataclass
class DiffusionResult:
    """Tracer diffusion coefficient of one species.

    D_cm2_s ± sigma_D_cm2_s (one standard error, from independent blocks, see
    module docstring; ``dof`` = blocks − 1 for t-intervals), per-axis
    values D_axes_cm2_s, the fit window in ps, the per-block estimates, and
    the intercept of the fit (Å²; vibrational amplitude).
    """

    D_cm2_s: float
    sigma_D_cm2_s: float
    D_axes_cm2_s: np.ndarray
    sigma_D_axes_cm2_s: np.ndarray
    fit_window_ps: tuple[float, float]
    block_D_cm2_s: np.ndarray
    dof: int
    intercept_A2: float
    species: str
    method: str

    @property
    def rel_err(self) -> float:
        return self.sigma_D_cm2_s / abs(self.D_cm2_s)

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        """Two-sided Student-t confidence interval of D, cm²/s."""
        return _stats.t_interval(self.D_cm2_s, self.sigma_D_cm2_s, self.dof, level)


def diffusion_coefficient(
    res: MSDResult,
    fit_window_ps: tuple[float, float] | None = None,
    **window_kwargs,
) -> DiffusionResult:
    """Tracer D (cm²/s) = slope of the total MSD / 6 over the fit window.

    ``fit_window_ps`` defaults to ``fit_window(res, **window_kwargs)``; the
    window used is reported.  Per-axis D = slope of that axis / 2.
    """
    window = fit_window_ps if fit_window_ps is not None else fit_window(res, **window_kwargs)
    tot, idx = slope_with_error(res, res.total_A2, res.block_msd_A2.sum(-1), window)
    axes = [slope_with_error(res, res.msd_A2[:, a], res.block_msd_A2[:, :, a], window)[0]
            for a in range(3)]
    t = res.t_ps[idx]
    y = res.total_A2[idx]
    intercept = float(y.mean() - tot.value * t.mean())
    c = A2_PER_PS_TO_CM2_PER_S
    return DiffusionResult(
        D_cm2_s=tot.value / 6 * c,
        sigma_D_cm2_s=tot.sigma / 6 * c,
        D_axes_cm2_s=np.array([a.value / 2 * c for a in axes]),
        sigma_D_axes_cm2_s=np.array([a.sigma / 2 * c for a in axes]),
        fit_window_ps=(float(t[0]), float(t[-1])),
        block_D_cm2_s=tot.blocks / 6 * c,
        dof=tot.dof,
        intercept_A2=intercept,
        species=res.species,
        method=method_name(res),
    )
