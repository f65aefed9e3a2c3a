"""Ionic conductivity: Nernst–Einstein from D, collective σ from the charge MSD, and the Haven ratio.

Units: D in cm²/s, volumes in Å³, temperatures in K, charges in e, conductivity in mS/cm.
Errors come from the same independent blocks as D (``lmpflow.analysis.diffusion``).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from lmpflow import _stats

from .diffusion import A2_PER_PS_TO_CM2_PER_S, diffusion_coefficient, fit_window
from .msd import MSDResult
from .slopes import method_name, noise_ratio, slope_with_error, window_indices

__all__ = ["ConductivityResult", "HavenResult", "conductivity_nernst_einstein", "conductivity_from_msd",
           "haven_ratio"]

_E_C = 1.602176634e-19  # elementary charge, C
_KB_J_K = 1.380649e-23  # Boltzmann constant, J/K


def conductivity_nernst_einstein(
    D_cm2_s, n_ions: float, volume_A3: float, T_K: float, charge: float = 1.0
):
    """Nernst–Einstein conductivity σ = n z² e² D / (k_B T), in mS/cm.

    ``n_ions / volume_A3`` is the number density of the mobile ion (Å⁻³);
    ``charge`` its charge in e.  Linear in D, so an error of D maps with the
    same call.  Works element-wise on arrays.
    """
    n_cm3 = n_ions / (volume_A3 * 1e-24)
    sigma_S_cm = n_cm3 * (charge * _E_C) ** 2 * np.asarray(D_cm2_s) / (_KB_J_K * T_K)
    return sigma_S_cm * 1e3


def _charge_slope_to_mS_cm(slope_A2_ps: float, volume_A3: float, T_K: float) -> float:
    """σ = e² / (6 V k_B T) · d<|Σ q Δr|²>/dt, mS/cm."""
    d = slope_A2_ps * 1e-16 / 1e-12  # e²·cm²/s
    return d * _E_C ** 2 / (6 * volume_A3 * 1e-24 * _KB_J_K * T_K) * 1e3


@dataclasses.dataclass
class ConductivityResult:
    """Ionic conductivity from the charge (collective) MSD, mS/cm."""

    sigma_mS_cm: float
    err_mS_cm: float
    block_sigma_mS_cm: np.ndarray
    dof: int
    fit_window_ps: tuple[float, float]
    nernst_einstein_mS_cm: float
    nernst_einstein_err_mS_cm: float
    T_K: float
    method: str


def conductivity_from_msd(
    res: MSDResult,
    T_K: float,
    fit_window_ps: tuple[float, float] | None = None,
    *,
    estimator: str = "gls",
    **window_kwargs,
) -> ConductivityResult:
    """σ from the slope of the charge MSD, with the Nernst–Einstein value beside it.

    The default window is the tracer window (``fit_window``), because the
    charge MSD of a single trajectory is too noisy to locate the diffusive
    regime by itself; the GLS weights are the tracer's too (a collective coordinate of independent
    ions has the same covariance shape).  ``estimator``: "gls" (default) or "ols".
    """
    window = fit_window_ps if fit_window_ps is not None else fit_window(res, **window_kwargs)
    tr = diffusion_coefficient(res, window, estimator=estimator)
    est, idx = slope_with_error(res, res.charge_total, res.block_charge_msd_A2.sum(-1), window,
                                estimator=estimator, noise=tr.noise_ratio)
    conv = lambda s: _charge_slope_to_mS_cm(s, res.volume_A3, T_K)  # noqa: E731
    # Σq² / N turns the per-ion NE formula into the sum over the ions of this species.
    z2 = res.charge_sq_sum / res.n_particles
    ne = conductivity_nernst_einstein(tr.D_cm2_s, res.n_particles, res.volume_A3, T_K) * z2
    ne_err = conductivity_nernst_einstein(tr.sigma_D_cm2_s, res.n_particles, res.volume_A3, T_K) * z2
    return ConductivityResult(
        sigma_mS_cm=conv(est.value),
        err_mS_cm=conv(est.sigma),
        block_sigma_mS_cm=np.array([conv(b) for b in est.blocks]),
        dof=est.dof,
        fit_window_ps=(float(res.t_ps[idx[0]]), float(res.t_ps[idx[-1]])),
        nernst_einstein_mS_cm=float(ne),
        nernst_einstein_err_mS_cm=float(ne_err),
        T_K=T_K,
        method=method_name(res, estimator),
    )


@dataclasses.dataclass
class HavenResult:
    """Haven ratio H_R = D* / D_σ = σ_NE / σ with its jackknife standard error.

    ``settled`` is False when the error is too large to tell H_R from 1 and
    from typical correlated values (relative error > ``max_rel_err``).
    """

    H_R: float
    err: float
    D_tracer_cm2_s: float
    D_sigma_cm2_s: float
    n_blocks: int
    settled: bool
    fit_window_ps: tuple[float, float]
    method: str

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        return _stats.t_interval(self.H_R, self.err, self.n_blocks - 1, level)


def _warn_unsettled(H: float, err: float, rel: float, n_independent: int, max_rel_err: float) -> None:
    """Say that H_R is not settled and how many more independent trajectories would settle it."""
    more = ""
    if np.isfinite(rel):
        need = math.ceil(_stats.scale_to_target(rel, n_independent, max_rel_err) - 1e-9) - n_independent
        more = f"; about {max(0, need)} more independent trajectories would reach ±{max_rel_err:.0%}"
    warnings.warn(
        f"Haven ratio {H:.3g} ± {err:.2g} is not settled by this data "
        f"(relative error {rel:.0%} > {max_rel_err:.0%}): the charge MSD is a single "
        f"collective coordinate per trajectory{more}", stacklevel=3)


def haven_ratio(
    res: MSDResult,
    fit_window_ps: tuple[float, float] | None = None,
    *,
    max_rel_err: float = 0.25,
    estimator: str = "gls",
    **window_kwargs,
) -> HavenResult:
    """Haven ratio from the tracer and charge MSD of the same run(s).

    H_R = Σq² · slope(tracer MSD) / slope(charge MSD) — the ratio of Nernst–Einstein to
    collective conductivity; 1 for uncorrelated ions.  Its error is the
    delete-one-block jackknife of the ratio of block means (blocks are time
    blocks of one trajectory or whole trajectories after ``combine_msd``);
    the time-block jackknife is scaled by the same overlap factor as D.

    A single trajectory rarely settles H_R: the charge MSD is one collective
    coordinate.  A warning is issued when the relative error exceeds
    ``max_rel_err``, with the number of independent trajectories that would
    reach it.
    """
    window = fit_window_ps if fit_window_ps is not None else fit_window(res, **window_kwargs)
    kw = dict(estimator=estimator,
              noise=noise_ratio(res, window_indices(res, window)) if estimator == "gls" else 0.0)
    tr, idx = slope_with_error(res, res.total_A2, res.block_msd_A2.sum(-1), window, **kw)
    ch, _ = slope_with_error(res, res.charge_total, res.block_charge_msd_A2.sum(-1), window, **kw)
    z2 = res.charge_sq_sum
    # Full estimate from the full-data slopes; jackknife on block slopes for the error.
    H = z2 * tr.value / ch.value
    M = tr.blocks.size
    err = abs(z2) * _stats.jackknife_ratio(tr.blocks, ch.blocks)[1] * math.sqrt(tr.factor)
    c = A2_PER_PS_TO_CM2_PER_S
    rel = err / abs(H) if H != 0 else np.inf
    settled = bool(np.isfinite(rel) and rel <= max_rel_err and ch.value > 0)
    if not settled:
        _warn_unsettled(H, err, rel, M if res.independent_blocks else 1, max_rel_err)
    return HavenResult(
        H_R=float(H), err=float(err),
        D_tracer_cm2_s=tr.value / 6 * c,
        D_sigma_cm2_s=ch.value / (6 * z2) * c if z2 else float("nan"),
        n_blocks=M, settled=settled,
        fit_window_ps=(float(res.t_ps[idx[0]]), float(res.t_ps[idx[-1]])),
        method=method_name(res, estimator),
    )
