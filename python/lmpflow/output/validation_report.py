"""The validation page of one model against its reference (`lmpflow.validate_model`): the fidelity checks, errors
per structure kind and species, the equation of state, D / temperature / RDFs from MD, with parity, EOS and MD
plots. Written as validation.md (PNG plots beside it), validation.html (self-contained), validation.json and
parity.npz (the numbers behind the parity plot), and each table as CSV.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lmpflow._host import atomic_output, atomic_write_text
from lmpflow.output.plots import plot_eos, plot_md_comparison, plot_parity
from lmpflow.output.report import ReportPage

_ERROR_COLUMNS = [("energy_mae_meV_atom", "E MAE (meV/atom)"), ("energy_offset_meV_atom", "E offset (meV/atom)"),
                  ("force_mae_meV_A", "F MAE (meV/Å)"), ("force_rmse_meV_A", "F RMSE (meV/Å)"),
                  ("stress_mae_GPa", "stress MAE (GPa)"), ("pressure_offset_GPa", "P offset (GPa)")]


def write_validation_report(result: dict, pieces: dict, out_dir: str | Path) -> Path:
    """Write the page for `result` (validate_model's dict) and its plot data `pieces`; returns validation.md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    title = f"Validation of {result['model']} against {result['reference']}"
    doc = ReportPage(out)
    doc.h(1, title)
    verdict = "faithful: every check passes" if result["faithful"] else "NOT faithful: see the failed checks"
    doc.p(f"Verdict: {verdict}. Units: Å, eV, ps, K, GPa; D in cm²/s.")
    doc.table(["check", "value", "target", "passed", "how"],
              [[c["check"], c["value"], c["target"], c["passed"], c["detail"]] for c in result["checks"]],
              "checks.csv")

    e = result["errors"]
    doc.h(2, "Errors on the validation structures")
    header = ["structures", "frames"] + [name for key, name in _ERROR_COLUMNS if key in e["overall"]]
    rows = [[k, v["n_frames"]] + [v[key] for key, _ in _ERROR_COLUMNS if key in e["overall"]]
            for k, v in [("all", e["overall"]), *e["by_kind"].items()]]
    doc.table(header, rows, "errors_by_kind.csv")
    doc.table(["species", "F MAE (meV/Å)", "F RMSE (meV/Å)"],
              [[s, v["force_mae_meV_A"], v["force_rmse_meV_A"]] for s, v in e["by_species"].items()],
              "errors_by_species.csv")
    parity = pieces["parity"]
    with atomic_output(out / "parity.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **parity)
    doc.img("Parity: model against reference", plot_parity(parity, out / "parity.png", title))

    eos = result.get("eos")
    if eos:
        doc.h(2, "Equation of state")
        doc.p("Each lattice vector of the ideal 52-atom cell scaled, positions relaxed by each potential at fixed "
              "cell; equilibrium where P(V) falls through zero, B = −V dP/dV there.")
        a = eos["lattice_constant_A"]
        doc.table(["lattice constant (Å)", "P model (GPa)", "P reference (GPa)", "ΔP (GPa)"],
                  [[a * s, pm, pr, pm - pr] for s, pm, pr in zip(eos["model"]["scales"], eos["model"]["pressures_GPa"],
                                                                eos["reference"]["pressures_GPa"])], "eos.csv")
        doc.table(["", "a0 (Å)", "B (GPa)"],
                  [[side, a * eos[side]["lattice_scale"] if eos[side]["lattice_scale"] else
                    f"{eos[side]['beyond']} the scanned range", eos[side]["bulk_modulus_GPa"] or "–"]
                   for side in ("model", "reference")], "equilibrium.csv")
        doc.img("Equation of state", plot_eos(eos, out / "eos.png"))

    if result["md"]:
        doc.h(2, "MD: diffusion, temperature, structure")
        rows = []
        for row in result["md"]:
            for side in ("model", "reference"):
                r = row[side]
                rows.append([row["T_K"], side, r["n_runs"], r["ps_per_run"], r["D_cm2_s"], r["D_err_cm2_s"],
                             r["mean_T_K"], *r["rdf_first_peak_A"].values()])
        pairs = list(result["md"][0]["model"]["rdf_first_peak_A"])
        doc.table(["T (K)", "", "runs", "ps/run", "D (cm²/s)", "±", "mean T (K)",
                   *[f"{p} peak (Å)" for p in pairs]], rows, "md.csv")
        doc.table(["T (K)", "|ΔD|/σ", "p (Welch)", "D model/reference", *[f"RDF {p} difference" for p in pairs]],
                  [[row["T_K"], row["D_z"], row["D_p_value"], row["D_ratio"], *row["rdf_difference"].values()]
                   for row in result["md"]], "md_comparison.csv")
        notes = sorted({w for row in result["md"] for side in ("model", "reference") for w in row[side]["warnings"]})
        if notes:
            doc.p("Analysis warnings: " + " ".join(notes))
        doc.img("Li MSD and RDFs", plot_md_comparison(pieces["md"], out / "md.png"))

    atomic_write_text(out / "validation.json", json.dumps(result, indent=2, default=float) + "\n")
    md = atomic_write_text(out / "validation.md", doc.markdown())
    atomic_write_text(out / "validation.html", doc.html(title))
    return md
