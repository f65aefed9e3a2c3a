"""The model-comparison report: sweep tables, pairwise differences, NEB barriers and model disagreement as
report.md (+ PNG plots, optionally report.html). How the differences are tested: lmpflow.analysis.comparison.
"""
from __future__ import annotations

import itertools
import json
import math
import os
from pathlib import Path
from typing import Mapping

import numpy as np

from lmpflow._host import atomic_write_text
from lmpflow.analysis.comparison import ALPHA, SWEEP_CI_LEVEL, pairwise_differences
from lmpflow.output.plots import plot_arrhenius_comparison, plot_barriers


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
                                        "lmpflow.analyse_sweep on it first)")
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
        atomic_write_text(out / "pairwise.csv", pw.to_csv(index=False))
        sections.append(f"## Pairwise differences (a − b)\n\nDifference ± sqrt(σa² + σb²); two-sided test, "
                        f"significant if p < {alpha} (see lmpflow.analysis.comparison for the tests). Full table: "
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
        atomic_write_text(out / "disagreement.json", json.dumps(e, indent=1))
    md = atomic_write_text(out / "report.md", "\n".join(sections))
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
    return atomic_write_text(html, f"<!doctype html><html><head><meta charset='utf-8'><title>{h.escape(title)}</title>"
                    "<style>table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px}</style>"
                    "</head><body>" + "\n".join(body) + "</body></html>")
