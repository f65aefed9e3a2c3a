"""Is a model faithful to its reference? What a user checks before trusting a model for a 300-trajectory study.

The reference is an ASE calculator (the labeler: ``"chgnet-pbe"`` or ``"chgnet-r2scan"`` by name, or any
calculator) or labelled frames (an extxyz of DFT/AIMD frames with energy, forces and, optionally, stress).
`validate_model` measures, in Å, eV, ps, K and GPa:

* energy (meV/atom), force (meV/Å) and stress (GPa) errors per species and per structure kind, on cells the
  model was not trained on (`validation_structures`: rattled, ±3 % strained, S/Cl-disordered) or on the frames;
* the equation of state: energy and pressure at lattice scalings (positions relaxed by each potential), the
  zero-pressure lattice constant and bulk modulus of both;
* with a calculator (or frames that are an AIMD trajectory), Li D, the mean temperature and the Li-S and P-S
  radial distribution functions from the same short Langevin MD with both;

and checks each against `FIDELITY_TARGETS`. `write_validation_report` draws the parity plots and the page.
"""
from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator, PropertyNotImplementedError

from lmpflow._stats import difference_test, two_sided_quantile
from lmpflow.lammps.calculator import calculator_for
from lmpflow.system.structures import SPECIES, li6ps5cl

#: eV/Å³ in GPa
EV_A3_GPA = 160.21766208
#: What "faithful to the reference" means (the shipped models are held to these).
FIDELITY_TARGETS = {
    "force_mae_meV_A": 80.0,  # on unseen (rattled, strained, disordered) cells
    "pressure_error_GPa": 0.5,  # at the ideal cell and the ±3 % strained ones
    "lattice_constant_rel": 0.005,  # equilibrium lattice constant
    "temperature_rel": 0.03,  # mean MD temperature against the thermostat's
    "D_p_value": 0.05,  # Welch test of D_model = D_reference: fails below this p-value
}
#: Lattice scalings of the equation of state; the pressure check uses 0.97, 1 and 1.03.
EOS_SCALES = (0.94, 0.955, 0.97, 0.985, 1.0, 1.015, 1.03, 1.045, 1.06)
#: scan points around the zero of P(V) its fit takes (±3 % in lattice at the default scan)
EOS_FIT_POINTS = 5
EOS_FIT_DEGREE = 3
PRESSURE_SCALES = (0.97, 1.0, 1.03)
#: The model's MD seeds start here: its runs are independent of the reference's, as the D test assumes.
MODEL_SEEDS = 1000
#: Pairs whose RDFs are compared: the Li-anion shell and the PS4 unit.
RDF_PAIRS = (("Li", "S"), ("P", "S"))


def validation_structures(seed: int = 1000, a_A: float = 9.85) -> list[Atoms]:
    """Cells a model trained by lmpflow has not seen, each tagged atoms.info["kind"]: 'rattled' (Gaussian
    0.05/0.10/0.15 Å), 'strained' (isotropic ±3 % and random ±3 % shears, small rattle) and 'disordered'
    (25 % and 50 % S/Cl site exchange, small rattle). 18 cells of 52 atoms; seeds differ from the training set's.
    """
    rng = np.random.default_rng(seed)
    frames = []

    def add(atoms: Atoms, kind: str, sigma: float) -> None:
        atoms.positions += rng.normal(0.0, sigma, atoms.positions.shape)
        atoms.info["kind"] = kind
        frames.append(atoms)

    for k, sigma in enumerate((0.05, 0.05, 0.10, 0.10, 0.15, 0.15)):
        add(li6ps5cl(site_exchange=0.25 * (k % 2), seed=seed + k, a=a_A), "rattled", sigma)
    for k, s in enumerate((0.97, 1.03, None, None, None, None)):
        atoms = li6ps5cl(site_exchange=0.25 * (k % 2), seed=seed + 10 + k, a=a_A)
        strain = np.eye(3) * s if s else np.eye(3) + np.triu(rng.uniform(-0.03, 0.03, (3, 3)))
        atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
        add(atoms, "strained", 0.03)
    for k, x in enumerate((0.25, 0.25, 0.25, 0.5, 0.5, 0.5)):
        add(li6ps5cl(site_exchange=x, seed=seed + 20 + k, a=a_A), "disordered", 0.05)
    return frames


# --------------------------------------------------------------------------------------------------- #
# the reference
# --------------------------------------------------------------------------------------------------- #

def read_reference_frames(path: str | Path) -> list[Atoms]:
    """Labelled frames (any ASE format; extxyz of DFT/AIMD): each needs an energy (eV) and forces (eV/Å)."""
    from ase.io import read

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"reference frames {path} do not exist")
    return _labelled(read(path, index=":"), str(path))


def _labelled(frames: Sequence[Atoms], where: str) -> list[Atoms]:
    frames = list(frames)
    if not frames:
        raise ValueError(f"{where} holds no frames")
    for k, atoms in enumerate(frames):
        results = atoms.calc.results if atoms.calc is not None else {}
        if "energy" not in results or "forces" not in results:
            raise ValueError(f"{where} frame {k} has no energy and forces: reference frames need both (write them "
                             "with ase.io.write from atoms carrying a calculator, or as extxyz energy=... forces)")
    return frames


def _reference(reference):
    """(calculator or None, labelled frames or None, name) of `reference`."""
    from lmpflow.potentials.training.labels import LABEL_SOURCES, chgnet_calculator

    if isinstance(reference, BaseCalculator):
        return reference, None, type(reference).__name__
    if isinstance(reference, str) and reference in LABEL_SOURCES:
        return chgnet_calculator(reference), None, reference
    if isinstance(reference, (list, tuple)):
        return None, _labelled(reference, "the reference list"), "frames"
    if isinstance(reference, (str, Path)) and Path(reference).exists():
        return None, read_reference_frames(reference), Path(reference).name
    raise ValueError(f"reference {reference!r} is neither an ASE calculator, a label source "
                     f"{sorted(LABEL_SOURCES)} nor an existing file of labelled frames")


def _points(calc, frames: Sequence[Atoms]) -> list[dict]:
    """Energy (eV), forces (eV/Å) and stress (eV/Å³, Voigt; None if the calculator gives none) per frame."""
    out = []
    for atoms in frames:
        at = atoms.copy()
        at.calc = calc
        energy = float(at.get_potential_energy())
        forces = np.array(at.get_forces())
        try:
            stress = np.array(at.get_stress(voigt=True))
        except PropertyNotImplementedError:  # a reference without stress: energy and forces are compared
            stress = None
        out.append({"energy": energy, "forces": forces, "stress": stress})
    return out


def _stored_points(frames: Sequence[Atoms]) -> list[dict]:
    """`_points` of frames carrying their labels (stress as stored, in Voigt order)."""
    from ase.stress import full_3x3_to_voigt_6_stress

    out = []
    for atoms in frames:
        results = atoms.calc.results
        stress = results.get("stress")
        if stress is not None:
            stress = np.array(stress)
            stress = stress if stress.shape == (6,) else full_3x3_to_voigt_6_stress(stress)
        out.append({"energy": float(results["energy"]), "forces": np.array(results["forces"]), "stress": stress})
    return out


# --------------------------------------------------------------------------------------------------- #
# errors on frames
# --------------------------------------------------------------------------------------------------- #

def _pressure_GPa(stress) -> float:
    return float(-np.mean(stress[:3]) * EV_A3_GPA)


def _error_stats(de_atom, df, dstress, dp) -> dict:
    """MAE/RMSE of energy per atom (meV/atom), force components (meV/Å), stress components (GPa), and the
    mean energy offset (meV/atom) and pressure offset (GPa), model minus reference."""
    out = {"n_frames": int(len(de_atom)), "energy_mae_meV_atom": 1e3 * float(np.mean(np.abs(de_atom))),
           "energy_rmse_meV_atom": 1e3 * float(np.sqrt(np.mean(de_atom ** 2))),
           "energy_offset_meV_atom": 1e3 * float(np.mean(de_atom)),
           "force_mae_meV_A": 1e3 * float(np.mean(np.abs(df))),
           "force_rmse_meV_A": 1e3 * float(np.sqrt(np.mean(df ** 2)))}
    if len(dstress):
        out.update(stress_mae_GPa=float(np.mean(np.abs(dstress))) * EV_A3_GPA,
                   pressure_mae_GPa=float(np.mean(np.abs(dp))), pressure_offset_GPa=float(np.mean(dp)))
    return out


def prediction_errors(frames: Sequence[Atoms], model_points: list[dict], ref_points: list[dict]) -> tuple[dict, dict]:
    """(errors overall / by structure kind / by species, parity arrays) of model against reference on frames.

    Kinds come from atoms.info["kind"] or ["config_type"] (else "frames"); species errors are of force
    components on atoms of that species. Stress enters where both give it.
    """
    kinds = np.array([str(a.info.get("kind", a.info.get("config_type", "frames"))) for a in frames])
    n_atoms = np.array([len(a) for a in frames])
    e_m = np.array([p["energy"] for p in model_points]) / n_atoms
    e_r = np.array([p["energy"] for p in ref_points]) / n_atoms
    f_m = [p["forces"] for p in model_points]
    f_r = [p["forces"] for p in ref_points]
    symbols = [np.array(a.get_chemical_symbols()) for a in frames]
    has_stress = np.array([m["stress"] is not None and r["stress"] is not None
                           for m, r in zip(model_points, ref_points)])
    s_m = np.array([m["stress"] for m, ok in zip(model_points, has_stress) if ok]).reshape(-1, 6)
    s_r = np.array([r["stress"] for r, ok in zip(ref_points, has_stress) if ok]).reshape(-1, 6)
    p_m = np.array([_pressure_GPa(s) for s in s_m])
    p_r = np.array([_pressure_GPa(s) for s in s_r])

    def stats(frame_mask: np.ndarray, species: str | None = None) -> dict:
        idx = np.flatnonzero(frame_mask)
        df = np.concatenate([(f_m[k] - f_r[k])[symbols[k] == species if species else slice(None)].ravel()
                             for k in idx])
        stress_rows = np.flatnonzero(frame_mask[has_stress])
        return _error_stats(e_m[idx] - e_r[idx], df, (s_m - s_r)[stress_rows].ravel(),
                            (p_m - p_r)[stress_rows])

    everything = np.ones(len(frames), bool)
    species = sorted({s for sym in symbols for s in sym}, key=lambda s: (SPECIES.index(s) if s in SPECIES else 99, s))
    errors = {"overall": stats(everything),
              "by_kind": {k: stats(kinds == k) for k in dict.fromkeys(kinds)},
              "by_species": {s: {key: v for key, v in stats(everything, s).items() if key.startswith("force")}
                             for s in species}}
    parity = {"energy_model_eV_atom": e_m, "energy_reference_eV_atom": e_r,
              "forces_model_eV_A": np.concatenate(f_m), "forces_reference_eV_A": np.concatenate(f_r),
              "force_species": np.concatenate(symbols), "stress_model_GPa": s_m * EV_A3_GPA,
              "stress_reference_GPa": s_r * EV_A3_GPA, "kinds": kinds}
    return errors, parity


# --------------------------------------------------------------------------------------------------- #
# equation of state
# --------------------------------------------------------------------------------------------------- #

def equation_of_state(calc, atoms: Atoms, scales: Sequence[float] = EOS_SCALES, relax: bool = True,
                      fmax_eV_A: float = 0.05, max_steps: int = 300) -> dict:
    """Energy (eV) and pressure (GPa) of `atoms` with every lattice vector scaled by each of `scales` (positions
    relaxed at fixed cell if `relax`), and their `eos_equilibrium`."""
    from ase.optimize import FIRE

    volumes, energies, pressures = [], [], []
    for s in scales:
        at = atoms.copy()
        at.set_cell(atoms.cell.array * s, scale_atoms=True)
        at.calc = calc
        if relax:
            FIRE(at, logfile=None).run(fmax=fmax_eV_A, steps=max_steps)
        volumes.append(at.get_volume())
        energies.append(float(at.get_potential_energy()))
        pressures.append(_pressure_GPa(at.get_stress(voigt=True)))
    return eos_equilibrium({"scales": [float(s) for s in scales], "volumes_A3": volumes, "energies_eV": energies,
                        "pressures_GPa": pressures})


def eos_equilibrium(scan: dict) -> dict:
    """`scan` (scales, volumes_A3, energies_eV, pressures_GPa) with its equilibrium: volume_A3 and lattice_scale
    (of the unscaled cell) where the pressure falls through zero, bulk_modulus_GPa = -V dP/dV there; None where
    it does not within the scan (then `beyond` says on which side the equilibrium lies).

    The zero of P(V) is what relaxing the cell (box/relax, NPT at 0 GPa) finds; from a cubic P(V) fitted to
    the EOS_FIT_POINTS points around the crossing (a fit of E(V) over the whole scan is pulled by far points
    where a model softens, and relaxed energies jump between basins more than stresses do). Where P falls
    through zero more than once, the crossing with the lowest energy."""
    out = dict(scan, volume_A3=None, lattice_scale=None, bulk_modulus_GPa=None, beyond=None)
    volumes, energies, pressures = (np.asarray(out[k], float) for k in ("volumes_A3", "energies_eV", "pressures_GPa"))
    falls = [i for i in range(len(pressures) - 1) if pressures[i] > 0 >= pressures[i + 1]]
    if not falls:
        out["beyond"] = "above" if pressures[-1] > 0 else "below"
        return out
    i = min(falls, key=lambda k: min(energies[k], energies[k + 1]))
    lo = min(max(i + 1 - EOS_FIT_POINTS // 2, 0), max(len(volumes) - EOS_FIT_POINTS, 0))
    window = slice(lo, lo + EOS_FIT_POINTS)
    fit = np.polynomial.Polynomial.fit(volumes[window], pressures[window], EOS_FIT_DEGREE)
    roots = [r.real for r in fit.roots() if abs(r.imag) < 1e-12 and volumes[i] <= r.real <= volumes[i + 1]]
    if roots:
        v0, slope = roots[0], fit.deriv()(roots[0])
    else:  # the fit misses the bracket (noisy pressures): linear between the bracketing points
        slope = (pressures[i + 1] - pressures[i]) / (volumes[i + 1] - volumes[i])
        v0 = volumes[i] - pressures[i] / slope
    unscaled_volume = volumes[i] / out["scales"][i] ** 3
    out.update(volume_A3=float(v0), lattice_scale=float((v0 / unscaled_volume) ** (1 / 3)),
               bulk_modulus_GPa=float(-v0 * slope))
    return out


# --------------------------------------------------------------------------------------------------- #
# MD: D, temperature, RDFs
# --------------------------------------------------------------------------------------------------- #

def langevin_md(calc, atoms: Atoms, T_K: float, ps: float, *, seed: int = 0, timestep_fs: float = 2.0,
                every: int = 10, equilibration_ps: float = 1.0, friction_fs: float = 0.01) -> dict:
    """Langevin NVT MD (ASE) after `equilibration_ps`: unwrapped positions every `every` steps (Å), the frames
    (wrapped ase.Atoms), instantaneous temperatures (K) and the frame interval (ps)."""
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import thermalize_momenta

    at = atoms.copy()
    at.calc = calc
    thermalize_momenta(at, T_K, rng=np.random.default_rng(seed))
    dyn = Langevin(at, timestep_fs * units.fs, temperature_K=T_K, friction=friction_fs / units.fs,
                   fixcm=False, rng=np.random.default_rng(seed + 1))
    dyn.run(int(round(equilibration_ps * 1000 / timestep_fs)))
    n_frames = int(round(ps * 1000 / timestep_fs / every))
    previous = at.get_positions()
    unwrapped = [previous.copy()]
    frames, temps = [], []
    inv_cell = np.linalg.inv(at.cell.array)
    for _ in range(n_frames):
        dyn.run(every)
        pos = at.get_positions()
        delta = pos - previous
        delta -= np.round(delta @ inv_cell) @ at.cell.array  # a jump across the box is not a displacement
        unwrapped.append(unwrapped[-1] + delta)
        previous = pos
        snap = at.copy()
        snap.calc = None
        snap.wrap()
        frames.append(snap)
        temps.append(at.get_temperature())
        if not np.isfinite(pos).all():
            raise FloatingPointError(f"MD at {T_K} K blew up (non-finite positions) after {len(frames)} frames")
    return {"unwrapped_A": np.array(unwrapped), "frames": frames, "temperatures_K": np.array(temps),
            "frame_ps": every * timestep_fs / 1000, "cell": at.cell.array.copy(), "symbols": at.get_chemical_symbols()}


def trajectory_md(frames: Sequence[Atoms], frame_ps: float) -> dict:
    """An AIMD trajectory (consecutive frames of the same atoms) in `langevin_md`'s form; temperatures from
    the frames' velocities where they carry momenta (else NaN)."""
    cell = frames[0].cell.array
    inv_cell = np.linalg.inv(cell)
    unwrapped = [frames[0].get_positions()]
    for a, b in zip(frames[:-1], frames[1:]):
        delta = b.get_positions() - a.get_positions()
        delta -= np.round(delta @ inv_cell) @ cell
        unwrapped.append(unwrapped[-1] + delta)
    temps = np.array([a.get_temperature() if a.has("momenta") else np.nan for a in frames])
    return {"unwrapped_A": np.array(unwrapped), "frames": list(frames), "temperatures_K": temps, "frame_ps": frame_ps,
            "cell": cell.copy(), "symbols": frames[0].get_chemical_symbols()}


def _msd_of(run: dict):
    from lmpflow.analysis import msd
    from lmpflow.trajectory import Trajectory

    pos = run["unwrapped_A"]
    n = len(pos)
    traj = Trajectory(positions=pos, cells=np.repeat(run["cell"][None], n, axis=0), origins=np.zeros((n, 3)),
                      timesteps=np.arange(n, dtype=np.int64), ids=np.arange(1, pos.shape[1] + 1),
                      elements=np.array(run["symbols"]))
    return msd(traj, "Li", dt_ps=run["frame_ps"])


def md_observables(runs: Sequence[dict], T_K: float) -> dict:
    """D of Li (cm²/s, from the MSD over `runs`, the error from their spread when there are several), mean
    temperature (K, with its standard error over runs), and the RDFs of RDF_PAIRS over all frames."""
    from lmpflow.analysis import combine_msd, diffusion_coefficient
    from lmpflow.analysis.rdf import rdf

    msds = [_msd_of(r) for r in runs]
    res = combine_msd(msds) if len(msds) > 1 else msds[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = diffusion_coefficient(res)
    t_means = np.array([np.nanmean(r["temperatures_K"]) for r in runs])
    frames = [f for r in runs for f in r["frames"]]
    rdfs = {f"{a}-{b}": rdf(frames, (a, b)) for a, b in RDF_PAIRS}
    return {"T_K": T_K, "n_runs": len(runs), "ps_per_run": float(msds[0].t_ps[-1]),
            "D_cm2_s": float(d.D_cm2_s), "D_err_cm2_s": float(d.sigma_D_cm2_s), "D_dof": float(d.dof),
            "mean_T_K": float(np.mean(t_means)),
            "mean_T_err_K": float(np.std(t_means, ddof=1) / np.sqrt(len(runs))) if len(runs) > 1 else float("nan"),
            "rdfs": rdfs, "msd": res,
            "warnings": sorted({str(w.message) for w in caught})}


# --------------------------------------------------------------------------------------------------- #
# the whole validation
# --------------------------------------------------------------------------------------------------- #

def _check(name: str, value, target: float, detail: str, at_least: bool = False, noise_margin: float = 0.0) -> dict:
    """A check of `value` against `target`; `noise_margin` is what the value's own statistical error allows
    beyond the target (it fails only where the data show it beyond)."""
    ok = value is not None and math.isfinite(value) and (
        value >= target if at_least else value - noise_margin <= target)
    return {"check": name, "value": None if value is None else float(value), "target": target, "passed": bool(ok),
            "noise_margin": float(noise_margin), "detail": detail}


def _cached(cache_dir: Path | None, key: dict, compute):
    """compute() once per key under cache_dir (pickled), for reference-side results shared by many models."""
    import pickle

    if cache_dir is None:
        return compute()
    from lmpflow._host import atomic_write_bytes

    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"reference-{digest}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, pickle.dumps(value))
    return value


def validate_model(model, reference, *, structures: Sequence[Atoms] | None = None, eos: bool = True,
                   eos_relax: bool = True, md_temperatures_K: Sequence[float] = (900.0,), md_ps: float = 5.0,
                   md_seeds: int = 3, md_model_seeds: int | None = None, md_timestep_fs: float = 2.0,
                   md_equilibration_ps: float = 1.0,
                   reference_frame_ps: float | None = None, cell: Atoms | None = None,
                   species: Sequence[str] | None = None, out_dir: str | Path | None = None,
                   cache_dir: str | Path | None = None, progress=None) -> dict:
    """Validate `model` against `reference`; a JSON-ready dict of errors, EOS, MD observables and checks.

    model: anything `lmpflow.potentials.potential.as_potential` takes (a shipped label, a model file, a
    Potential), or an ASE calculator. reference: an ASE calculator, a label source name ("chgnet-pbe",
    "chgnet-r2scan"), or labelled frames (a file or a list of ase.Atoms with calculators holding energy, forces
    and optionally stress). structures: cells for the errors when the reference is a calculator (default
    `validation_structures()`). cell: the structure of the EOS and the MD (default: ordered Li6PS5Cl, 52
    atoms); the EOS needs a calculator. MD: `md_seeds` runs of `md_ps` ps (after `md_equilibration_ps`) per
    temperature with both; with frames, only if `reference_frame_ps` says they are an AIMD trajectory with that
    frame interval (then the model's MD runs at md_temperatures_K[0] from the first frame). md_model_seeds: the
    model's runs per temperature (default md_seeds; the model is cheap to run, more runs shrink its errors).
    out_dir: also write
    validation.json, parity.npz and the report page (validation.md/.html with plots). cache_dir: keep the
    reference's own results there, so validating several models against one labeler computes them once.
    """
    say = progress or (lambda msg: None)
    model_seeds = range(MODEL_SEEDS, MODEL_SEEDS + (md_seeds if md_model_seeds is None else md_model_seeds))
    ref_calc, ref_frames, ref_name = _reference(reference)
    model_calc, own = (model, False) if isinstance(model, BaseCalculator) else (calculator_for(model, species), True)
    cache_dir = Path(cache_dir) if cache_dir else None
    cache_key = {"reference": ref_name} if ref_calc is not None and isinstance(reference, str) else None
    cached = (lambda key, fn: _cached(cache_dir, {**cache_key, **key}, fn)) if cache_key else (lambda key, fn: fn())
    try:
        result = {"model": _model_name(model), "reference": ref_name, "targets": dict(FIDELITY_TARGETS)}
        if ref_frames is not None:
            frames = ref_frames
            ref_points = _stored_points(frames)
        else:
            frames = list(structures) if structures is not None else validation_structures()
            say(f"reference on {len(frames)} cells")
            ref_points = cached({"points": [_frame_key(a) for a in frames]}, lambda: _points(ref_calc, frames))
        say(f"model on {len(frames)} cells")
        errors, parity = prediction_errors(frames, _points(model_calc, frames), ref_points)
        result["errors"] = errors
        pieces = {"parity": parity}
        ideal = cell.copy() if cell is not None else li6ps5cl()
        if eos and ref_calc is not None:
            say("equation of state")
            # the scan is what is cached; its equilibrium is found anew
            eos_ref = eos_equilibrium(cached({"eos": _frame_key(ideal), "relax": eos_relax},
                                         lambda: equation_of_state(ref_calc, ideal, relax=eos_relax)))
            result["eos"] = {"model": equation_of_state(model_calc, ideal, relax=eos_relax), "reference": eos_ref,
                             "lattice_constant_A": float(ideal.cell.lengths()[0])}
        md_runs = []
        if ref_calc is not None:
            start = ideal
            for T in md_temperatures_K:
                say(f"MD at {T:g} K")
                kw = dict(T_K=float(T), ps=md_ps, timestep_fs=md_timestep_fs, equilibration_ps=md_equilibration_ps)
                ref_runs = cached({"md": _frame_key(start), **kw, "seeds": md_seeds},
                                  lambda: [langevin_md(ref_calc, start, seed=s, **kw) for s in range(md_seeds)])
                md_runs.append((T, [langevin_md(model_calc, start, seed=s, **kw) for s in model_seeds], ref_runs))
        elif reference_frame_ps is not None and md_temperatures_K:
            T = float(md_temperatures_K[0])
            ref_runs = [trajectory_md(frames, reference_frame_ps)]
            ps = ref_runs[0]["frame_ps"] * (len(frames) - 1)
            md_runs.append((T, [langevin_md(model_calc, frames[0], T, ps, seed=s, timestep_fs=md_timestep_fs,
                                            equilibration_ps=md_equilibration_ps) for s in model_seeds], ref_runs))
        result["md"], pieces["md"] = _compare_md(md_runs)
        result["checks"] = _checks(result)
        result["faithful"] = all(c["passed"] for c in result["checks"])
    finally:
        if own:
            model_calc.close()
    if out_dir is not None:
        from lmpflow.output.validation_report import write_validation_report

        result["report"] = str(write_validation_report(result, pieces, out_dir))
    return result


def _frame_key(atoms: Atoms) -> str:
    return hashlib.sha256(np.ascontiguousarray(atoms.positions).tobytes() + atoms.cell.array.tobytes()
                          + atoms.numbers.tobytes()).hexdigest()[:16]


def _model_name(model) -> str:
    if isinstance(model, BaseCalculator):
        return type(model).__name__
    return str(getattr(model, "label", None) or Path(str(model)).name)


def _compare_md(md_runs) -> tuple[list[dict], list[dict]]:
    """Per temperature: model and reference observables (JSON-ready) and the comparisons; plus plot pieces."""
    from lmpflow.analysis.rdf import rdf_difference

    rows, pieces = [], []
    for T, model_runs, ref_runs in md_runs:
        m, r = md_observables(model_runs, T), md_observables(ref_runs, T)
        test = difference_test(m["D_cm2_s"] - r["D_cm2_s"], m["D_err_cm2_s"], r["D_err_cm2_s"], m["D_dof"], r["D_dof"])
        row = {"T_K": T, "D_z": abs(test.statistic), "D_p_value": test.p_value,
               "D_ratio": m["D_cm2_s"] / r["D_cm2_s"] if r["D_cm2_s"] > 0 else float("nan"),
               "rdf_difference": {k: rdf_difference(m["rdfs"][k], r["rdfs"][k]) for k in m["rdfs"]}}
        for side, obs in (("model", m), ("reference", r)):
            row[side] = {k: v for k, v in obs.items() if k not in ("rdfs", "msd")}
            row[side]["rdf_first_peak_A"] = {k: g.first_peak_A() for k, g in obs["rdfs"].items()}
        rows.append(row)
        pieces.append({"T_K": T, "model": m, "reference": r})
    return rows, pieces


def _checks(result: dict) -> list[dict]:
    t = FIDELITY_TARGETS
    checks = [_check("force MAE, meV/Å", result["errors"]["overall"]["force_mae_meV_A"], t["force_mae_meV_A"],
                     "all validation cells")]
    eos = result.get("eos")
    if eos:
        m, r = eos["model"], eos["reference"]
        worst = max(abs(pm - pr) for s, pm, pr in zip(m["scales"], m["pressures_GPa"], r["pressures_GPa"])
                    if any(math.isclose(s, x) for x in PRESSURE_SCALES))
        checks.append(_check("pressure error, GPa", worst, t["pressure_error_GPa"],
                             "largest |P_model - P_reference| at lattice scalings " +
                             ", ".join(f"{x:g}" for x in PRESSURE_SCALES)))
        rel = (abs(m["lattice_scale"] / r["lattice_scale"] - 1)
               if m["lattice_scale"] and r["lattice_scale"] else None)
        checks.append(_check("equilibrium lattice constant, relative", rel, t["lattice_constant_rel"],
                             "zeros of P(V)" + (f"; model's equilibrium {m['beyond']} the scanned range"
                                                if m["beyond"] else "")
                             + (f"; reference's equilibrium {r['beyond']} the scanned range" if r["beyond"] else "")))
    for row in result["md"]:
        T, m = row["T_K"], row["model"]
        # one-sided 95 %: the mean temperature fails when it is beyond the target by more than its error allows,
        # and that allowance is at most the target again: runs that scatter more (one blew up) are not noise
        n = m["n_runs"]
        margin = two_sided_quantile(0.90, n - 1) * m["mean_T_err_K"] / T if n > 1 else 0.0
        margin = min(margin, t["temperature_rel"])
        checks.append(_check(f"mean temperature at {T:g} K, relative", abs(m["mean_T_K"] / T - 1),
                             t["temperature_rel"], f"Langevin MD with the model: {m['mean_T_K']:.0f} ± "
                             f"{m['mean_T_err_K']:.0f} K over {n} runs", noise_margin=margin))
        checks.append(_check(f"D at {T:g} K, p-value of the difference", row["D_p_value"], t["D_p_value"],
                             f"Welch test; D model {row['model']['D_cm2_s']:.3g} ± {row['model']['D_err_cm2_s']:.2g}, "
                             f"reference {row['reference']['D_cm2_s']:.3g} ± {row['reference']['D_err_cm2_s']:.2g} "
                             f"cm²/s, |t| = {row['D_z']:.2f}", at_least=True))
    return checks


def fidelity_summary(result: dict) -> dict:
    """The figures of a `validate_model` result worth keeping with a model (its sidecar's "fidelity")."""
    r3 = lambda x: None if x is None else round(float(x), 4)  # noqa: E731
    e = result["errors"]
    out = {"reference": result["reference"], "force_mae_meV_A": r3(e["overall"]["force_mae_meV_A"]),
           "energy_mae_meV_atom": r3(e["overall"]["energy_mae_meV_atom"]),
           "stress_mae_GPa": r3(e["overall"].get("stress_mae_GPa")),
           "force_mae_by_kind_meV_A": {k: r3(v["force_mae_meV_A"]) for k, v in e["by_kind"].items()},
           "force_mae_by_species_meV_A": {k: r3(v["force_mae_meV_A"]) for k, v in e["by_species"].items()}}
    eos = result.get("eos")
    if eos:
        a = eos["lattice_constant_A"]
        out["pressure_GPa"] = {f"{s:g}": {"model": r3(pm), "reference": r3(pr)} for s, pm, pr in zip(
            eos["model"]["scales"], eos["model"]["pressures_GPa"], eos["reference"]["pressures_GPa"])
            if any(math.isclose(s, x) for x in PRESSURE_SCALES)}
        # a minimum outside the scan is given as the bound it lies beyond, e.g. "> 10.44"
        out["lattice_constant_A"] = {side: r3(a * eos[side]["lattice_scale"]) if eos[side]["lattice_scale"] else
                                     (f"< {a * min(eos[side]['scales']):.2f}" if eos[side]["beyond"] == "below"
                                      else f"> {a * max(eos[side]['scales']):.2f}") for side in ("model", "reference")}
        out["bulk_modulus_GPa"] = {side: r3(eos[side]["bulk_modulus_GPa"]) for side in ("model", "reference")}
    out["md"] = [{"T_K": row["T_K"], "ps": row["model"]["ps_per_run"], "runs": row["model"]["n_runs"],
                  "D_model_cm2_s": row["model"]["D_cm2_s"],
                  "D_model_err_cm2_s": row["model"]["D_err_cm2_s"],
                  "D_reference_cm2_s": row["reference"]["D_cm2_s"],
                  "D_reference_err_cm2_s": row["reference"]["D_err_cm2_s"], "D_z": r3(row["D_z"]),
                  "D_p_value": r3(row["D_p_value"]),
                  "mean_T_model_K": r3(row["model"]["mean_T_K"]), "rdf_difference": {
                      k: r3(v) for k, v in row["rdf_difference"].items()}} for row in result["md"]]
    out["checks"] = {c["check"]: {"value": r3(c["value"]), "target": c["target"], "passed": c["passed"],
                                  "noise_margin": r3(c["noise_margin"])} for c in result["checks"]}
    out["faithful"] = result["faithful"]
    return out
