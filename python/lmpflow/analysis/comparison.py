"""Are two models' transport results different? Pairwise differences of Eₐ, σ(300 K) and D(T) with tests.

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
import math

ALPHA = 0.05
SWEEP_CI_LEVEL = 0.95  # level of the D300/sigma300 intervals in arrhenius.csv (workflows.tables.CI_LEVEL)


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
