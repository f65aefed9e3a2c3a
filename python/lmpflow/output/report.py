"""The model-comparison report: sweep tables, trajectories per point, the factorial (architecture × functional)
effects, pairwise differences, NEB barriers and model disagreement.

Written as report.md (with PNG plots beside it) and report.html, one self-contained page (plots embedded as data
URIs: it opens in a browser on its own), and every table of it as CSV. How the numbers are tested:
lmpflow.analysis.comparison (pairs) and lmpflow.analysis.factorial (main effects).
"""
from __future__ import annotations

import base64
import itertools
import json
import math
import os
from pathlib import Path
from typing import Mapping

import numpy as np

from lmpflow._host import atomic_write_text
from lmpflow.analysis.comparison import ALPHA, SWEEP_CI_LEVEL, pairwise_differences
from lmpflow.analysis.factorial import factorial_comparison
from lmpflow.output.plots import plot_arrhenius_comparison, plot_barriers, plot_error_vs_trajectories

#: Optional tables of a sweep directory (an adaptive sweep writes the last two).
_OPTIONAL = ("runs", "adaptive", "adaptive_looks")
#: Relative error of D the trajectories section measures against when the sweep was not adaptive (the study's).
DEFAULT_TARGET_REL_ERR = 0.01


def load_sweep_tables(source) -> dict:
    """{'runs', 'summary', 'arrhenius', 'adaptive', 'adaptive_looks'} DataFrames (the optional ones may be empty)
    from a sweep dir, a list of dirs (concatenated) or a dict."""
    import pandas as pd

    if isinstance(source, Mapping):
        missing = {"summary", "arrhenius"} - set(source)
        if missing:
            raise ValueError(f"sweep tables need keys 'summary' and 'arrhenius' (missing {sorted(missing)})")
        return {k: (v if isinstance(v, pd.DataFrame) else pd.DataFrame(v)) for k, v in source.items()}
    dirs = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    tables = {name: [] for name in ("runs", "summary", "arrhenius", "adaptive", "adaptive_looks")}
    for d in dirs:
        d = Path(d)
        for name in tables:
            path = d / f"{name}.csv"
            if path.is_file():
                tables[name].append(pd.read_csv(path))
            elif name not in _OPTIONAL:
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
    out += ["| " + " | ".join(_cell(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def _cell(v) -> str:
    return v if isinstance(v, str) else _fmt(v)


class ReportPage:
    """The report as blocks (headings, paragraphs, tables with their CSV, figures), rendered to Markdown and to
    one self-contained HTML page."""

    def __init__(self, out: Path):
        self.out, self.blocks = out, []

    def h(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, header: list[str], rows: list[list], csv_name: str, df=None) -> None:
        """A table shown with `rows` (formatted) and written as csv_name (df's full precision, else the rows)."""
        import pandas as pd

        data = df if df is not None else pd.DataFrame([[_cell(v) for v in r] for r in rows], columns=header)
        atomic_write_text(self.out / csv_name, data.to_csv(index=False))
        self.blocks.append(("table", header, [[_cell(v) for v in r] for r in rows], csv_name))

    def img(self, alt: str, path: Path) -> None:
        self.blocks.append(("img", alt, Path(path)))

    def markdown(self) -> str:
        out = []
        for b in self.blocks:
            if b[0] == "h":
                out.append(f"{'#' * b[1]} {b[2]}\n")
            elif b[0] == "p":
                out.append(b[1] + "\n")
            elif b[0] == "table":
                out.append(_md_table(b[1], b[2]) + f"\n\nTable: {b[3]}\n")
            else:
                out.append(f"![{b[1]}]({b[2].name})\n")
        return "\n".join(out)

    def html(self, title: str) -> str:
        import html as h

        body = []
        for b in self.blocks:
            if b[0] == "h":
                body.append(f"<h{b[1]}>{h.escape(b[2])}</h{b[1]}>")
            elif b[0] == "p":
                body.append(f"<p>{h.escape(b[1])}</p>")
            elif b[0] == "table":
                head = "".join(f"<th>{h.escape(c)}</th>" for c in b[1])
                rows = "".join("<tr>" + "".join(f"<td>{h.escape(c)}</td>" for c in r) + "</tr>" for r in b[2])
                body.append(f"<table><tr>{head}</tr>{rows}</table>"
                            f"<p class='csv'>Table as CSV: <a href='{h.escape(b[3])}'>{h.escape(b[3])}</a></p>")
            else:  # embedded, so the page needs no other file
                data = base64.b64encode(b[2].read_bytes()).decode("ascii")
                body.append(f"<figure><img src='data:image/png;base64,{data}' alt='{h.escape(b[1])}'>"
                            f"<figcaption>{h.escape(b[1])}</figcaption></figure>")
        style = ("body{font-family:sans-serif;max-width:70em;margin:1em auto;padding:0 1em;color:#222}"
                 "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #999;padding:2px 6px;"
                 "font-size:90%}th{background:#e8eef4}img{max-width:100%}p.csv{font-size:80%;color:#555}"
                 "figcaption{font-size:80%;color:#555}")
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>{h.escape(title)}</title>"
                f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(sweep_dirs_or_tables, neb_results=None, ensemble_results: dict | None = None,
                 out_dir: str | Path = "report", *, alpha: float = ALPHA, html: bool = True,
                 title: str = "lmpflow model comparison", factors: Mapping[str, Mapping[str, str]] | None = None,
                 target_rel_err: float | None = None) -> Path:
    """Write report.md with its PNG plots, report.html (self-contained, unless html=False) and the tables as CSV.

    sweep_dirs_or_tables: a sweep output dir, a list of them, or {'summary', 'arrhenius'[, 'runs', 'adaptive',
    'adaptive_looks']} tables. neb_results: {label: {hop: NebResult}}, neb_barriers.csv path(s) or a DataFrame.
    ensemble_results: the dict of `model_disagreement`. factors: {label: {factor: level}} for the factorial
    effects (default: arch and xc = functional from the tables). target_rel_err: the relative error of D the
    trajectories section measures against (default: the adaptive sweep's target, else 1 %). Returns report.md.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = load_sweep_tables(sweep_dirs_or_tables)
    doc = ReportPage(out)
    doc.h(1, title)
    _transport_section(doc, tables)
    _trajectories_section(doc, tables, target_rel_err)
    _factorial_section(doc, tables, factors, alpha)
    _pairwise_section(doc, tables, alpha)
    _neb_section(doc, _neb_table(neb_results))
    if ensemble_results:
        _disagreement_section(doc, ensemble_results)
    md = atomic_write_text(out / "report.md", doc.markdown())
    if html:
        atomic_write_text(out / "report.html", doc.html(title))
    return md


def _transport_section(doc: ReportPage, tables: dict) -> None:
    arr, summ = tables["arrhenius"], tables["summary"]
    n_runs = summ.groupby("label")["n_runs"].agg(["min", "max"]) if "n_runs" in summ else None
    doc.h(2, "Models and transport")
    doc.p("D per temperature from the Li MSD combined over trajectories, ± its standard error from the spread "
          "between them; Ea ± standard error of the weighted Arrhenius fit; 300 K values extrapolated with "
          f"{SWEEP_CI_LEVEL:.0%} intervals.")
    rows = []
    for _, r in arr.iterrows():
        nr = n_runs.loc[r["label"]] if n_runs is not None and r["label"] in n_runs.index else None
        rows.append([r["label"], str(r.get("arch", "")), str(r.get("functional", "")), r["Ea_eV"], r["Ea_err_eV"],
                     f"{_fmt(r['D300_cm2_s'])} [{_fmt(r['D300_lo_cm2_s'])}, {_fmt(r['D300_hi_cm2_s'])}]",
                     f"{_fmt(r['sigma300_mS_cm'])} [{_fmt(r['sigma300_lo_mS_cm'])}, "
                     f"{_fmt(r['sigma300_hi_mS_cm'])}]",
                     int(r["n_temperatures"]), "–" if nr is None else f"{nr['min']}–{nr['max']}"])
    doc.table(["model", "arch", "functional", "Ea (eV)", "±", "D(300 K) (cm²/s)", "σ(300 K) (mS/cm)", "n_T",
               "runs per T"], rows, "transport.csv", df=arr)
    molten = summ[summ["framework_mobile_runs"] > 0] if "framework_mobile_runs" in summ else summ.iloc[:0]
    if len(molten):
        doc.p("Warning: the framework (P, S, Cl) moved like a liquid — its MSD grew linearly — in "
              + "; ".join(f"{r['label']} at {r['T_K']:g} K ({int(r['framework_mobile_runs'])} of {int(r['n_runs'])} "
                          "runs)" for _, r in molten.iterrows())
              + ". D there describes a molten or amorphising host, not Li hopping in the solid, and biases the "
                "Arrhenius fits that include it.")
    doc.img("Arrhenius plot of D per model", plot_arrhenius_comparison(tables, doc.out / "arrhenius_compare.png"))


def _trajectories_section(doc: ReportPage, tables: dict, target: float | None) -> None:
    import pandas as pd

    summ, ad = tables["summary"], tables.get("adaptive")
    adaptive = ad is not None and len(ad) > 0
    looks = tables.get("adaptive_looks") if adaptive else None
    if target is None:
        target = float(ad["target_rel_err"].iloc[0]) if adaptive else DEFAULT_TARGET_REL_ERR
    status = ad.set_index(["label", "T_K"])["status"] if adaptive else None
    data = []
    for _, r in summ.iterrows():
        n = int(r["n_runs"])
        rel = float(r["D_sem_cm2_s"] / r["D_mean_cm2_s"]) if r["D_mean_cm2_s"] > 0 else math.nan
        # 1/√n: the n that reaches the target from the error at n (at least the n used)
        needed = max(n, math.ceil(n * (rel / target) ** 2 - 1e-9)) if math.isfinite(rel) else math.nan
        how = status.get((r["label"], r["T_K"]), "") if status is not None else "fixed grid"
        data.append({"label": r["label"], "T_K": float(r["T_K"]), "n": n, "rel_err": rel,
                     "needed_for_target": needed, "target_rel_err": target, "status": how})
    df = pd.DataFrame(data)
    doc.h(2, "Trajectories per point")
    how = (f"The sweep was adaptive: trajectories were added to each point until the relative error of D, with a "
           f"margin of one standard deviation of its own estimate, reached {target:.2%} (or max_seeds; rule: "
           "lmpflow.workflows.adaptive)." if adaptive else
           f"A fixed number of trajectories per point; 'needed' is the 1/√n projection to {target:.2%}.")
    doc.p(f"Relative standard error of the combined-MSD D at each model × temperature and the trajectories it "
          f"took. {how}")
    doc.table(["model", "T (K)", "trajectories", "rel. error of D", f"needed for {target:.2%}", "status"],
              [[d["label"], f"{d['T_K']:g}", d["n"], f"{d['rel_err']:.2%}" if math.isfinite(d["rel_err"]) else "–",
                d["needed_for_target"], d["status"]] for d in data], "trajectories.csv", df=df)
    if len(df):
        png = plot_error_vs_trajectories(df, doc.out / "error_vs_trajectories.png", target, looks)
        doc.img("Relative error of D against trajectories per point (dashed: 1/√n expectation)", png)


def _quantity_name(q: str, T: float) -> str:
    if q == "ln_D":
        return f"ln D at {T:g} K"
    return {"Ea_eV": "Ea (eV)", "ln_sigma300": "ln σ(300 K)"}.get(q, q)


def _factorial_section(doc: ReportPage, tables: dict, factors, alpha: float) -> None:
    from lmpflow.analysis.factorial import default_factors

    factors = dict(factors or default_factors(tables))
    eff, ratios = factorial_comparison(tables, factors, alpha=alpha)
    doc.h(2, "Architecture × functional")
    names = list(dict.fromkeys(f for lv in factors.values() for f in lv))
    doc.table(["model", *names], [[lab, *[lv.get(f, "–") for f in names]] for lab, lv in factors.items()],
              "factors.csv")
    if eff.empty:
        doc.p("No factor varies between the models at fixed other factors, so there are no main effects. Label "
              "the models, e.g. --model nequip-chgnet-pbe=arch:NequIP,xc:PBE.")
        return
    doc.p("Main effect of a factor: its spread (max − min over its levels) at fixed other factors, averaged over "
          "those: the functional effect is the shift between functionals averaged over architectures, the "
          "architecture effect the spread over architectures at fixed functional. 95 % intervals from a "
          f"parametric bootstrap; significant if the Wald test of 'no effect' gives p < {alpha}. ln quantities: "
          "0.1 is a 10 % change. Method: lmpflow.analysis.factorial.")
    for _, r in ratios.iterrows():
        if r["quantity"] in ("Ea_eV", "ln_sigma300"):
            doc.p(f"{_quantity_name(r['quantity'], r['T_K'])}: {r['numerator']} effect / {r['denominator']} effect "
                  f"= {_fmt(r['ratio'])} [{_fmt(r['lo'])}, {_fmt(r['hi'])}]: {_verdict(r)}.")
    rows = []
    for _, r in eff.iterrows():
        contrast = (f"{_fmt(r['contrast'])} ± {_fmt(r['contrast_err'])} ({r['contrast_of']})"
                    if math.isfinite(r["contrast"]) else "–")
        rows.append([_quantity_name(r["quantity"], r["T_K"]), r["factor"], r["levels"],
                     f"{_fmt(r['effect'])} [{_fmt(r['effect_lo'])}, {_fmt(r['effect_hi'])}]", contrast,
                     r["p_value"], bool(r["significant"])])
    doc.table(["quantity", "factor", "levels", "main effect [95 %]", "signed contrast", "p", "significant"], rows,
              "factorial_effects.csv", df=eff)
    if not ratios.empty:
        rows = [[_quantity_name(r["quantity"], r["T_K"]), f"{r['numerator']} / {r['denominator']}", r["ratio"],
                 f"[{_fmt(r['lo'])}, {_fmt(r['hi'])}]", _verdict(r)] for _, r in ratios.iterrows()]
        doc.table(["quantity", "ratio of effects", "ratio", "95 % interval", "reading"], rows,
                  "factorial_ratios.csv", df=ratios)


def _verdict(r) -> str:
    """The ratio of two main effects in words."""
    a, b = r["numerator"], r["denominator"]
    sa, sb = bool(r["significant_numerator"]), bool(r["significant_denominator"])
    if not (sa or sb):
        return f"neither the {a} nor the {b} effect is significant"
    if r["hi"] < 1:
        return f"the {a} effect is smaller than the {b} effect"
    if r["lo"] > 1:
        return f"the {a} effect is larger than the {b} effect"
    if sa != sb:
        sig, non = (a, b) if sa else (b, a)
        return f"the {sig} effect is significant, the {non} effect is not; their ratio is not resolved (its " \
               "interval includes 1)"
    return f"the {a} effect is as large as the {b} effect within the uncertainty"


def _pairwise_section(doc: ReportPage, tables: dict, alpha: float) -> None:
    pw = pairwise_differences(tables, alpha)
    if pw.empty:
        return
    doc.h(2, "Pairwise differences (a − b)")
    doc.p(f"Difference ± sqrt(σa² + σb²); two-sided test, significant if p < {alpha} (see "
          "lmpflow.analysis.comparison for the tests).")
    rows = [[r["quantity"], f"{r['T_K']:g}" if math.isfinite(r["T_K"]) else "–", r["label_a"], r["label_b"],
             r["diff"], r["diff_err"], r["test"], r["p_value"], bool(r["significant"])] for _, r in pw.iterrows()]
    doc.table(["quantity", "T (K)", "a", "b", "a − b", "±", "test", "p", "significant"], rows, "pairwise.csv",
              df=pw)


def _neb_section(doc: ReportPage, neb) -> None:
    if neb.empty:
        return
    doc.h(2, "NEB barriers")
    doc.p("Climbing-image NEB, endpoints relaxed; forward = E(saddle) − E(initial), backward = E(saddle) − "
          "E(final). Deterministic per model (no p-value).")
    rows = [[r["label"], r["hop"], r.get("hop_distance_A", float("nan")), r["barrier_forward_eV"],
             r["barrier_backward_eV"], bool(r.get("saddle_found", True)), bool(r.get("converged", True))]
            for _, r in neb.iterrows()]
    doc.table(["model", "hop", "distance (Å)", "forward (eV)", "backward (eV)", "saddle inside path", "converged"],
              rows, "neb_barriers.csv", df=neb)
    piv = neb.pivot_table(index="hop", columns="label", values="barrier_forward_eV", sort=False)
    rows = [[hop, a, b, piv.loc[hop, a] - piv.loc[hop, b]] for a, b in itertools.combinations(piv.columns, 2)
            for hop in piv.index]
    if rows:
        doc.table(["hop", "a", "b", "forward barrier a − b (eV)"], rows, "neb_differences.csv")
    doc.img("Forward NEB barrier per hop and model", plot_barriers(neb, doc.out / "neb_barriers.png"))


def _disagreement_section(doc: ReportPage, e: dict) -> None:
    doc.h(2, f"Model disagreement on {e['n_frames']} shared frames")
    doc.p("Per-atom force spread s_i = sqrt(mean_m |F_i^m − ⟨F_i⟩|²) over models; energy spread = std over models "
          "of E/N.")
    doc.table(["models", "mean s_i (eV/Å)", "max s_i (eV/Å)", "energy std (eV/atom)"],
              [[", ".join(e["labels"]), e["force_std_mean_eV_A"], e["force_std_max_eV_A"],
                e["energy_std_per_atom_eV"]]], "disagreement.csv")
    rows = [[p["label_a"], p["label_b"], p["rms_force_diff_eV_A"], p["energy_diff_per_atom_eV"],
             p["energy_diff_per_atom_std_eV"]] for p in e["pairs"].values()]
    doc.table(["a", "b", "RMS force diff (eV/Å)", "mean ΔE (eV/atom)", "std ΔE over frames (eV/atom)"], rows,
              "disagreement_pairs.csv")
    atomic_write_text(doc.out / "disagreement.json", json.dumps(e, indent=1))
