"""Are two models' transport results different? Pairwise differences of Eₐ, σ(300 K) and D(T) with tests.

Statistics (stated in the report too):
* Ea: difference ± sqrt(σa² + σb²) with σ the fit standard errors; Welch t-test (Welch–Satterthwaite) with
  each fit's own degrees of freedom (arrhenius.csv Ea_dof: from the seeds behind each temperature's error;
  n_T − 2 for older tables), or a z-test when a fit has no residual degrees of freedom.
* σ(300 K): compared as log10 ratio; its standard error is recovered from the sweep's 95 % interval
  (half-width / t quantile with the interval's own dof, sigma300_dof).
* D(T) at each shared temperature: Welch t-test on D with its standard error and summary.csv D_dof (n_runs − 1
  for D from several trajectories; a single run's time blocks otherwise).
* NEB barriers are deterministic for a given model and path: differences are reported without a p-value.
Significant means two-sided p < `alpha` (default 0.05).
"""
from __future__ import annotations

import itertools
import math

from lmpflow import _stats

ALPHA = 0.05
SWEEP_CI_LEVEL = 0.95  # level of every interval in the sweep tables (summary.csv, arrhenius.csv)


def fit_dof(row, column: str) -> float:
    """Degrees of freedom of an Arrhenius-fit quantity: the table's own column, else n_T − 2 (older tables)."""
    value = row.get(column, float("nan"))
    return float(value) if math.isfinite(float(value)) else float(row["n_temperatures"]) - 2


def point_dof(row) -> float:
    """Degrees of freedom of a summary row's D error: its D_dof column, else n_runs − 1 (older tables)."""
    value = float(row.get("D_dof", float("nan")))
    return value if math.isfinite(value) else float(row["n_runs"]) - 1


def log10_sigma300(row, dof: float) -> tuple[float, float]:
    """log10 σ(300 K) and its standard error, recovered from the table's interval (half-width / t quantile)."""
    q = _stats.two_sided_quantile(SWEEP_CI_LEVEL, dof if dof >= 1 else math.inf)
    lo, hi = float(row["sigma300_lo_mS_cm"]), float(row["sigma300_hi_mS_cm"])
    return math.log10(float(row["sigma300_mS_cm"])), (math.log10(hi) - math.log10(lo)) / (2 * q)


def pairwise_differences(tables: dict, alpha: float = ALPHA):
    """Pairwise model differences (a − b) of Ea, log10 σ(300 K) and D(T) with uncertainty and p-values."""
    import pandas as pd

    arr, summ = tables["arrhenius"], tables["summary"]
    rows = []
    labels = list(arr["label"])
    for a, b in itertools.combinations(labels, 2):
        ra, rb = arr.set_index("label").loc[a], arr.set_index("label").loc[b]
        nu_a, nu_b = fit_dof(ra, "Ea_dof"), fit_dof(rb, "Ea_dof")
        diff = float(ra["Ea_eV"] - rb["Ea_eV"])
        err, st, dof, p, name = _stats.difference_test(diff, float(ra["Ea_err_eV"]), float(rb["Ea_err_eV"]),
                                                       nu_a, nu_b)
        rows.append(dict(quantity="Ea_eV", T_K=float("nan"), label_a=a, label_b=b, value_a=float(ra["Ea_eV"]),
                         value_b=float(rb["Ea_eV"]), diff=diff, diff_err=err, statistic=st, dof=dof, p_value=p,
                         test=name))

        nu_a, nu_b = fit_dof(ra, "sigma300_dof"), fit_dof(rb, "sigma300_dof")
        (la, sa), (lb, sb) = log10_sigma300(ra, nu_a), log10_sigma300(rb, nu_b)
        err, st, dof, p, name = _stats.difference_test(la - lb, sa, sb, nu_a, nu_b)
        rows.append(dict(quantity="log10_sigma300", T_K=300.0, label_a=a, label_b=b, value_a=la, value_b=lb,
                         diff=la - lb, diff_err=err, statistic=st, dof=dof, p_value=p, test=name))
        sa_t, sb_t = summ[summ["label"] == a].set_index("T_K"), summ[summ["label"] == b].set_index("T_K")
        for T in sorted(set(sa_t.index) & set(sb_t.index)):
            xa, xb = sa_t.loc[T], sb_t.loc[T]
            diff = float(xa["D_mean_cm2_s"] - xb["D_mean_cm2_s"])
            err, st, dof, p, name = _stats.difference_test(diff, float(xa["D_sem_cm2_s"]), float(xb["D_sem_cm2_s"]),
                                                           point_dof(xa), point_dof(xb))
            rows.append(dict(quantity="D_cm2_s", T_K=float(T), label_a=a, label_b=b,
                             value_a=float(xa["D_mean_cm2_s"]), value_b=float(xb["D_mean_cm2_s"]), diff=diff,
                             diff_err=err, statistic=st, dof=dof, p_value=p, test=name))
    df = pd.DataFrame(rows)
    if not df.empty:
        df["significant"] = df["p_value"] < alpha
    return df
