"""Compare force-field models: transport sweeps, NEB barriers and model disagreement in one report.

`compare_models` runs the same sweep (`lmpflow.sweep.run_sweep`) and NEB set (`lmpflow.neb`) for every model
and evaluates all models on shared frames (`model_disagreement`); `write_report` turns the sweep tables
(runs.csv, summary.csv, arrhenius.csv as written by the sweep), NEB barriers and the disagreement numbers into
report.md (+ PNG plots, optionally report.html).

Statistics (stated in the report too):
* Ea: difference ± sqrt(σa² + σb²) with σ the fit standard errors; Welch t-test with ν = n_T − 2 per fit
  (Welch–Satterthwaite), or a z-test when a fit has no residual degrees of freedom.
* σ(300 K): compared as log10 ratio; its standard error is recovered from the sweep's 95 % interval
  (half-width / t quantile with ν = n_T − 2, normal when ν < 1).
* D(T) at each shared temperature: Welch t-test on the run means with their SEMs over n_runs trajectories
  (ν_i = n_i − 1); one trajectory: z-test with that run's own error.
* NEB barriers are deterministic for a given model and path: differences are reported without a p-value.
Significant means two-sided p < `alpha` (default 0.05).
"""
from __future__ import annotations

import itertools
import json
import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

ALPHA = 0.05
SWEEP_CI_LEVEL = 0.95  # level of the D300/sigma300 intervals in arrhenius.csv (lmpflow.sweep.CI_LEVEL)

__all__ = ["load_sweep_tables", "pairwise_differences", "model_disagreement", "write_report", "compare_models"]


# ----------------------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------------------
def load_sweep_tables(source) -> dict:
    """{'runs', 'summary', 'arrhenius'} DataFrames from a sweep dir, a list of dirs (concatenated) or a dict."""
    import pandas as pd

    if isinstance(source, Mapping):
        missing = {"summary", "arrhenius"} - set(source)
        if missing:
            raise ValueError(f"sweep tables need keys 'summary' and 'arrhenius' (missing {sorted(missing)})")
        return {k: (v if isinstance(v, pd.DataFrame) else pd.DataFrame(v)) for k, v in source.items()}
    dirs = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    tables = {"runs": [], "summary": [], "arrhenius": []}
    for d in dirs:
        d = Path(d)
        for name in tables:
            path = d / f"{name}.csv"
            if path.is_file():
                tables[name].append(pd.read_csv(path))
            elif name != "runs":
                raise FileNotFoundError(f"{path} missing: {d} is not an analysed sweep directory (run "
                                        "lmpflow.sweep.analyse_sweep on it first)")
    out = {k: (pd.concat(v, ignore_index=True) if v else pd.DataFrame()) for k, v in tables.items()}
    dup = out["arrhenius"]["label"].duplicated()
    if dup.any():
        raise ValueError(f"model labels {sorted(set(out['arrhenius']['label'][dup]))} appear in several sweeps; "
                         "labels must be unique")
    return out


def _neb_table(neb_results):
    """NEB barriers as a DataFrame (label, hop, barrier_forward_eV, barrier_backward_eV, ...)."""
    import pandas as pd

    if neb_results is None:
        return pd.DataFrame()
    if isinstance(neb_results, pd.DataFrame):
        return neb_results
    if isinstance(neb_results, (str, os.PathLike)):
        neb_results = [neb_results]
    if isinstance(neb_results, Mapping):  # {label: {hop: NebResult}}
        rows = []
        for label, hops in neb_results.items():
            for hop, r in hops.items():
                d = r.to_dict() if hasattr(r, "to_dict") else dict(r)
                rows.append({"label": label, "hop": hop, **{k: d[k] for k in (
                    "barrier_forward_eV", "barrier_backward_eV", "reaction_energy_eV", "hop_distance_A",
                    "saddle_found", "converged", "max_force_eV_A", "mechanism") if k in d}})
        return pd.DataFrame(rows)
    return pd.concat([pd.read_csv(p) for p in neb_results], ignore_index=True)  # neb_barriers.csv files


# ----------------------------------------------------------------------------------------------------------
# Statistics
# ----------------------------------------------------------------------------------------------------------
def _test(diff, err_a, err_b, dof_a, dof_b):
    """Two-sided test of diff = 0 with errors err_a, err_b: (err, statistic, dof, p, name)."""
    from scipy import stats

    err = math.sqrt(err_a ** 2 + err_b ** 2)
    if not (err > 0 and math.isfinite(err) and math.isfinite(diff)):
        return err, float("nan"), float("nan"), float("nan"), "n/a"
    stat = diff / err
    if dof_a >= 1 and dof_b >= 1:
        dof = err ** 4 / (err_a ** 4 / dof_a + err_b ** 4 / dof_b)
        return err, stat, dof, float(2 * stats.t.sf(abs(stat), dof)), "Welch t"
    return err, stat, float("inf"), float(2 * stats.norm.sf(abs(stat))), "z"


def pairwise_differences(tables: dict, alpha: float = ALPHA):
    """Pairwise model differences (a − b) of Ea, log10 σ(300 K) and D(T) with uncertainty and p-values."""
    import pandas as pd
    from scipy import stats

    arr, summ = tables["arrhenius"], tables["summary"]
    rows = []
    labels = list(arr["label"])
    for a, b in itertools.combinations(labels, 2):
        ra, rb = arr.set_index("label").loc[a], arr.set_index("label").loc[b]
        nu_a, nu_b = int(ra["n_temperatures"]) - 2, int(rb["n_temperatures"]) - 2
        diff = float(ra["Ea_eV"] - rb["Ea_eV"])
        err, st, dof, p, name = _test(diff, float(ra["Ea_err_eV"]), float(rb["Ea_err_eV"]), nu_a, nu_b)
        rows.append(dict(quantity="Ea_eV", T_K=float("nan"), label_a=a, label_b=b, value_a=float(ra["Ea_eV"]),
                         value_b=float(rb["Ea_eV"]), diff=diff, diff_err=err, statistic=st, dof=dof, p_value=p,
                         test=name))

        def log_sigma(r, nu):
            q = stats.t.ppf(0.5 + SWEEP_CI_LEVEL / 2, nu) if nu >= 1 else stats.norm.ppf(0.5 + SWEEP_CI_LEVEL / 2)
            lo, hi = float(r["sigma300_lo_mS_cm"]), float(r["sigma300_hi_mS_cm"])
            return math.log10(float(r["sigma300_mS_cm"])), (math.log10(hi) - math.log10(lo)) / (2 * q)

        (la, sa), (lb, sb) = log_sigma(ra, nu_a), log_sigma(rb, nu_b)
        err, st, dof, p, name = _test(la - lb, sa, sb, nu_a, nu_b)
        rows.append(dict(quantity="log10_sigma300", T_K=300.0, label_a=a, label_b=b, value_a=la, value_b=lb,
                         diff=la - lb, diff_err=err, statistic=st, dof=dof, p_value=p, test=name))
        sa_t, sb_t = summ[summ["label"] == a].set_index("T_K"), summ[summ["label"] == b].set_index("T_K")
        for T in sorted(set(sa_t.index) & set(sb_t.index)):
            xa, xb = sa_t.loc[T], sb_t.loc[T]
            diff = float(xa["D_mean_cm2_s"] - xb["D_mean_cm2_s"])
            err, st, dof, p, name = _test(diff, float(xa["D_sem_cm2_s"]), float(xb["D_sem_cm2_s"]),
                                          int(xa["n_runs"]) - 1, int(xb["n_runs"]) - 1)
            rows.append(dict(quantity="D_cm2_s", T_K=float(T), label_a=a, label_b=b,
                             value_a=float(xa["D_mean_cm2_s"]), value_b=float(xb["D_mean_cm2_s"]), diff=diff,
                             diff_err=err, statistic=st, dof=dof, p_value=p, test=name))
    df = pd.DataFrame(rows)
    if not df.empty:
        df["significant"] = df["p_value"] < alpha
    return df


# ----------------------------------------------------------------------------------------------------------
# Model disagreement on shared frames
# ----------------------------------------------------------------------------------------------------------
def _as_calculator(model, species):
    from ase.calculators.calculator import BaseCalculator

    if isinstance(model, BaseCalculator):
        return model, False
    from lmpflow.neb import LammpsCalculator, potential_pair_lines

    lines, sp = potential_pair_lines(model, species)
    return LammpsCalculator(lines, sp), True


def model_disagreement(models: Mapping, frames, species: Sequence[str] | None = None,
                       max_frames: int | None = None) -> dict:
    """Evaluate every model on the same frames and measure how much they disagree.

    models: {label: ASE calculator | lmpflow.inputs.Potential | model path | list of LAMMPS pair lines}.
    frames: list of ase.Atoms, or a LAMMPS dump path (frames evenly subsampled to max_frames).
    Returns (eV, eV/Å): force_std_mean/max_eV_A — per-atom ensemble force spread
    s_i = sqrt(mean_m |F_i^m − mean_m F_i|²), averaged / maximal over atoms and frames;
    energy_std_per_atom_eV — std over models of E/N, averaged over frames (population std, like s_i);
    pairs — per model pair: rms_force_diff_eV_A = sqrt(mean (F^a − F^b)²) over frames, atoms, components,
    energy_diff_per_atom_eV mean and std over frames of (E_a − E_b)/N.
    """
    labels = list(models)
    if len(labels) < 2:
        raise ValueError(f"model_disagreement needs at least two models, got {labels}")
    if isinstance(frames, (str, os.PathLike)):
        frames = frames_from_dump(frames, max_frames or 20)
    elif max_frames:
        frames = list(frames)[:: max(1, len(frames) // max_frames)][:max_frames]
    frames = list(frames)
    if not frames:
        raise ValueError("no frames given")
    energies = np.zeros((len(labels), len(frames)))
    forces = []
    for m, label in enumerate(labels):
        calc, own = _as_calculator(models[label], species)
        try:
            f_m = []
            for k, atoms in enumerate(frames):
                at = atoms.copy()
                at.calc = calc
                energies[m, k] = at.get_potential_energy()
                f_m.append(at.get_forces())
            forces.append(f_m)
        finally:
            if own:
                calc.close()
    n_atoms = np.array([len(a) for a in frames])
    e_pa = energies / n_atoms[None, :]
    spread, pairs = [], {}
    for k in range(len(frames)):
        fk = np.array([forces[m][k] for m in range(len(labels))])  # (M, N, 3)
        spread.append(np.sqrt(((fk - fk.mean(axis=0)) ** 2).sum(axis=2).mean(axis=0)))
    spread = np.concatenate(spread)
    for (i, a), (j, b) in itertools.combinations(enumerate(labels), 2):
        sq = np.concatenate([((forces[i][k] - forces[j][k]) ** 2).ravel() for k in range(len(frames))])
        de = e_pa[i] - e_pa[j]
        pairs[f"{a} vs {b}"] = {"label_a": a, "label_b": b, "rms_force_diff_eV_A": float(np.sqrt(sq.mean())),
                                "energy_diff_per_atom_eV": float(de.mean()),
                                "energy_diff_per_atom_std_eV": float(de.std())}
    return {"labels": labels, "n_frames": len(frames), "n_atoms": int(n_atoms.sum()),
            "force_std_mean_eV_A": float(spread.mean()), "force_std_max_eV_A": float(spread.max()),
            "energy_std_per_atom_eV": float(e_pa.std(axis=0).mean()), "pairs": pairs,
            "energies_per_atom_eV": e_pa.tolist()}


def frames_from_dump(dump: str | Path, n_frames: int = 20, species: Sequence[str] | None = None) -> list:
    """Up to n_frames evenly spaced frames of a LAMMPS dump as ase.Atoms (positions wrapped, pbc)."""
    from ase import Atoms

    from lmpflow.dump import read_dump  # written by the dump helper

    traj = read_dump(dump, cache=False)
    n = traj.positions.shape[0]
    idx = np.unique(np.linspace(0, n - 1, min(n, n_frames)).round().astype(int))
    frames = []
    for k in idx:
        at = Atoms(list(traj.elements), positions=np.asarray(traj.positions[k]) - traj.origins[k],
                   cell=traj.cells[k], pbc=True)
        at.wrap()
        frames.append(at)
    return frames


# ----------------------------------------------------------------------------------------------------------
# Plots and report
# ----------------------------------------------------------------------------------------------------------
def _axes(figsize):
    """A figure with one axes, outside pyplot (no global backend state)."""
    from matplotlib.figure import Figure  # matplotlib only when a report is drawn

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def plot_arrhenius_comparison(tables: dict, png: Path) -> Path:
    """log10 D vs 1000/T per model: run means with SEM error bars and the fitted Arrhenius line."""
    from lmpflow.analysis import K_B_EV_K

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
    from .plots import save_figure

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
    from .plots import save_figure

    return save_figure(fig, png)


def _fmt(x, digits=3):
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(x)
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(x):
        return "–" if math.isnan(x) else ("∞" if x > 0 else "−∞")
    return f"{x:.{digits}g}" if (abs(x) < 1e-3 or abs(x) >= 1e4) and x != 0 else f"{x:.{digits}f}"


def _md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_fmt(v) if not isinstance(v, str) else v for v in r) + " |" for r in rows]
    return "\n".join(out)


def write_report(sweep_dirs_or_tables, neb_results=None, ensemble_results: dict | None = None,
                 out_dir: str | Path = "report", *, alpha: float = ALPHA, html: bool = False,
                 title: str = "lmpflow model comparison") -> Path:
    """Write report.md (+ arrhenius_compare.png, neb_barriers.png, pairwise.csv; report.html if html).

    sweep_dirs_or_tables: a sweep output dir, a list of them, or {'summary', 'arrhenius'[, 'runs']} tables.
    neb_results: {label: {hop: NebResult}}, neb_barriers.csv path(s) or a DataFrame (optional).
    ensemble_results: the dict of `model_disagreement` (optional). Returns the path of report.md.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = load_sweep_tables(sweep_dirs_or_tables)
    arr, summ = tables["arrhenius"], tables["summary"]
    neb = _neb_table(neb_results)
    sections = [f"# {title}\n"]
    n_runs = summ.groupby("label")["n_runs"].agg(["min", "max"]) if "n_runs" in summ else None
    sections.append("## Models and transport\n\nD per temperature from the Li MSD combined over trajectories, ± its standard error from the spread between them; "
                    "Ea ± standard error of the weighted Arrhenius fit; 300 K values extrapolated with "
                    f"{SWEEP_CI_LEVEL:.0%} intervals.\n")
    rows = []
    for _, r in arr.iterrows():
        nr = n_runs.loc[r["label"]] if n_runs is not None and r["label"] in n_runs.index else None
        rows.append([r["label"], str(r.get("arch", "")), str(r.get("functional", "")), r["Ea_eV"], r["Ea_err_eV"],
                     f"{_fmt(r['D300_cm2_s'])} [{_fmt(r['D300_lo_cm2_s'])}, {_fmt(r['D300_hi_cm2_s'])}]",
                     f"{_fmt(r['sigma300_mS_cm'])} [{_fmt(r['sigma300_lo_mS_cm'])}, "
                     f"{_fmt(r['sigma300_hi_mS_cm'])}]",
                     int(r["n_temperatures"]), "–" if nr is None else f"{nr['min']}–{nr['max']}"])
    sections.append(_md_table(["model", "arch", "functional", "Ea (eV)", "±", "D(300 K) (cm²/s)",
                               "σ(300 K) (mS/cm)", "n_T", "runs per T"], rows) + "\n")
    png = plot_arrhenius_comparison(tables, out / "arrhenius_compare.png")
    sections.append(f"![Arrhenius]({png.name})\n")

    pw = pairwise_differences(tables, alpha)
    if not pw.empty:
        pw.to_csv(out / "pairwise.csv", index=False)
        sections.append(f"## Pairwise differences (a − b)\n\nDifference ± sqrt(σa² + σb²); two-sided test, "
                        f"significant if p < {alpha} (see lmpflow.report for the tests). Full table: "
                        "pairwise.csv.\n")
        rows = [[r["quantity"], f"{r['T_K']:g}" if math.isfinite(r["T_K"]) else "–", r["label_a"], r["label_b"], r["diff"], r["diff_err"],
                 r["test"], r["p_value"], bool(r["significant"])] for _, r in pw.iterrows()]
        sections.append(_md_table(["quantity", "T (K)", "a", "b", "a − b", "±", "test", "p", "significant"],
                                  rows) + "\n")
    if not neb.empty:
        sections.append("## NEB barriers\n\nClimbing-image NEB, endpoints relaxed; forward = E(saddle) − "
                        "E(initial), backward = E(saddle) − E(final). Deterministic per model (no p-value).\n")
        rows = [[r["label"], r["hop"], r.get("hop_distance_A", float("nan")), r["barrier_forward_eV"],
                 r["barrier_backward_eV"], bool(r.get("saddle_found", True)), bool(r.get("converged", True))]
                for _, r in neb.iterrows()]
        sections.append(_md_table(["model", "hop", "distance (Å)", "forward (eV)", "backward (eV)",
                                   "saddle inside path", "converged"], rows) + "\n")
        piv = neb.pivot_table(index="hop", columns="label", values="barrier_forward_eV", sort=False)
        rows = []
        for a, b in itertools.combinations(piv.columns, 2):
            for hop in piv.index:
                rows.append([hop, a, b, piv.loc[hop, a] - piv.loc[hop, b]])
        if rows:
            sections.append(_md_table(["hop", "a", "b", "forward barrier a − b (eV)"], rows) + "\n")
        png = plot_barriers(neb, out / "neb_barriers.png")
        sections.append(f"![NEB barriers]({png.name})\n")
    if ensemble_results:
        e = ensemble_results
        sections.append(f"## Model disagreement on {e['n_frames']} shared frames\n\nPer-atom force spread "
                        "s_i = sqrt(mean_m |F_i^m − ⟨F_i⟩|²) over models; energy spread = std over models of "
                        "E/N.\n")
        sections.append(_md_table(["models", "mean s_i (eV/Å)", "max s_i (eV/Å)", "energy std (eV/atom)"],
                                  [[", ".join(e["labels"]), e["force_std_mean_eV_A"], e["force_std_max_eV_A"],
                                    e["energy_std_per_atom_eV"]]]) + "\n")
        rows = [[p["label_a"], p["label_b"], p["rms_force_diff_eV_A"], p["energy_diff_per_atom_eV"],
                 p["energy_diff_per_atom_std_eV"]] for p in e["pairs"].values()]
        sections.append(_md_table(["a", "b", "RMS force diff (eV/Å)", "mean ΔE (eV/atom)",
                                   "std ΔE over frames (eV/atom)"], rows) + "\n")
        (out / "disagreement.json").write_text(json.dumps(e, indent=1))
    md = out / "report.md"
    md.write_text("\n".join(sections))
    if html:
        _write_html(md, out / "report.html", title)
    return md


def _write_html(md: Path, html: Path, title: str) -> Path:
    """Minimal HTML rendering of report.md (tables, headings, images, paragraphs) without extra packages."""
    import html as h

    body, table = [], []

    def flush():
        if table:
            head, *rest = table
            cells = lambda r, t: "".join(f"<{t}>{h.escape(c.strip())}</{t}>" for c in r.strip("|").split("|"))
            body.append("<table><tr>" + cells(head, "th") + "</tr>"
                        + "".join("<tr>" + cells(r, "td") + "</tr>" for r in rest if not r.startswith("|---"))
                        + "</table>")
            table.clear()

    for line in md.read_text().splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("!["):
            alt, src = line[2:].split("](")
            body.append(f'<img src="{h.escape(src.rstrip(")"))}" alt="{h.escape(alt)}">')
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{h.escape(line.lstrip('#').strip())}</h{level}>")
        elif line.strip():
            body.append(f"<p>{h.escape(line)}</p>")
    flush()
    html.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{h.escape(title)}</title>"
                    "<style>table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px}</style>"
                    "</head><body>" + "\n".join(body) + "</body></html>")
    return html


# ----------------------------------------------------------------------------------------------------------
# Orchestration
# ----------------------------------------------------------------------------------------------------------
def compare_models(specs: Sequence, temperatures: Sequence[float], seeds, out_dir: str | Path, *,
                   structure=None, hops: Sequence[str] | None = None, neb_kwargs: dict | None = None,
                   n_frames: int = 10, sweep_kwargs: dict | None = None, html: bool = True,
                   alpha: float = ALPHA) -> Path:
    """Run the same sweep and NEB set for every model, measure their disagreement, write the report.

    specs: ModelSpecs, Potentials or model paths (labels unique). temperatures (K), seeds: as run_sweep.
    Writes out_dir/sweep (sweep tables), out_dir/neb/<label> (NEB outputs), out_dir/report.md (+ .html).
    hops: NEB hops (default all canonical hops; [] skips NEB). n_frames: frames of the first model's
    lowest-temperature trajectory on which all models are evaluated (0 skips the disagreement).
    """
    from lmpflow.inputs import as_potential
    from lmpflow.neb import HOP_NAMES, li_migration_barriers
    from lmpflow.sweep import run_sweep

    out = Path(out_dir)
    potentials = [as_potential(s) for s in specs]
    labels = [p.label for p in potentials]
    if len(set(labels)) != len(labels):
        raise ValueError(f"model labels must be unique, got {labels}")
    sweep_dir = out / "sweep"
    run_sweep(potentials, temperatures, seeds, sweep_dir, structure, **(sweep_kwargs or {}))
    neb = {}
    hops = HOP_NAMES if hops is None else tuple(hops)
    if hops:
        for pot in potentials:
            neb[pot.label] = li_migration_barriers(pot, hops=hops, label=pot.label, out_dir=out / "neb" / pot.label,
                                                   **(neb_kwargs or {}))
    ensemble = None
    if n_frames and len(potentials) > 1:
        dump = _shared_dump(sweep_dir, labels[0])
        ensemble = model_disagreement({p.label: p for p in potentials}, frames_from_dump(dump, n_frames))
    return write_report(sweep_dir, neb, ensemble, out, alpha=alpha, html=html)


def _shared_dump(sweep_dir: Path, label: str) -> Path:
    """Dump of the first model's lowest-temperature finished run (frames shared by all models)."""
    import pandas as pd

    runs = pd.read_csv(sweep_dir / "runs.csv")
    runs = runs[runs["label"] == label].sort_values(["T_K", "seed"])
    for run_dir in runs.get("run_dir", []):
        dump = Path(run_dir) / "dump.lammpstrj"
        if dump.is_file():
            return dump
    raise FileNotFoundError(f"no dump.lammpstrj of model {label} under {sweep_dir}")
