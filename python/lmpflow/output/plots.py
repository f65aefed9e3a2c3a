"""Every lmpflow figure: MSDs, Arrhenius fits and comparisons, NEB paths and barriers (PNG, SVG or PDF).

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

from lmpflow._host import atomic_output
from lmpflow.analysis.neb import NebResult, smooth_path
from lmpflow.analysis import K_B_EV_K, ArrheniusFit, TwoRegimeFit
from lmpflow.analysis import A2_PER_PS_TO_CM2_PER_S, DiffusionResult, MSDResult


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write `fig` (PNG, SVG or PDF by suffix), creating folders, and release it. Every lmpflow plot ends here."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ValueError("plot path must end in .png, .svg or .pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
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


def _axes(figsize):
    """A figure with one axes, outside pyplot (no global backend state)."""
    from matplotlib.figure import Figure  # matplotlib only when a report is drawn

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def plot_arrhenius_comparison(tables: dict, png: Path) -> Path:
    """log10 D vs 1000/T per model: run means with SEM error bars and the fitted Arrhenius line."""
    fig, ax = _axes((6, 4.5))
    arr = tables["arrhenius"].set_index("label")
    for label, g in tables["summary"].groupby("label", sort=False):
        g = g.sort_values("T_K")
        x = 1000.0 / g["T_K"].to_numpy(float)
        bars = ax.errorbar(x, g["D_mean_cm2_s"], yerr=g["D_sem_cm2_s"], fmt="o", capsize=3)
        colour = bars[0].get_color()
        text = label
        if label in arr.index and np.isfinite(arr.loc[label, "Ea_eV"]):
            r = arr.loc[label]
            t = np.linspace(x.min(), 1000 / 300.0, 50)
            ax.plot(t, r["prefactor_cm2_s"] * np.exp(-r["Ea_eV"] / (K_B_EV_K * 1000.0 / t)), "-", color=colour)
            # extrapolated D(300 K) with the sweep's interval
            ax.errorbar([1000 / 300.0], [r["D300_cm2_s"]], yerr=[[r["D300_cm2_s"] - r["D300_lo_cm2_s"]],
                                                                 [r["D300_hi_cm2_s"] - r["D300_cm2_s"]]],
                        fmt="s", mfc="none", color=colour, capsize=3)
            text = f"{label}: Ea = {r['Ea_eV']:.3f} ± {r['Ea_err_eV']:.3f} eV"
        ax.plot([], [], "o-", color=colour, label=text)
    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)   (open squares: 300 K extrapolation)")
    ax.set_ylabel("D(Li) (cm²/s), ± standard error over trajectories")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, png)


def plot_barriers(neb, png: Path) -> Path:
    """Grouped bars: forward NEB barrier (eV) per hop for each model."""
    hops = list(dict.fromkeys(neb["hop"]))
    labels = list(dict.fromkeys(neb["label"]))
    fig, ax = _axes((6, 4))
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        g = neb[neb["label"] == label].set_index("hop")
        vals = [float(g.loc[h, "barrier_forward_eV"]) if h in g.index else np.nan for h in hops]
        ax.bar(np.arange(len(hops)) + i * width, vals, width, label=label)
    ax.set_xticks(np.arange(len(hops)) + 0.4 - width / 2, hops)
    ax.set_ylabel("NEB barrier, forward (eV)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, png)


def plot_neb(results: NebResult | Sequence[NebResult], png: str | Path, title: str | None = None) -> Path:
    """Plot energy (relative to each path's initial state, eV) vs reaction coordinate (A) to a PNG."""
    if isinstance(results, NebResult):
        results = [results]
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    for r in results:
        fine_s, fine_e = smooth_path(r)
        line, = ax.plot(fine_s, fine_e, "-", lw=1.5)
        e = np.asarray(r.energies_eV) - r.energies_eV[0]
        ax.plot(r.path_A, e, "o", color=line.get_color(),
                label=f"{r.label}: {r.barrier_forward_eV:.3f} / {r.barrier_backward_eV:.3f} eV")
        ax.plot(r.path_A[r.climbing_index], e[r.climbing_index], "*", ms=12, color=line.get_color())
    ax.set_xlabel("reaction coordinate (Å)")
    ax.set_ylabel("E − E(initial) (eV)")
    ax.set_title(title or "NEB (forward / backward barrier)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, png)


def plot_error_vs_trajectories(points, png: str | os.PathLike, target_rel_err: float = 0.01, looks=None) -> Path:
    """Relative standard error of D against the number of trajectories, per (label, T) point (log-log).

    points: rows with label, T_K, n (trajectories used) and rel_err (reached); looks: optional rows with label,
    T_K, n, rel_err of earlier decisions (an adaptive sweep's adaptive_looks table), drawn as the measured
    curve. Each point also gets its 1/√n expectation through the final error, and the target is a line."""
    fig, ax = _axes((6.5, 4.5))
    n_max = 1
    for (label, T), g in points.groupby(["label", "T_K"], sort=True):
        r = g.iloc[-1]
        n, rel = int(r["n"]), float(r["rel_err"])
        if not (n >= 1 and np.isfinite(rel) and rel > 0):
            continue
        measured = None
        if looks is not None and len(looks):
            m = looks[(looks["label"] == label) & (looks["T_K"] == T)]
            m = m[np.isfinite(m["rel_err"]) & (m["rel_err"] > 0)]
            measured = (m["n"].to_numpy(float), m["rel_err"].to_numpy(float)) if len(m) else None
        xs, ys = measured if measured is not None else (np.array([n]), np.array([rel]))
        line, = ax.plot(xs, ys, "o-", ms=4, lw=1, label=f"{label} {T:g} K: {n} trajectories, {rel:.2%}")
        # the expectation runs on to where it meets the target (how many trajectories the target needs)
        reach = n * (rel / target_rel_err) ** 2
        n_end = min(max(2.0 * n, 1.3 * reach, 4.0), 1e5)
        n_max = max(n_max, n_end)
        nn = np.geomspace(max(1.0, xs.min() / 2), n_end, 60)
        ax.plot(nn, rel * np.sqrt(n / nn), "--", lw=0.8, color=line.get_color())
    ax.axhline(target_rel_err, color="k", lw=1, ls=":", label=f"target {target_rel_err:.2%}")
    ax.plot([], [], "k--", lw=0.8, label="1/√n expectation")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(left=1, right=max(4.0, 1.1 * n_max))
    ax.set_xlabel("trajectories per point")
    ax.set_ylabel("relative standard error of D")
    n_entries = len(ax.get_legend_handles_labels()[0])
    ax.legend(fontsize=6 if n_entries > 8 else 7, ncol=2 if n_entries > 8 else 1)
    fig.tight_layout()
    return save_figure(fig, png)


_SPECIES_COLOURS = {"Li": "tab:green", "P": "tab:purple", "S": "gold", "Cl": "tab:cyan"}


def plot_parity(parity: dict, png: str | os.PathLike, title: str = "") -> Path:
    """Model against reference: energy per atom (eV), force components by species (eV/Å), stress (GPa)."""
    from matplotlib.figure import Figure

    panels = [("energy (eV/atom)", parity["energy_reference_eV_atom"], parity["energy_model_eV_atom"], None)]
    panels.append(("force component (eV/Å)", parity["forces_reference_eV_A"], parity["forces_model_eV_A"],
                   parity["force_species"]))
    if len(parity["stress_reference_GPa"]):
        panels.append(("stress component (GPa)", parity["stress_reference_GPa"], parity["stress_model_GPa"], None))
    fig = Figure(figsize=(4.2 * len(panels), 4))
    for ax, (name, ref, mod, species) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        ref, mod = np.asarray(ref), np.asarray(mod)
        if species is None:
            ax.scatter(ref.ravel(), mod.ravel(), s=8, alpha=0.7)
        else:
            for s in dict.fromkeys(species):
                sel = np.asarray(species) == s
                ax.scatter(ref[sel].ravel(), mod[sel].ravel(), s=3, alpha=0.5, label=s,
                           color=_SPECIES_COLOURS.get(s))
            ax.legend(fontsize=7, markerscale=3)
        lo, hi = min(ref.min(), mod.min()), max(ref.max(), mod.max())
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.set_xlabel(f"reference {name}")
        ax.set_ylabel(f"model {name}")
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, png)


def plot_eos(eos: dict, png: str | os.PathLike) -> Path:
    """Energy per cell relative to its minimum (eV) and pressure (GPa) against the lattice constant (Å)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.8))
    ax_e, ax_p = fig.subplots(1, 2)
    a = eos["lattice_constant_A"]
    for side, style in (("reference", "ko-"), ("model", "s--")):
        d = eos[side]
        x = a * np.asarray(d["scales"])
        ax_e.plot(x, np.asarray(d["energies_eV"]) - min(d["energies_eV"]), style, label=side, ms=4)
        ax_p.plot(x, d["pressures_GPa"], style, label=side, ms=4)
    ax_p.axhline(0.0, color="grey", lw=0.6)
    ax_e.set_xlabel("lattice constant (Å)")
    ax_e.set_ylabel("E − E_min (eV/cell)")
    ax_p.set_xlabel("lattice constant (Å)")
    ax_p.set_ylabel("pressure (GPa)")
    ax_e.legend(fontsize=8)
    return save_figure(fig, png)


def plot_md_comparison(md: Sequence[dict], png: str | os.PathLike) -> Path:
    """Per temperature: Li MSD (Å²) against time (ps), and each RDF g(r), model against reference."""
    from matplotlib.figure import Figure

    pairs = list(md[0]["model"]["rdfs"])
    fig = Figure(figsize=(3.6 * (1 + len(pairs)), 3.2 * len(md)))
    axes = fig.subplots(len(md), 1 + len(pairs), squeeze=False)
    for row, piece in zip(axes, md):
        for side, style in (("reference", "k-"), ("model", "--")):
            res = piece[side]["msd"]
            row[0].plot(res.t_ps, res.total_A2, style, label=side)
            for ax, pair in zip(row[1:], pairs):
                g = piece[side]["rdfs"][pair]
                ax.plot(g.r_A, g.g, style, label=side)
                ax.set_xlabel("r (Å)")
                ax.set_ylabel(f"g {pair}(r)")
        row[0].set_xlabel("t (ps)")
        row[0].set_ylabel(f"Li MSD (Å²), {piece['T_K']:g} K")
        row[0].legend(fontsize=7)
    return save_figure(fig, png)
