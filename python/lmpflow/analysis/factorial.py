"""Factorial comparison of models: the main effects of two (or more) factors, e.g. architecture × functional, on a
transport quantity, with their uncertainty, significance and ratio. Pure numbers in, numbers out.

Input: one value per model (Eₐ in eV, ln D, ln σ, ...) with its standard error and degrees of freedom (inf: a
normal error), and the model's level of every factor, e.g. {"arch": "NequIP", "xc": "PBE"}. Models with the same
levels of every factor are replicates of one cell and are averaged.

Definitions, for a factor F ("the others": every other factor):
* at each combination g of the other factors' levels under which ≥ 2 levels of F were run, the spread of F is
  s_g = max_f y(f, g) − min_f y(f, g) (two levels: |y(b, g) − y(a, g)|);
* the main effect E_F is the mean of s_g over those g. So the functional effect is the shift between functionals
  averaged over architectures, and the architecture effect the spread over architectures at fixed functional,
  averaged over functionals. Incomplete grids work: only the complete sub-comparisons count.
* with two levels F also gets the signed contrast Δ_F = mean_g [y(b, g) − y(a, g)] (levels in order of first
  appearance) ± its standard error, with Welch–Satterthwaite degrees of freedom;
* significance: a Wald test of "F changes nothing": X = Σ_g Σ_f (y_fg − ȳ_g)² / se_fg² (ȳ_g the inverse-variance
  weighted mean of group g) against χ² with Σ_g (k_g − 1) degrees of freedom when every error is normal, else
  against its null distribution simulated with t-distributed errors. Significant: p < alpha;
* intervals of E_F and of the ratio E_A / E_B: parametric bootstrap, cell values redrawn as y + se·t_ν (normal
  for ν = ∞ or ν < 1), percentile interval at `level`. E_F is a spread (≥ 0): an effect small against its noise
  comes out biased upwards with an interval that is not centred on it; the test says whether there is one.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Sequence

import numpy as np

from lmpflow.analysis.comparison import fit_dof, log10_sigma300, point_dof

ALPHA = 0.05
LEVEL = 0.95


@dataclasses.dataclass(frozen=True)
class FactorEffect:
    """Main effect of one factor on one quantity (units of the quantity; see the module docstring)."""

    factor: str
    levels: tuple[str, ...]
    n_comparisons: int  # groups g with ≥ 2 levels of the factor
    effect: float
    effect_lo: float
    effect_hi: float
    contrast: float  # signed mean contrast (two levels only, else NaN)
    contrast_err: float
    contrast_dof: float
    contrast_of: str  # "b − a"
    statistic: float  # Wald X
    dof: int  # of the Wald test
    p_value: float
    significant: bool


@dataclasses.dataclass(frozen=True)
class EffectRatio:
    numerator: str
    denominator: str
    ratio: float
    lo: float
    hi: float
    level: float


@dataclasses.dataclass(frozen=True)
class _Cells:
    keys: list[tuple[str, ...]]  # one level per factor
    y: np.ndarray
    se: np.ndarray
    dof: np.ndarray


def _cells(values, errors, dofs, levels, factors) -> _Cells:
    """Average replicate models (same levels of every factor) into cells."""
    groups: dict[tuple, list[int]] = {}
    for i, lv in enumerate(levels):
        groups.setdefault(tuple(str(lv[f]) for f in factors), []).append(i)
    y, se, dof = [], [], []
    for idx in groups.values():
        v, e, d = values[idx], errors[idx], dofs[idx]
        k = len(idx)
        y.append(v.mean())
        var = np.sum(e ** 2) / k ** 2
        se.append(math.sqrt(var))
        finite = np.isfinite(d) & (d >= 1)
        dof.append(var ** 2 / np.sum((e / k) ** 4 / d) if finite.all() and var > 0 else math.inf)
    return _Cells(list(groups), np.array(y), np.array(se), np.array(dof))


def _comparisons(cells: _Cells, f: int) -> list[list[int]]:
    """For factor index f: the cell indices of every group g (other factors fixed) with ≥ 2 levels of f."""
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(cells.keys):
        groups.setdefault(key[:f] + key[f + 1:], []).append(i)
    return [idx for idx in groups.values() if len(idx) >= 2]


def _spread(Y: np.ndarray, comps: list[list[int]]) -> np.ndarray:
    """E_F for rows of cell values Y (..., n_cells): mean over groups of max − min."""
    return np.mean([Y[..., idx].max(axis=-1) - Y[..., idx].min(axis=-1) for idx in comps], axis=0)


def _wald(Y: np.ndarray, se: np.ndarray, comps: list[list[int]]) -> np.ndarray:
    x = 0.0
    for idx in comps:
        w = 1.0 / se[idx] ** 2
        mean = (Y[..., idx] * w).sum(axis=-1, keepdims=True) / w.sum()
        x = x + (((Y[..., idx] - mean) ** 2) * w).sum(axis=-1)
    return np.asarray(x)


def _draw_errors(rng: np.random.Generator, cells: _Cells, n: int) -> np.ndarray:
    """n draws of the cells' errors: se·t_ν (normal where ν is infinite or < 1)."""
    z = np.empty((n, cells.y.size))
    for j, (s, d) in enumerate(zip(cells.se, cells.dof)):
        z[:, j] = s * (rng.standard_t(d, n) if math.isfinite(d) and d >= 1 else rng.standard_normal(n))
    return z


def main_effects(values: Sequence[float], errors: Sequence[float], levels: Sequence[Mapping[str, str]],
                 dofs: Sequence[float] | None = None, *, factors: Sequence[str] | None = None,
                 alpha: float = ALPHA, level: float = LEVEL, n_draws: int = 20_000,
                 seed: int | None = 0) -> tuple[dict[str, FactorEffect], list[EffectRatio]]:
    """Main effects of every factor and the ratios of the first factor's effect to each other's (e.g.
    arch / xc). values, errors (standard errors), dofs (inf: normal) per model; levels: per model a mapping
    factor -> level. factors: their order (default: the first model's). Returns ({factor: FactorEffect},
    [EffectRatio]). A factor with a single level, or never varied at fixed other factors, is left out."""
    from scipy import stats

    y = np.asarray(values, float)
    se = np.asarray(errors, float)
    dof = np.full(y.size, math.inf) if dofs is None else np.asarray(dofs, float)
    if not (y.size == se.size == dof.size == len(levels)):
        raise ValueError(f"values, errors, dofs and levels must have one entry per model, got {y.size}, {se.size}, "
                         f"{dof.size}, {len(levels)}")
    factors = list(factors or levels[0])
    missing = [(i, f) for i, lv in enumerate(levels) for f in factors if f not in lv]
    if missing:
        raise ValueError(f"every model needs a level of every factor {factors}; missing (model index, factor): "
                         f"{missing}")
    if not (np.isfinite(y).all() and np.isfinite(se).all() and (se > 0).all()):
        raise ValueError("values must be finite with finite positive standard errors (drop models without them)")
    cells = _cells(y, se, dof, levels, factors)
    rng = np.random.default_rng(seed)
    boot = cells.y + _draw_errors(rng, cells, n_draws)
    null = _draw_errors(rng, cells, n_draws)
    normal = not np.isfinite(cells.dof).any()
    q = (1 - level) / 2
    effects, boot_effects = {}, {}
    for f, name in enumerate(factors):
        comps = _comparisons(cells, f)
        if not comps:
            continue
        e_boot = _spread(boot, comps)
        x = float(_wald(cells.y, cells.se, comps))
        wdof = sum(len(idx) - 1 for idx in comps)
        p = float(stats.chi2.sf(x, wdof)) if normal else \
            float((1 + np.sum(_wald(null, cells.se, comps) >= x)) / (1 + n_draws))
        lv = tuple(dict.fromkeys(k[f] for k in cells.keys))
        contrast = err = cdof = math.nan
        of = ""
        if len(lv) == 2:
            a, b = lv
            pairs = [(next(i for i in idx if cells.keys[i][f] == a), next(i for i in idx if cells.keys[i][f] == b))
                     for idx in comps]
            G = len(pairs)
            contrast = float(np.mean([cells.y[j] - cells.y[i] for i, j in pairs]))
            parts = np.array([s for i, j in pairs for s in (cells.se[i], cells.se[j])]) / G
            pdof = np.array([cells.dof[k] for i, j in pairs for k in (i, j)])
            err = float(np.sqrt(np.sum(parts ** 2)))
            denom = float(np.sum(parts ** 4 / np.where(pdof >= 1, pdof, math.inf)))
            cdof = err ** 4 / denom if denom > 0 else math.inf
            of = f"{b} − {a}"
        effects[name] = FactorEffect(name, lv, len(comps), float(_spread(cells.y, comps)),
                                     float(np.quantile(e_boot, q)), float(np.quantile(e_boot, 1 - q)), contrast,
                                     err, cdof, of, x, wdof, p, p < alpha)
        boot_effects[name] = e_boot
    ratios = []
    names = list(effects)
    for other in names[1:]:
        num, den = effects[names[0]].effect, effects[other].effect
        with np.errstate(divide="ignore", invalid="ignore"):
            r = boot_effects[names[0]] / boot_effects[other]
        ratios.append(EffectRatio(names[0], other, num / den if den > 0 else math.inf,
                                  float(np.quantile(r, q)), float(np.quantile(r, 1 - q)), level))
    return effects, ratios


# --------------------------------------------------------------------------------------------------- #
# On a sweep's tables (summary.csv / arrhenius.csv)
# --------------------------------------------------------------------------------------------------- #

#: Default factors of a model, from the sweep tables' columns (which come from the model's sidecar).
DEFAULT_FACTORS = {"arch": "arch", "xc": "functional"}


def default_factors(tables: dict) -> dict[str, dict[str, str]]:
    """{label: {"arch": ..., "xc": ...}} from the arrhenius table's arch and functional columns."""
    arr = tables["arrhenius"]
    return {str(r["label"]): {f: str(r.get(col, "")) or "unknown" for f, col in DEFAULT_FACTORS.items()}
            for _, r in arr.iterrows()}


def _sweep_quantities(tables: dict) -> list[tuple[str, float, dict]]:
    """[(quantity, T_K, {label: (value, se, dof)})]: Eₐ (eV), ln D at each temperature every model has, and
    ln σ(300 K) (its error from the sweep's interval), with the degrees of freedom the tables carry."""
    arr, summ = tables["arrhenius"], tables["summary"]
    ea, ls = {}, {}
    for _, r in arr.iterrows():
        nu = fit_dof(r, "Ea_dof")
        ea[r["label"]] = (float(r["Ea_eV"]), float(r["Ea_err_eV"]), nu if nu >= 1 else math.inf)
        if min(float(r[c]) for c in ("sigma300_lo_mS_cm", "sigma300_hi_mS_cm", "sigma300_mS_cm")) > 0:
            nu = fit_dof(r, "sigma300_dof")
            log10_value, log10_se = log10_sigma300(r, nu)
            ls[r["label"]] = (log10_value * math.log(10), log10_se * math.log(10), nu if nu >= 1 else math.inf)
    out = [("Ea_eV", math.nan, ea)]
    labels = set(arr["label"])
    temps = sorted(set.intersection(*[set(g["T_K"]) for _, g in summ.groupby("label")])) if len(summ) else []
    for T in temps:
        d = {}
        for _, r in summ[summ["T_K"] == T].iterrows():
            if r["label"] in labels and r["D_mean_cm2_s"] > 0:
                nu = point_dof(r)
                d[r["label"]] = (math.log(r["D_mean_cm2_s"]), r["D_sem_cm2_s"] / r["D_mean_cm2_s"],
                                 nu if nu >= 1 else math.inf)
        out.append(("ln_D", float(T), d))
    out.append(("ln_sigma300", 300.0, ls))
    return out


def factorial_comparison(tables: dict, factors: Mapping[str, Mapping[str, str]] | None = None, *,
                         alpha: float = ALPHA, level: float = LEVEL,
                         n_draws: int = 20_000, seed: int | None = 0):
    """Main effects and their ratios for Eₐ (eV), ln D at each temperature and ln σ(300 K) of a sweep's tables.

    factors: {label: {factor: level}} (default `default_factors`: arch and xc = functional). Returns (effects
    DataFrame: one row per quantity × factor, ratios DataFrame: one row per quantity × ratio); empty when no
    factor varies.
    """
    import pandas as pd

    factors = dict(factors or default_factors(tables))
    names = list(dict.fromkeys(f for lv in factors.values() for f in lv))
    eff_rows, ratio_rows = [], []
    for quantity, T, cells in _sweep_quantities(tables):
        ok = [lab for lab, (v, e, _) in cells.items() if lab in factors and math.isfinite(v) and math.isfinite(e)
              and e > 0]
        if len(ok) < 2:
            continue
        effects, ratios = main_effects([cells[lab][0] for lab in ok], [cells[lab][1] for lab in ok],
                                       [factors[lab] for lab in ok], [cells[lab][2] for lab in ok], factors=names,
                                       alpha=alpha, level=level, n_draws=n_draws, seed=seed)
        for e in effects.values():
            eff_rows.append({"quantity": quantity, "T_K": T, **dataclasses.asdict(e),
                             "levels": " / ".join(e.levels), "n_models": len(ok)})
        for r in ratios:
            ratio_rows.append({"quantity": quantity, "T_K": T, **dataclasses.asdict(r),
                               "significant_numerator": effects[r.numerator].significant,
                               "significant_denominator": effects[r.denominator].significant})
    return pd.DataFrame(eff_rows), pd.DataFrame(ratio_rows)
