"""Plots of MSDs and Arrhenius fits, written to PNG or SVG files.

Uses matplotlib's object API with the Agg canvas directly, so importing this
module never changes the global pyplot backend.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .analysis import ArrheniusFit, TwoRegimeFit
from .analysis import A2_PER_PS_TO_CM2_PER_S, DiffusionResult, MSDResult

__all__ = ["plot_msd", "plot_arrhenius"]


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write `fig` (PNG, SVG or PDF by suffix), creating folders, and release it. Every lmpflow plot ends here."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ValueError("plot path must end in .png, .svg or .pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=150, bbox_inches="tight")
    if "matplotlib.pyplot" in sys.modules:  # a pyplot figure stays registered until closed
        sys.modules["matplotlib.pyplot"].close(fig)
    return path


def plot_msd(
    res: MSDResult,
    path: str | os.PathLike,
    diffusion: DiffusionResult | None = None,
    *,
    per_axis: bool = False,
    charge: bool = False,
) -> Path:
    """MSD vs t (linear and log–log panels) with the fit window and fitted line.

    ``diffusion`` (from ``diffusion_coefficient``) adds the shaded window and
    the line 6·D·t + c; ``charge`` adds the charge MSD divided by Σq² (equal
    to the tracer MSD for uncorrelated ions).
    """
    fig = Figure(figsize=(9, 3.8))
    ax_lin, ax_log = fig.subplots(1, 2)
    t = res.t_ps[1:]
    curves = [("total", res.total_A2[1:])]
    if per_axis:
        curves += [(a, res.msd_A2[1:, i]) for i, a in enumerate("xyz")]
    if charge and res.charge_sq_sum > 0:
        curves.append(("charge / Σq²", res.charge_total[1:] / res.charge_sq_sum))
    for label, y in curves:
        ax_lin.plot(t, y, label=label, lw=1)
        pos = y > 0
        ax_log.loglog(t[pos], y[pos], label=label, lw=1)
    if diffusion is not None:
        t0, t1 = diffusion.fit_window_ps
        slope = 6 * diffusion.D_cm2_s / A2_PER_PS_TO_CM2_PER_S
        tt = np.linspace(t0, t1, 50)
        for ax in (ax_lin, ax_log):
            ax.axvspan(t0, t1, color="0.85", zorder=0, label="fit window")
        lbl = (f"D = {diffusion.D_cm2_s:.3g} ± {diffusion.sigma_D_cm2_s:.2g} cm²/s")
        ax_lin.plot(tt, slope * tt + diffusion.intercept_A2, "k--", lw=1.2, label=lbl)
        ax_log.loglog(tt, slope * tt + diffusion.intercept_A2, "k--", lw=1.2)
    # Slope-1 guide: the diffusive regime is where the MSD runs parallel to it.
    y_end = res.total_A2[-1] if res.total_A2[-1] > 0 else 1.0
    ax_log.loglog(t, y_end * t / t[-1], ":", color="0.5", lw=1, label="∝ t")
    ax_lin.set_xlabel("t (ps)")
    ax_lin.set_ylabel(f"MSD {res.species} (Å²)")
    ax_log.set_xlabel("t (ps)")
    ax_lin.legend(fontsize=7)
    ax_log.legend(fontsize=7)
    fig.suptitle(f"{res.species}: {res.n_particles} ions, {res.n_frames} frames, "
                 f"drift {'corrected' if res.drift_corrected else 'not corrected'}", fontsize=9)
    return save_figure(fig, path)


def plot_arrhenius(
    fit: ArrheniusFit | TwoRegimeFit,
    T_K: Sequence[float],
    values: Sequence[float],
    errors: Sequence[float],
    path: str | os.PathLike,
    *,
    extrapolate_to_K: float = 300.0,
    level: float = 0.95,
) -> Path:
    """ln(Y) vs 1000/T with error bars, the fit, its confidence band, and the
    extrapolation to ``extrapolate_to_K`` (default 300 K) with its interval."""
    T = np.asarray(T_K, float)
    v = np.asarray(values, float)
    e = np.asarray(errors, float)
    fits = [fit.low, fit.high] if isinstance(fit, TwoRegimeFit) else [fit]
    quantity = fits[0].quantity
    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    ax.errorbar(1000 / T, v, yerr=e, fmt="o", ms=4, capsize=2, color="k", label="MD")
    for f in fits:
        lo_T = min(extrapolate_to_K, f.T_range_K[0])
        TT = np.linspace(lo_T, f.T_range_K[1], 100)
        p = f.predict(TT, level)
        lab = f"Ea = {f.Ea_eV:.3f} ± {f.Ea_err_eV:.3f} eV"
        line, = ax.plot(1000 / TT, p.value, "-", lw=1.2, label=lab)
        ax.fill_between(1000 / TT, p.low, p.high, color=line.get_color(), alpha=0.2, lw=0)
    p = fits[0].predict(extrapolate_to_K, level)
    ax.errorbar(1000 / p.T_K, p.value, yerr=[p.value - p.low, p.high - p.value], fmt="s",
                color="C3", capsize=3,
                label=f"{extrapolate_to_K:g} K: {p.value[0]:.3g} [{p.low[0]:.2g}, {p.high[0]:.2g}]")
    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("D (cm²/s)" if quantity == "D" else "σ (mS/cm)")
    ax.legend(fontsize=7)
    return save_figure(fig, path)
