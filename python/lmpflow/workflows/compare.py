"""Compare force-field models end to end: the same sweep and NEB set for every model, all models evaluated on
shared frames (`model_disagreement`), and the report (lmpflow.output.report) over it all.
"""
from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from ase.calculators.calculator import BaseCalculator

from lmpflow.analysis.comparison import ALPHA
from lmpflow.lammps.calculator import calculator_for
from lmpflow.lammps.rundir import DUMP_NAME
from lmpflow.output.report import write_report
from lmpflow.potentials.backends import ModelFileError
from lmpflow.potentials.potential import Potential, as_potential
from lmpflow.potentials.registry import ModelSpec, find_model, sidecar
from lmpflow.system.sites import HOP_NAMES
from lmpflow.workflows.barriers import li_migration_barriers
from lmpflow.workflows.sweep import run_sweep


def model_factors(spec, potential=None) -> dict[str, str]:
    """Default factor labels of a model for the factorial comparison: {"arch": ..., "xc": ...} from its sidecar
    (xc: the functional it stands for, else its label source), else from the potential (arch, functional)."""
    meta = {}
    if isinstance(spec, ModelSpec):
        meta = spec.metadata or sidecar(spec.path)
    elif isinstance(spec, (str, os.PathLike)) and not isinstance(spec, Potential):
        try:
            meta = find_model(spec).metadata
        except (ModelFileError, ValueError, OSError):  # a compiled file or pair lines: no sidecar
            meta = {}
    pot = potential if potential is not None else (spec if isinstance(spec, Potential) else None)
    arch = meta.get("arch") or (pot.arch if pot is not None else "") or "unknown"
    xc = (meta.get("functional") or meta.get("label_source") or (pot.functional if pot is not None else "")
          or "unknown")
    return {"arch": str(arch), "xc": str(xc)}


def compare_models(specs: Sequence, temperatures: Sequence[float], seeds, out_dir: str | Path, *,
                   structure=None, hops: Sequence[str] | None = None, neb_kwargs: dict | None = None,
                   n_frames: int = 10, sweep_kwargs: dict | None = None, html: bool = True,
                   alpha: float = ALPHA, factors: Mapping[str, Mapping[str, str]] | None = None) -> Path:
    """Run the same sweep and NEB set for every model, measure their disagreement, write the report.

    specs: ModelSpecs, Potentials or model paths (labels unique). temperatures (K), seeds: as run_sweep (None
    with sweep_kwargs={"target_rel_err": ...} for an adaptive sweep). Writes out_dir/sweep (sweep tables),
    out_dir/neb/<label> (NEB outputs), out_dir/report.md, report.html (self-contained) and the report's tables as
    CSV. hops: NEB hops (default all canonical hops; [] skips NEB). n_frames: frames of the first model's
    lowest-temperature trajectory on which all models are evaluated (0 skips the disagreement).
    factors: {label: {factor: level}} for the architecture × functional effects, e.g. {"nequip-chgnet-pbe":
    {"arch": "NequIP", "xc": "PBE"}}; models not in it get `model_factors` (their sidecar's arch and functional).
    """
    out = Path(out_dir)
    potentials = [as_potential(s) for s in specs]
    labels = [p.label for p in potentials]
    if len(set(labels)) != len(labels):
        raise ValueError(f"model labels must be unique, got {labels}")
    unknown = sorted(set(factors or {}) - set(labels))
    if unknown:
        raise ValueError(f"factor labels given for {unknown}, which are not among the models {labels}")
    levels = {p.label: {**model_factors(s, p), **dict((factors or {}).get(p.label, {}))}
              for s, p in zip(specs, potentials)}
    sweep_dir = out / "sweep"
    run_sweep(potentials, temperatures, seeds, sweep_dir, structure, **(sweep_kwargs or {}))
    neb = {}
    hops = HOP_NAMES if hops is None else tuple(hops)
    if hops:
        for pot in potentials:
            neb[pot.label] = li_migration_barriers(pot, hops=hops, label=pot.label, out_dir=out / "neb" / pot.label,
                                                   **(neb_kwargs or {}))
    ensemble = None
    if n_frames and len(potentials) > 1:
        dump = _shared_dump(sweep_dir, labels[0])
        ensemble = model_disagreement({p.label: p for p in potentials}, frames_from_dump(dump, n_frames))
    return write_report(sweep_dir, neb, ensemble, out, alpha=alpha, html=html, factors=levels)


def _shared_dump(sweep_dir: Path, label: str) -> Path:
    """Dump of the first model's lowest-temperature finished run (frames shared by all models)."""
    import pandas as pd

    runs = pd.read_csv(sweep_dir / "runs.csv")
    runs = runs[runs["label"] == label].sort_values(["T_K", "seed"])
    for run_dir in runs.get("run_dir", []):
        dump = Path(run_dir) / DUMP_NAME
        if dump.is_file():
            return dump
    raise FileNotFoundError(f"no dump.lammpstrj of model {label} under {sweep_dir}")


def _as_calculator(model, species):
    """(calculator, whether it is ours to close) for an ASE calculator or anything `as_potential` takes."""
    if isinstance(model, BaseCalculator):
        return model, False
    return calculator_for(model, species), True


def model_disagreement(models: Mapping, frames, species: Sequence[str] | None = None,
                       max_frames: int | None = None) -> dict:
    """Evaluate every model on the same frames and measure how much they disagree.

    models: {label: ASE calculator | lmpflow Potential | model path or label | list of LAMMPS pair lines}.
    frames: list of ase.Atoms, or a LAMMPS dump path (frames evenly subsampled to max_frames).
    Returns (eV, eV/Å): force_std_mean/max_eV_A — per-atom ensemble force spread
    s_i = sqrt(mean_m |F_i^m − mean_m F_i|²), averaged / maximal over atoms and frames;
    energy_std_per_atom_eV — std over models of E/N, averaged over frames (population std, like s_i);
    pairs — per model pair: rms_force_diff_eV_A = sqrt(mean (F^a − F^b)²) over frames, atoms, components,
    energy_diff_per_atom_eV mean and std over frames of (E_a − E_b)/N.
    """
    labels = list(models)
    if len(labels) < 2:
        raise ValueError(f"model_disagreement needs at least two models, got {labels}")
    if isinstance(frames, (str, os.PathLike)):
        frames = frames_from_dump(frames, max_frames or 20)
    elif max_frames:
        frames = list(frames)[:: max(1, len(frames) // max_frames)][:max_frames]
    frames = list(frames)
    if not frames:
        raise ValueError("no frames given")
    energies = np.zeros((len(labels), len(frames)))
    forces = []
    for m, label in enumerate(labels):
        calc, own = _as_calculator(models[label], species)
        try:
            f_m = []
            for k, atoms in enumerate(frames):
                at = atoms.copy()
                at.calc = calc
                energies[m, k] = at.get_potential_energy()
                f_m.append(at.get_forces())
            forces.append(f_m)
        finally:
            if own:
                calc.close()
    n_atoms = np.array([len(a) for a in frames])
    e_pa = energies / n_atoms[None, :]
    spread, pairs = [], {}
    for k in range(len(frames)):
        fk = np.array([forces[m][k] for m in range(len(labels))])  # (M, N, 3)
        spread.append(np.sqrt(((fk - fk.mean(axis=0)) ** 2).sum(axis=2).mean(axis=0)))
    spread = np.concatenate(spread)
    for (i, a), (j, b) in itertools.combinations(enumerate(labels), 2):
        sq = np.concatenate([((forces[i][k] - forces[j][k]) ** 2).ravel() for k in range(len(frames))])
        de = e_pa[i] - e_pa[j]
        pairs[f"{a} vs {b}"] = {"label_a": a, "label_b": b, "rms_force_diff_eV_A": float(np.sqrt(sq.mean())),
                                "energy_diff_per_atom_eV": float(de.mean()),
                                "energy_diff_per_atom_std_eV": float(de.std())}
    return {"labels": labels, "n_frames": len(frames), "n_atoms": int(n_atoms.sum()),
            "force_std_mean_eV_A": float(spread.mean()), "force_std_max_eV_A": float(spread.max()),
            "energy_std_per_atom_eV": float(e_pa.std(axis=0).mean()), "pairs": pairs,
            "energies_per_atom_eV": e_pa.tolist()}


def frames_from_dump(dump: str | Path, n_frames: int = 20, species: Sequence[str] | None = None) -> list:
    """Up to n_frames evenly spaced frames of a LAMMPS dump as ase.Atoms (positions wrapped, pbc)."""
    from ase import Atoms

    from lmpflow.trajectory import read_dump

    traj = read_dump(dump, cache=False)
    n = traj.positions.shape[0]
    idx = np.unique(np.linspace(0, n - 1, min(n, n_frames)).round().astype(int))
    frames = []
    for k in idx:
        at = Atoms(list(traj.elements), positions=np.asarray(traj.positions[k]) - traj.origins[k],
                   cell=traj.cells[k], pbc=True)
        at.wrap()
        frames.append(at)
    return frames
