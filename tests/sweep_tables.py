"""Synthetic sweep tables (summary / arrhenius in the sweep's format) from exact Arrhenius laws, for the report
and comparison tests."""
import math

import pandas as pd

from lmpflow.analysis import K_B_EV_K

MODELS = {  # label: (arch, functional, Ea eV, D0 cm2/s)
    "allegro-pbe": ("allegro", "PBE", 0.25, 1e-3),
    "allegro-hse": ("allegro", "HSE06", 0.32, 1.5e-3),
    "nequip-pbe": ("nequip", "PBE", 0.252, 1e-3),
}
TEMPS = [500.0, 600.0, 700.0, 800.0]


def synthetic_tables(n_runs=20, rel_sem=0.05):
    """summary/arrhenius tables in the sweep's format (brief), generated from exact Arrhenius laws."""
    summ, arr = [], []
    for label, (arch, func, ea, d0) in MODELS.items():
        for T in TEMPS:
            d = d0 * math.exp(-ea / (K_B_EV_K * T))
            summ.append(dict(label=label, arch=arch, functional=func, T_K=T, n_runs=n_runs, D_mean_cm2_s=d,
                             D_sem_cm2_s=rel_sem * d, D_ci_lo_cm2_s=0.9 * d, D_ci_hi_cm2_s=1.1 * d,
                             sigma_mean_mS_cm=1e4 * d, sigma_sem_mS_cm=1e4 * rel_sem * d, haven=1.0,
                             haven_err=0.1))
        d300 = d0 * math.exp(-ea / (K_B_EV_K * 300))
        arr.append(dict(label=label, arch=arch, functional=func, Ea_eV=ea, Ea_err_eV=0.01, prefactor_cm2_s=d0,
                        D300_cm2_s=d300, D300_lo_cm2_s=d300 / 2, D300_hi_cm2_s=d300 * 2,
                        sigma300_mS_cm=1e4 * d300, sigma300_lo_mS_cm=1e4 * d300 / 2,
                        sigma300_hi_mS_cm=1e4 * d300 * 2, n_temperatures=len(TEMPS)))
    return {"summary": pd.DataFrame(summ), "arrhenius": pd.DataFrame(arr)}


def adaptive_tables(summary, target=0.05):
    """adaptive / adaptive_looks tables as an adaptive sweep writes them, consistent with `summary`: each point
    looked at after 8, 16, ... trajectories with a 1/√n error, stopping at its n_runs."""
    points, looks = [], []
    for _, r in summary.iterrows():
        rel = r["D_sem_cm2_s"] / r["D_mean_cm2_s"]
        n_final = int(r["n_runs"])
        ns = [n for n in (8, 16, 32, 64, 128) if n < n_final] + [n_final]
        for i, n in enumerate(ns):
            looks.append(dict(label=r["label"], T_K=r["T_K"], look=i + 1, n=n, rel_err=rel * math.sqrt(n_final / n),
                              decision="target reached" if n == n_final else "projected"))
        points.append(dict(label=r["label"], T_K=r["T_K"], n_seeds=n_final, D_cm2_s=r["D_mean_cm2_s"],
                           D_sem_cm2_s=r["D_sem_cm2_s"], rel_err=rel, target_rel_err=target,
                           status="target reached", n_looks=len(ns)))
    return pd.DataFrame(points), pd.DataFrame(looks)
