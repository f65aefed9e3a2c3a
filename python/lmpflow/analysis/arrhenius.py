"""Weighted Arrhenius fits of D(T) or σ(T) with propagated uncertainties.

Model: ln Y = ln A − Ea / (k_B T), with Y = D (cm²/s) or Y = σ·T (mS/cm·K;
the Nernst–Einstein form σ = A/T · exp(−Ea/k_B T)).  The fit is linear
weighted least squares in x = 1/(k_B T) (1/eV) with weights 1/σ_lnY², σ_lnY =
σ_Y / Y.  Ea is in eV, temperatures in K.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Sequence

import numpy as np

from lmpflow import _stats

__all__ = ["K_B_EV_K", "ArrheniusFit", "TwoRegimeFit", "Prediction", "fit_arrhenius"]

K_B_EV_K = 8.617333262e-5  # Boltzmann constant, eV/K


@dataclasses.dataclass
class Prediction:
    """Prediction at temperatures T_K with a confidence interval (same units as the data)."""

    T_K: np.ndarray
    value: np.ndarray
    low: np.ndarray
    high: np.ndarray
    ln_sigma: np.ndarray  # standard error of ln(value)
    level: float


@dataclasses.dataclass
class ArrheniusFit:
    """Result of a weighted Arrhenius fit.

    Ea_eV ± Ea_err_eV; ln_A ± ln_A_err (A: prefactor of D in cm²/s, or of
    σT in mS/cm·K); ``cov`` the 2×2 covariance of (ln A, Ea_eV); ``chi2_red``
    the reduced χ² (≫ 1: errors underestimated or not Arrhenius); when
    ``scaled`` the covariance was multiplied by χ²_red and intervals use
    Student-t with ``dof`` degrees of freedom.
    """

    Ea_eV: float
    Ea_err_eV: float
    ln_A: float
    ln_A_err: float
    cov: np.ndarray
    chi2_red: float
    dof: int
    scaled: bool
    quantity: str  # "D" or "sigma"
    T_range_K: tuple[float, float]

    @property
    def prefactor(self) -> float:
        """A = exp(ln A): D0 in cm²/s, or σ0 (of σT) in mS/cm·K."""
        return float(np.exp(self.ln_A))

    def _quantile(self, level: float) -> float:
        return _stats.two_sided_quantile(level, self.dof if self.scaled and self.dof > 0 else math.inf)

    def predict(self, T_K, level: float = 0.95) -> Prediction:
        """D (cm²/s) or σ (mS/cm) at ``T_K`` with a ``level`` confidence interval.

        The interval propagates the full covariance of (ln A, Ea), i.e. the
        anti-correlation of intercept and slope that dominates extrapolation
        to room temperature.
        """
        T = np.atleast_1d(np.asarray(T_K, dtype=np.float64))
        x = 1.0 / (K_B_EV_K * T)
        J = np.stack([np.ones_like(x), -x], axis=-1)  # d lnY / d(lnA, Ea)
        lny = self.ln_A - self.Ea_eV * x
        var = np.einsum("ni,ij,nj->n", J, self.cov, J)
        s = np.sqrt(var)
        q = self._quantile(level)
        div = T if self.quantity == "sigma" else 1.0  # fitted σT; return σ
        return Prediction(T, np.exp(lny) / div, np.exp(lny - q * s) / div,
                          np.exp(lny + q * s) / div, s, level)


@dataclasses.dataclass
class TwoRegimeFit:
    """Two Arrhenius lines split at a crossover temperature.

    ``low`` and ``high`` are fits below and above the split; ``T_cross_K``
    where they intersect; ``aic_one`` / ``aic_two`` Akaike criteria
    (χ² + 2k) of one line and of two lines (k = 5: two lines and the split);
    ``preferred`` when two regimes lower the AIC.
    """

    low: ArrheniusFit
    high: ArrheniusFit
    single: ArrheniusFit
    T_cross_K: float
    aic_one: float
    aic_two: float

    @property
    def preferred(self) -> bool:
        return self.aic_two < self.aic_one


def _wls(x, y, s, scale: str):
    X = np.stack([np.ones_like(x), -x], axis=1)  # parameters (ln A, Ea)
    W = 1.0 / s ** 2
    XtW = X.T * W
    cov = np.linalg.inv(XtW @ X)
    beta = cov @ (XtW @ y)
    chi2 = float(np.sum(W * (y - X @ beta) ** 2))
    dof = x.size - 2
    chi2_red = chi2 / dof if dof > 0 else float("nan")
    scaled = scale == "always" or (scale == "auto" and dof > 0 and chi2_red > 1)
    if scaled and dof > 0:
        cov = cov * chi2_red
    return beta, cov, chi2, chi2_red, dof, scaled


def _fit(T, y, s, quantity, scale) -> tuple[ArrheniusFit, float]:
    x = 1.0 / (K_B_EV_K * T)
    beta, cov, chi2, chi2_red, dof, scaled = _wls(x, y, s, scale)
    fit = ArrheniusFit(
        Ea_eV=float(beta[1]), Ea_err_eV=float(np.sqrt(cov[1, 1])),
        ln_A=float(beta[0]), ln_A_err=float(np.sqrt(cov[0, 0])), cov=cov,
        chi2_red=chi2_red, dof=dof, scaled=scaled, quantity=quantity,
        T_range_K=(float(T.min()), float(T.max())),
    )
    return fit, chi2


def fit_arrhenius(
    T_K: Sequence[float],
    values: Sequence[float],
    errors: Sequence[float],
    *,
    quantity: str = "D",
    scale_errors: str = "auto",
    two_regime: bool = False,
    min_points: int = 3,
) -> ArrheniusFit | TwoRegimeFit:
    """Weighted fit of ln D (or ln σT) against 1/T.

    Parameters
    ----------
    T_K : temperatures, K.
    values : D in cm²/s (``quantity="D"``) or σ in mS/cm (``quantity="sigma"``;
        the fit is then of ln σT).
    errors : one standard error of each value (same units).  Required: an
        unweighted fit hides that high-T points are far more precise.
    scale_errors : "auto" (default) multiplies the covariance by χ²_red when
        χ²_red > 1 (the scatter says the errors are too small), "always", or
        "never" (take the errors as exact).
    two_regime : also fit two lines with the best split (each side keeps at
        least ``min_points`` points) and return a ``TwoRegimeFit``.
    """
    if quantity not in ("D", "sigma"):
        raise ValueError("quantity must be 'D' or 'sigma'")
    if scale_errors not in ("auto", "always", "never"):
        raise ValueError("scale_errors must be 'auto', 'always' or 'never'")
    T = np.asarray(T_K, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    if not (T.shape == v.shape == e.shape) or T.ndim != 1:
        raise ValueError("T_K, values and errors must be 1-D of equal length")
    if T.size < 2:
        raise ValueError("need at least two temperatures")
    if np.any(v <= 0) or np.any(e <= 0) or np.any(T <= 0):
        raise ValueError("values, errors and temperatures must be positive")
    if np.any(e / v > 0.5):
        warnings.warn("some relative errors exceed 50 %: ln-space errors (σ/Y) are then "
                      "only approximate", stacklevel=2)
    order = np.argsort(T)
    T, v, e = T[order], v[order], e[order]
    y = np.log(v * (T if quantity == "sigma" else 1.0))
    s = e / v  # σ(ln Y) = σ_Y / Y; multiplying by T leaves it unchanged
    single, chi2_one = _fit(T, y, s, quantity, scale_errors)
    if not two_regime:
        return single
    if T.size < 2 * min_points:
        raise ValueError(f"two-regime fit needs at least {2 * min_points} temperatures")
    best = None
    for k in range(min_points, T.size - min_points + 1):
        lo, chi_lo = _fit(T[:k], y[:k], s[:k], quantity, scale_errors)
        hi, chi_hi = _fit(T[k:], y[k:], s[k:], quantity, scale_errors)
        if best is None or chi_lo + chi_hi < best[0]:
            best = (chi_lo + chi_hi, lo, hi)
    chi2_two, lo, hi = best
    dEa = lo.Ea_eV - hi.Ea_eV
    x_cross = (lo.ln_A - hi.ln_A) / dEa if dEa != 0 else np.nan
    T_cross = float(1.0 / (K_B_EV_K * x_cross)) if np.isfinite(x_cross) and x_cross > 0 else float("nan")
    return TwoRegimeFit(lo, hi, single, T_cross, chi2_one + 2 * 2, chi2_two + 2 * 5)
