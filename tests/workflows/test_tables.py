"""The sweep's tables carry each point's degrees of freedom into the Arrhenius fit, σ(300 K) and the tests
between models, so that the stated 95 % is the level delivered with few seeds per temperature."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lmpflow import _stats
from lmpflow.analysis import K_B_EV_K
from lmpflow.analysis.comparison import pairwise_differences
from lmpflow.workflows.tables import arrhenius_table

TEMPS_K = np.array([600.0, 700.0, 800.0, 900.0])
EA_EV, D0_CM2_S = 0.25, 1e-3
PER_RUN_REL_ERR = 0.25  # scatter of one trajectory's D


def _summary(rng, n_seeds: int, label: str = "m", ea: float = EA_EV) -> pd.DataFrame:
    """summary.csv rows of one model: D per temperature as the mean of `n_seeds` lognormal per-run values."""
    rows = []
    for T in TEMPS_K:
        truth = D0_CM2_S * math.exp(-ea / (K_B_EV_K * T))
        runs = truth * np.exp(rng.normal(-PER_RUN_REL_ERR ** 2 / 2, PER_RUN_REL_ERR, n_seeds))
        mean, sem = runs.mean(), runs.std(ddof=1) / math.sqrt(n_seeds)
        rows.append(dict(label=label, arch="nequip", functional="PBE", T_K=T, n_runs=n_seeds, D_mean_cm2_s=mean,
                         D_sem_cm2_s=sem, D_dof=n_seeds - 1.0, sigma_mean_mS_cm=1e4 * mean / T,
                         sigma_sem_mS_cm=1e4 * sem / T))
    return pd.DataFrame(rows)


@pytest.mark.parametrize("n_seeds", [2, 3, 5, 8])
def test_arrhenius_table_intervals_deliver_their_level_with_few_seeds(n_seeds):
    rng = np.random.default_rng(n_seeds)
    d300 = D0_CM2_S * math.exp(-EA_EV / (K_B_EV_K * 300.0))
    covered_ea, covered_d300, n_rep = 0, 0, 300
    for _ in range(n_rep):
        row = arrhenius_table(_summary(rng, n_seeds))[0].iloc[0]
        lo, hi = _stats.t_interval(row["Ea_eV"], row["Ea_err_eV"], row["Ea_dof"], 0.95)
        covered_ea += lo <= EA_EV <= hi
        covered_d300 += row["D300_lo_cm2_s"] <= d300 <= row["D300_hi_cm2_s"]
    # ±2.5 binomial standard errors around 95 % for 300 replicas
    assert 0.91 <= covered_ea / n_rep <= 0.99, covered_ea / n_rep
    assert 0.91 <= covered_d300 / n_rep <= 0.99, covered_d300 / n_rep


def test_pairwise_tests_use_the_tables_degrees_of_freedom():
    """Two models with the same truth: with 3 seeds per point the Ea test rejects at its nominal rate."""
    rng = np.random.default_rng(11)
    rejected, n_rep = 0, 300
    for _ in range(n_rep):
        summ = pd.concat([_summary(rng, 3, "a"), _summary(rng, 3, "b")], ignore_index=True)
        arr, _ = arrhenius_table(summ)
        pw = pairwise_differences({"summary": summ, "arrhenius": arr})
        ea = pw[pw["quantity"] == "Ea_eV"].iloc[0]
        assert ea["test"] == "Welch t" and 2 < ea["dof"] < 30  # from the seeds behind each point, not n_T − 2
        rejected += ea["p_value"] < 0.05
    assert 0.015 <= rejected / n_rep <= 0.09, rejected / n_rep
