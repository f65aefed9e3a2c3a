"""Factorial main effects (architecture × functional): exact values on small grids, and the calibration of their
intervals and tests on simulated data."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from lmpflow.analysis.factorial import factorial_comparison, main_effects
from sweep_tables import synthetic_tables  # allegro-PBE, allegro-HSE06, nequip-PBE

GRID = [{"arch": "NequIP", "xc": "PBE"}, {"arch": "NequIP", "xc": "HSE"},
        {"arch": "Allegro", "xc": "PBE"}, {"arch": "Allegro", "xc": "HSE"}]


def test_main_effects_on_a_full_grid_are_exact():
    y = [0.25, 0.31, 0.27, 0.35]  # Ea (eV): HSE shifts by 0.06 and 0.08, Allegro by 0.02 and 0.04
    se = [0.01] * 4
    eff, (ratio,) = main_effects(y, se, GRID, n_draws=4000)
    xc, arch = eff["xc"], eff["arch"]
    assert xc.effect == pytest.approx(0.07) and arch.effect == pytest.approx(0.03)
    assert xc.contrast == pytest.approx(0.07) and xc.contrast_of == "HSE − PBE"
    assert xc.contrast_err == pytest.approx(math.sqrt(4 * 0.01 ** 2) / 2)  # mean of two differences
    assert arch.contrast == pytest.approx(0.03) and arch.contrast_of == "Allegro − NequIP"
    # Wald: per group (y_a − y_b)² / (se_a² + se_b²), summed over the two groups, χ² with 2 dof
    x_xc = (0.06 ** 2 + 0.08 ** 2) / 2e-4
    assert xc.statistic == pytest.approx(x_xc) and xc.dof == 2
    assert xc.p_value == pytest.approx(stats.chi2.sf(x_xc, 2)) and xc.significant
    assert arch.p_value == pytest.approx(stats.chi2.sf((0.02 ** 2 + 0.04 ** 2) / 2e-4, 2))
    assert (ratio.numerator, ratio.denominator) == ("arch", "xc")
    assert ratio.ratio == pytest.approx(3 / 7) and ratio.lo < 3 / 7 < ratio.hi
    assert xc.effect_lo < 0.07 < xc.effect_hi


def test_incomplete_grid_and_replicates():
    # the shipped trio: NequIP-PBE, NequIP-r2SCAN, Allegro-PBE (no Allegro-r2SCAN), NequIP-PBE run twice
    levels = [{"arch": "NequIP", "xc": "PBE"}, {"arch": "NequIP", "xc": "PBE"}, {"arch": "NequIP", "xc": "r2SCAN"},
              {"arch": "Allegro", "xc": "PBE"}]
    eff, (ratio,) = main_effects([0.20, 0.22, 0.30, 0.26], [0.02, 0.02, 0.01, 0.01], levels, n_draws=2000)
    # replicates average into one cell: 0.21 ± 0.02/√2
    assert eff["xc"].effect == pytest.approx(0.09) and eff["xc"].n_comparisons == 1
    assert eff["arch"].effect == pytest.approx(0.05) and eff["arch"].contrast_of == "Allegro − NequIP"
    assert eff["xc"].contrast_err == pytest.approx(math.sqrt(0.02 ** 2 / 2 + 0.01 ** 2))
    assert ratio.ratio == pytest.approx(0.05 / 0.09)
    only_xc, ratios = main_effects([0.2, 0.3], [0.01, 0.01], levels[1:3], n_draws=500)
    assert list(only_xc) == ["xc"] and ratios == []  # the architecture never varies
    with pytest.raises(ValueError, match="level of every factor"):
        main_effects([0.2, 0.3], [0.01, 0.01], [{"arch": "a"}, {"xc": "b"}], factors=["arch", "xc"])


def test_intervals_and_tests_are_calibrated():
    # 3 architectures × 2 functionals with known effects; errors with 6 degrees of freedom (t-distributed)
    rng = np.random.default_rng(1)
    archs, xcs = ["A", "B", "C"], ["PBE", "HSE"]
    levels = [{"arch": a, "xc": x} for a in archs for x in xcs]
    truth = np.array([0.0 + 0.1 * (x == "HSE") + {"A": 0.0, "B": 0.04, "C": 0.08}[a] for a in archs for x in xcs])
    se, dof = np.full(6, 0.01), np.full(6, 6.0)
    true_arch, true_xc = 0.08, 0.1
    cover = {"arch": 0, "xc": 0, "ratio": 0}
    null_rejections = 0
    n_sets = 300
    for k in range(n_sets):
        y = truth + se * rng.standard_t(6, 6)
        eff, (ratio,) = main_effects(y, se, levels, dof, n_draws=2000, seed=k)
        cover["arch"] += eff["arch"].effect_lo <= true_arch <= eff["arch"].effect_hi
        cover["xc"] += eff["xc"].effect_lo <= true_xc <= eff["xc"].effect_hi
        cover["ratio"] += ratio.lo <= true_arch / true_xc <= ratio.hi
        assert eff["xc"].significant and eff["arch"].significant
        # no functional effect at all: the test must reject at its nominal 5 %
        y0 = truth - 0.1 * np.array([x == "HSE" for a in archs for x in xcs]) + se * rng.standard_t(6, 6)
        null_rejections += main_effects(y0, se, levels, dof, n_draws=2000, seed=k)[0]["xc"].significant
    for name, c in cover.items():
        assert 0.90 <= c / n_sets <= 0.99, (name, c / n_sets)
    assert 0.02 <= null_rejections / n_sets <= 0.09, null_rejections / n_sets


def test_factorial_comparison_of_sweep_tables():

    eff, ratios = factorial_comparison(synthetic_tables(), n_draws=2000)
    assert set(eff["quantity"]) == {"Ea_eV", "ln_D", "ln_sigma300"}
    assert sorted(eff.loc[eff["quantity"] == "ln_D", "T_K"].unique()) == [500.0, 600.0, 700.0, 800.0]
    ea = eff[eff["quantity"] == "Ea_eV"].set_index("factor")
    assert ea.loc["xc", "effect"] == pytest.approx(0.07) and ea.loc["xc", "contrast_of"] == "HSE06 − PBE"
    assert ea.loc["arch", "effect"] == pytest.approx(0.002)
    assert ea.loc["xc", "significant"] and not ea.loc["arch", "significant"]
    r = ratios[ratios["quantity"] == "Ea_eV"].iloc[0]
    assert (r["numerator"], r["denominator"]) == ("arch", "xc") and r["ratio"] == pytest.approx(0.002 / 0.07)
    # a 2 meV architecture effect measured with 14 meV errors: not resolved, so the ratio's interval is wide
    assert r["lo"] < r["ratio"] < r["hi"] and r["hi"] > 1
    # ln D(T): the Arrhenius laws of the synthetic models give the exact functional shift at each T
    from lmpflow.analysis import K_B_EV_K

    d = eff[(eff["quantity"] == "ln_D") & (eff["T_K"] == 600.0)].set_index("factor")
    expected = abs(math.log(1.5) - 0.07 / (K_B_EV_K * 600.0))
    assert d.loc["xc", "effect"] == pytest.approx(expected, rel=1e-9)
    # factor labels given by hand override the tables' columns
    eff2, _ = factorial_comparison(synthetic_tables(), {"allegro-pbe": {"xc": "PBE"}, "allegro-hse": {"xc": "HSE"}},
                                   n_draws=500)
    assert set(eff2["factor"]) == {"xc"} and (eff2["n_models"] == 2).all()
