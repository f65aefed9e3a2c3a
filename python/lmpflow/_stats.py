"""Small statistical steps used across lmpflow: quantiles, intervals, Welch/z tests, jackknife, 1/√n scaling.

Ground floor: imports nothing from lmpflow.  Every confidence interval and test in the package goes through
these functions, so a level stated anywhere means the same thing everywhere.

Conventions: ``level`` is two-sided (0.95 → the 2.5 % and 97.5 % quantiles); ``dof`` is a number of
degrees of freedom, ``math.inf`` for a known (not estimated) standard error, which gives the normal
distribution.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np
from scipy import optimize, special, stats

__all__ = ["two_sided_quantile", "t_interval", "satterthwaite_dof", "log_chi2_mean", "log_chi2_var",
           "dof_from_log_variance", "DifferenceTest", "difference_test", "jackknife_ratio", "scale_to_target"]


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")


def two_sided_quantile(level: float, dof: float = math.inf) -> float:
    """q such that P(|X| ≤ q) = ``level``; X Student-t with ``dof`` degrees of freedom.

    ``dof`` may be fractional (Satterthwaite); ``math.inf`` (or None) gives the normal quantile
    (1.95996… for 0.95).  Raises ValueError for dof ≤ 0: an error with no degrees of freedom has no
    interval — callers that want the normal fallback say so by passing ``math.inf``.
    """
    _check_level(level)
    p = 0.5 + level / 2
    if dof is None or math.isinf(dof):
        return float(stats.norm.ppf(p))
    if not dof > 0:
        raise ValueError(f"degrees of freedom must be > 0 (or math.inf), got {dof}")
    return float(stats.t.ppf(p, dof))


def t_interval(estimate: float, std_err: float, dof: float = math.inf,
               level: float = 0.95) -> tuple[float, float]:
    """Two-sided interval ``estimate ± q·std_err`` with q = ``two_sided_quantile(level, dof)``."""
    q = two_sided_quantile(level, dof)
    return float(estimate - q * std_err), float(estimate + q * std_err)


def satterthwaite_dof(variances: Sequence[float], dofs: Sequence[float]) -> float:
    """Effective degrees of freedom of a sum of independent estimated variances (Welch–Satterthwaite).

    ``variances``: the terms v_i of V = Σ v_i, each already multiplied by its coefficient² (for a
    linear combination Σ c_i y_i with standard errors s_i: v_i = c_i² s_i²); ``dofs``: the degrees of
    freedom ν_i of each s_i (``math.inf`` for exact ones).  Returns ν = V² / Σ v_i²/ν_i, which lies
    between min ν_i and Σ ν_i; ``math.inf`` when every term with weight is exact.
    """
    v = np.asarray(variances, dtype=np.float64)
    nu = np.broadcast_to(np.asarray(dofs, dtype=np.float64), v.shape)
    if v.size == 0 or np.any(v < 0) or np.any(nu <= 0):
        raise ValueError("need non-negative variances and positive degrees of freedom")
    finite = np.isfinite(nu) & (v > 0)
    denom = float(np.sum(v[finite] ** 2 / nu[finite]))
    total = float(v.sum())
    if denom == 0.0:
        return math.inf
    return total ** 2 / denom


def log_chi2_mean(dof):
    """E[ln s²/σ²] for a variance estimate s² with ``dof`` degrees of freedom: ψ(ν/2) + ln(2/ν) (0 for inf).

    Negative (−1.27 for ν = 1, −0.27 for ν = 4): a log-space average of variances must add it back.
    Works element-wise on arrays.
    """
    nu = np.asarray(dof, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(np.isinf(nu), 0.0, special.digamma(nu / 2) + np.log(2 / nu))
    return out if out.ndim else float(out)


def log_chi2_var(dof):
    """Var[ln s²/σ²] for a variance estimate with ``dof`` degrees of freedom: ψ'(ν/2) (≈ 2/ν; 0 for inf)."""
    nu = np.asarray(dof, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(np.isinf(nu), 0.0, special.polygamma(1, nu / 2))
    return out if out.ndim else float(out)


def dof_from_log_variance(var_ln: float) -> float:
    """Degrees of freedom ν of a variance estimate whose logarithm has variance ``var_ln``: ψ'(ν/2) = var_ln.

    The log-space counterpart of Satterthwaite's moment matching: for a variance V built from
    several estimated variances (smoothed, weighted), propagate Var(ln V) to first order and call
    this to get the dof of the t quantile.  0 → ``math.inf``.
    """
    if not var_ln > 0:
        return math.inf
    f = lambda ln_a: special.polygamma(1, math.exp(ln_a)) - var_ln  # noqa: E731
    lo, hi = math.log(1e-8), math.log(1e9)
    if f(hi) > 0:
        return math.inf
    return 2.0 * math.exp(optimize.brentq(f, lo, hi, xtol=1e-12))


class DifferenceTest(NamedTuple):
    """Two-sided test of a difference = 0: combined error, statistic, dof, p-value, test name."""

    err: float
    statistic: float
    dof: float
    p_value: float
    name: str  # "Welch t", "z" or "n/a"


def difference_test(diff: float, err_a: float, err_b: float,
                    dof_a: float = math.inf, dof_b: float = math.inf) -> DifferenceTest:
    """Test diff = a − b = 0 given independent standard errors of a and b.

    Welch t with the Satterthwaite dof when both dofs are ≥ 1 and not both infinite; z test
    (normal) when both are infinite or either is below 1 (below 1 means "unknown": a fit with no
    residual dof).  Unpacks as the 5-tuple (err, statistic, dof, p, name); a non-finite difference
    or a zero error gives NaNs and name "n/a".
    """
    err = math.sqrt(err_a ** 2 + err_b ** 2)
    if not (err > 0 and math.isfinite(err) and math.isfinite(diff)):
        return DifferenceTest(err, float("nan"), float("nan"), float("nan"), "n/a")
    stat = diff / err
    if dof_a >= 1 and dof_b >= 1:
        dof = satterthwaite_dof([err_a ** 2, err_b ** 2], [dof_a, dof_b])
        if math.isfinite(dof):
            return DifferenceTest(err, stat, dof, float(2 * stats.t.sf(abs(stat), dof)), "Welch t")
    return DifferenceTest(err, stat, math.inf, float(2 * stats.norm.sf(abs(stat))), "z")


def jackknife_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> tuple[float, float]:
    """Ratio of means mean(num)/mean(den) and its delete-one jackknife standard error.

    The pairs (num_i, den_i) are independent units (trajectories, time blocks); a ratio of means is
    biased and its error is not the propagated one when num and den are correlated (tracer and charge
    MSD of the same ions are), which the jackknife handles.  One unit: error NaN.
    """
    a = np.asarray(numerators, dtype=np.float64)
    b = np.asarray(denominators, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError("numerators and denominators must be 1-D of equal, non-zero length")
    ratio = float(a.mean() / b.mean())
    n = a.size
    if n < 2:
        return ratio, float("nan")
    jk = (a.sum() - a) / (b.sum() - b)  # delete-one ratios of means (the 1/(n-1) cancels)
    return ratio, float(np.sqrt((n - 1) / n * np.sum((jk - jk.mean()) ** 2)))


def scale_to_target(rel_err_now: float, amount_now: float, target_rel_err: float) -> float:
    """Total amount of data (trajectories, ps of simulation) that brings a relative error to the target.

    For an error falling as 1/√amount (independent runs, or longer runs of a diffusive estimator whose
    fit window does not grow with the run): amount_now · (rel_err_now / target_rel_err)².
    """
    if target_rel_err <= 0 or rel_err_now < 0 or amount_now <= 0:
        raise ValueError("need target_rel_err > 0, rel_err_now ≥ 0, amount_now > 0")
    return float(amount_now) * (rel_err_now / target_rel_err) ** 2
