"""Machine-learned force fields for Li6PS5Cl: reference labels, training, packaging, compiling, shipped models.

The study this package follows (Li, Gong, Xiao, Ren, arXiv:2512.11650) trains NequIP/Allegro models on PBE and on
HSE06 DFT data. Running DFT is outside this package, so the shipped models are trained on labels from the
universal CHGNet potential instead, whose weights ship inside the `chgnet` wheel (no downloads):

* ``chgnet-pbe``    CHGNet 0.3.0, trained on Materials Project GGA/GGA+U (PBE family) -> stands in for PBE;
* ``chgnet-r2scan`` CHGNet r2scan, transfer-learned to r2SCAN meta-GGA -> stands in for the higher-level
                    functional (HSE06 in the study). r2SCAN is NOT HSE06: it only plays its role (a second,
                    more accurate functional) so the PBE-vs-better-functional comparison can be run end to end.

Real DFT data enter through `train_model(dataset_xyz, ...)`, which turns any labelled extxyz file into a
compiled model. Model files:

* ``*.nequip.zip``  portable `nequip-package` archives (what ships in ``lmpflow/data/models``), each with a
  sidecar ``*.json`` (label source, functional mimicked, training-set size, validation errors);
* ``*.nequip.pt2``  AOTInductor-compiled models for the LAMMPS pair styles ``lmpflow/nequip`` and
  ``lmpflow/allegro``. They contain machine code built for the compiling CPU, so they are made on first use and
  cached in ``$LMPFLOW_CACHE`` (default ``~/.cache/lmpflow/models``), keyed by file hash, target, device and
  torch/nequip versions.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ._lammps import executable
from .structures import SPECIES, li6ps5cl

DATA_DIR = Path(__file__).resolve().parent / "data" / "models"
TEST_MODEL_DIR = DATA_DIR / "test"

ARCHS = ("nequip", "allegro")
PAIR_STYLES = {"nequip": "lmpflow/nequip", "allegro": "lmpflow/allegro"}
# nequip-compile --target for each architecture (pair_allegro is registered by nequip-allegro).
COMPILE_TARGETS = {"nequip": "pair_nequip", "allegro": "pair_allegro"}
PACKAGE_SUFFIX = ".nequip.zip"
COMPILED_SUFFIX = ".nequip.pt2"
TORCHSCRIPT_SUFFIX = ".nequip.pth"
DEFAULT_MODEL_LABEL = "nequip-chgnet-pbe"


@dataclass(frozen=True)
class LabelSource:
    """A reference-label source: which CHGNet weights, and which DFT functional they stand in for."""

    name: str
    chgnet_model: str
    functional: str  # functional of the data CHGNet was trained on
    mimics: str  # role it plays in the PBE-vs-hybrid comparison of the study


LABEL_SOURCES = {
    "chgnet-pbe": LabelSource("chgnet-pbe", "0.3.0", "PBE (GGA/GGA+U, Materials Project)", "PBE"),
    "chgnet-r2scan": LabelSource("chgnet-r2scan", "r2scan", "r2SCAN meta-GGA", "HSE06 (stand-in: r2SCAN)"),
}


@dataclass(frozen=True)
class ModelSpec:
    """One model: a file plus what it is. `label` is unique (e.g. "allegro-chgnet-pbe")."""

    path: Path
    label: str
    arch: str
    functional: str
    label_source: str
    metadata: dict = field(default_factory=dict, compare=False, hash=False)


class ModelFileError(ValueError):
    """A model file is missing, unreadable or not a nequip model."""


# --------------------------------------------------------------------------------------------------------------
# Inspecting compiled models
# --------------------------------------------------------------------------------------------------------------
def _finish_info(meta: dict, path: Path, inputs: list[str], outputs: list[str]) -> dict:
    type_names = str(meta.get("type_names", "")).split()
    if not type_names:
        raise ModelFileError(f"{path}: model metadata has no type_names; is this a nequip model?")
    target = "nequip" if "cell" in inputs else "allegro"
    cutoffs = meta.get("per_edge_type_cutoff")
    return {
        "path": str(path),
        "type_names": type_names,
        "num_types": int(meta.get("num_types", len(type_names))),
        "r_max": float(meta["r_max"]),
        "per_edge_type_cutoff": cutoffs if cutoffs not in ("", None) else None,
        "model_dtype": str(meta.get("model_dtype", "")),
        "target": target,
        "pair_style": PAIR_STYLES[target],
        "inputs": inputs,
        "outputs": outputs,
        "raw": meta,
    }


def model_info(path: str | Path) -> dict:
    """Metadata of a compiled model (`.nequip.pt2` AOTInductor or `.nequip.pth` TorchScript).

    Returns type_names (list[str]), num_types, r_max (A), per_edge_type_cutoff (raw string or None),
    model_dtype, target ("nequip" or "allegro": a model that takes the cell is a NequIP message-passing model),
    pair_style ("lmpflow/nequip" or "lmpflow/allegro"), inputs, outputs, raw (all metadata) and path.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    name = path.name
    if name.endswith(COMPILED_SUFFIX):
        try:
            with zipfile.ZipFile(path) as zf:
                hits = [n for n in zf.namelist()
                        if "/data/aotinductor/" in n and n.endswith("wrapper_metadata.json")]
                if not hits:
                    raise ModelFileError(f"{path}: no */data/aotinductor/*wrapper_metadata.json inside; not a "
                                         f"model compiled by `nequip-compile --mode aotinductor`")
                meta = json.loads(zf.read(hits[0]))
        except (zipfile.BadZipFile, json.JSONDecodeError, OSError) as exc:
            raise ModelFileError(f"{path} is corrupt or not an AOTInductor package ({exc}); recompile it with "
                                 f"lmpflow.models.compile_model") from exc
        inputs = str(meta.get("nequip_aoti_inputs", "")).split()
        outputs = str(meta.get("nequip_aoti_outputs", "")).split()
        if not inputs:
            raise ModelFileError(f"{path}: metadata lacks nequip_aoti_inputs; compile with --target pair_nequip "
                                 f"or pair_allegro")
        return _finish_info(meta, path, inputs, outputs)
    if name.endswith(TORCHSCRIPT_SUFFIX):
        import torch

        keys = ["type_names", "num_types", "r_max", "per_edge_type_cutoff", "model_dtype", "nequip_version",
                "config"]
        extra = {k: "" for k in keys}
        try:
            model = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        except Exception as exc:  # torch raises RuntimeError/ValueError variants for bad archives
            raise ModelFileError(f"{path} is corrupt or not a TorchScript model ({exc})") from exc
        meta = {k: (v.decode(errors="replace") if isinstance(v, bytes) else v) for k, v in extra.items()}
        # Deployed TorchScript models carry their training config: Allegro ones name allegro model builders.
        # Allegro's pair style feeds only local edges (no cell); NequIP's also passes cell and shifts.
        config = str(meta.pop("config", ""))
        is_allegro = "allegro" in config.lower() or "allegro" in (getattr(model, "original_name", "") or "").lower()
        inputs = ["pos", "edge_index", "atom_types"] + ([] if is_allegro else ["cell", "edge_cell_shift"])
        return _finish_info(meta, path, inputs, ["total_energy", "forces"])
    raise ModelFileError(f"{path}: unknown model file type; expected *{COMPILED_SUFFIX} or *{TORCHSCRIPT_SUFFIX}. "
                         f"Compile a *{PACKAGE_SUFFIX} package or checkpoint with lmpflow.models.compile_model")


# --------------------------------------------------------------------------------------------------------------
# Reference labels (CHGNet, offline)
# --------------------------------------------------------------------------------------------------------------
def _label_source(source: str) -> LabelSource:
    if source not in LABEL_SOURCES:
        raise ValueError(f"unknown label source {source!r}; choose one of {sorted(LABEL_SOURCES)}")
    return LABEL_SOURCES[source]


@contextlib.contextmanager
def _torch_float32_default():
    """CHGNet needs torch's default dtype float32; nequip switches it to float64 when it loads a model."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def chgnet_calculator(source: str = "chgnet-pbe"):
    """ASE calculator of the CHGNet weights behind `source` (loaded from the chgnet wheel, no download)."""
    import warnings

    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    spec = _label_source(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CHGNet.load(model_name=spec.chgnet_model, use_device="cpu", verbose=False)
    return CHGNetCalculator(model=model, use_device="cpu")


def label_frames(frames: Iterable, source: str = "chgnet-pbe") -> list:
    """Copies of `frames` carrying energy (eV), forces (eV/A) and stress (eV/A^3) from the CHGNet `source`.

    These labels stand in for DFT: "chgnet-pbe" for PBE, "chgnet-r2scan" (r2SCAN) for the study's HSE06.
    The source is recorded in each frame's info["label_source"].
    """
    from ase.calculators.singlepoint import SinglePointCalculator

    out = []
    with _torch_float32_default():
        calc = chgnet_calculator(source)
        for atoms in frames:
            atoms = atoms.copy()
            atoms.calc = calc
            energy = float(atoms.get_potential_energy())
            forces = atoms.get_forces().copy()
            stress = atoms.get_stress(voigt=True).copy()
            atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces, stress=stress)
            atoms.info["label_source"] = source
            out.append(atoms)
    return out


def _strip(atoms):
    """A calculator-free copy with only positions/cell/species (what goes into a training file)."""
    from ase import Atoms

    clean = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=True)
    return clean


def training_configurations(n_rattle: int = 40, n_strain: int = 20, md_temperatures: Sequence[float] = (500, 700, 900),
                            md_steps: int = 300, md_every: int = 10, md_timestep_fs: float = 2.0, seed: int = 0,
                            md_source: str = "chgnet-pbe", rattle_sigma: tuple[float, float] = (0.03, 0.15)) -> list:
    """Unlabelled Li6PS5Cl configurations (52 atoms) covering what MD at 500-900 K visits.

    * n_rattle ordered/site-exchanged cells with Gaussian displacements of rattle_sigma[0]..[1] A (large ones
      give the close contacts that teach the model short-range repulsion);
    * n_strain cells under random strains of up to +-2 % (with small rattles) for the stress/volume response;
    * snapshots every `md_every` steps of Langevin MD driven by CHGNet `md_source` at each temperature (K),
      starting from cells with 0, 25 and 50 % Cl/S site exchange so Li hops and anion disorder are sampled.
    """
    rng = np.random.default_rng(seed)
    starts = [li6ps5cl(site_exchange=x, seed=seed + k) for k, x in enumerate((0.0, 0.25, 0.5))]
    frames = []
    for k in range(n_rattle):
        atoms = starts[k % len(starts)].copy()
        sigma = rattle_sigma[0] + (rattle_sigma[1] - rattle_sigma[0]) * k / max(1, n_rattle - 1)
        atoms.positions += rng.normal(0.0, sigma, atoms.positions.shape)
        frames.append(_strip(atoms))
    for k in range(n_strain):
        atoms = starts[k % len(starts)].copy()
        strain = np.eye(3) + np.triu(rng.uniform(-0.02, 0.02, (3, 3)))
        atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
        atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
        frames.append(_strip(atoms))
    if md_steps > 0 and md_temperatures:
        with _torch_float32_default():
            frames += _chgnet_md_snapshots(starts, md_source, md_temperatures, md_steps, md_every, md_timestep_fs,
                                           rng, seed)
    return frames


def _chgnet_md_snapshots(starts, md_source, md_temperatures, md_steps, md_every, md_timestep_fs, rng, seed):
    """Snapshots of Langevin MD (ASE; timestep in fs, temperatures in K) driven by CHGNet `md_source`."""
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    frames = []
    calc = chgnet_calculator(md_source)
    for t_index, temperature in enumerate(md_temperatures):
        atoms = starts[t_index % len(starts)].copy()
        atoms.calc = calc
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
        dyn = Langevin(atoms, md_timestep_fs * units.fs, temperature_K=temperature, friction=0.02,
                       rng=np.random.default_rng(seed + 100 + t_index))
        for _ in range(md_steps // md_every):
            dyn.run(md_every)
            frames.append(_strip(atoms))
    return frames


def make_training_set(out: str | Path, source: str = "chgnet-pbe", configurations: list | None = None,
                      seed: int = 0, max_force: float | None = None, **config_kwargs) -> Path:
    """Label Li6PS5Cl configurations with `source` and write them to extxyz `out` (atomic write).

    `configurations` defaults to `training_configurations(seed=seed, **config_kwargs)`; pass the same list for
    several sources so the PBE- and r2SCAN-labelled sets share their structures. Frames with any reference force
    above `max_force` (eV/A) are dropped.
    """
    from ase.io import write

    out = Path(out)
    frames = configurations if configurations is not None else training_configurations(seed=seed, **config_kwargs)
    labelled = label_frames(frames, source)
    if max_force is not None:
        labelled = [a for a in labelled if np.abs(a.get_forces()).max() <= max_force]
    if not labelled:
        raise ValueError(f"no frames left for {out} after dropping forces above {max_force} eV/A")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.extxyz")
    write(tmp, labelled, format="extxyz")
    os.replace(tmp, out)
    return out


# --------------------------------------------------------------------------------------------------------------
# Training configuration
# --------------------------------------------------------------------------------------------------------------
# Model hyper-parameters per preset. "tiny" = test models (seconds to train, inaccurate); "small" = shipped
# production-style models sized for CPU MD of a few hundred atoms.
PRESETS = {
    "nequip": {
        "tiny": dict(l_max=1, num_layers=2, num_features=8, radial_mlp_depth=1, radial_mlp_width=16, num_bessels=8),
        "small": dict(l_max=1, num_layers=3, num_features=16, radial_mlp_depth=1, radial_mlp_width=32,
                      num_bessels=8),
    },
    "allegro": {
        "tiny": dict(l_max=1, num_layers=1, num_scalar_features=8, num_tensor_features=4,
                     allegro_mlp_hidden_layers_width=16, readout_mlp_hidden_layers_width=8,
                     scalar_embed_mlp_hidden_layers_width=16, num_bessels=8),
        "small": dict(l_max=2, num_layers=2, num_scalar_features=32, num_tensor_features=8,
                      allegro_mlp_hidden_layers_width=32, readout_mlp_hidden_layers_width=16,
                      scalar_embed_mlp_hidden_layers_width=32, num_bessels=8),
    },
}
# Training schedule per preset: epochs, batch size, learning rate.
SCHEDULES = {"tiny": dict(max_epochs=3, batch_size=4, lr=0.01), "small": dict(max_epochs=40, batch_size=4, lr=0.005)}


def _dataset_summary(dataset: Path) -> dict:
    """Species, frame count, stress presence and least-squares per-type energy shifts of an extxyz dataset."""
    from ase.io import read

    frames = read(dataset, index=":", format="extxyz")
    if not frames:
        raise ValueError(f"{dataset} holds no frames")
    species = sorted({s for a in frames for s in a.get_chemical_symbols()})
    unknown = sorted(set(species) - set(SPECIES))
    if unknown:
        raise ValueError(f"{dataset} contains species {unknown}; lmpflow models use {SPECIES}")
    try:
        energies = np.array([a.get_potential_energy() for a in frames])
        for a in frames:
            a.get_forces()
    except Exception as exc:
        raise ValueError(f"{dataset}: every frame needs an energy (eV) and forces (eV/A) for training; "
                         f"write it with ase.io.write from atoms carrying a calculator ({exc})") from exc
    has_stress = all("stress" in (a.calc.results if a.calc else {}) for a in frames)
    counts = np.array([[np.sum(np.array(a.get_chemical_symbols()) == s) for s in SPECIES] for a in frames], float)
    n_atoms = counts.sum(1)
    mean = float(np.sum(energies) / np.sum(n_atoms))
    # per-type shifts: mean energy per atom + minimum-norm least-squares correction by composition (for one fixed
    # stoichiometry the correction vanishes and every type gets the mean).
    correction, *_ = np.linalg.lstsq(counts, energies - mean * n_atoms, rcond=None)
    shifts = [mean + float(c) for c in correction]
    return dict(n_frames=len(frames), species=species, has_stress=has_stress, per_type_energy_shifts=shifts)


class _NoAliasDumper(__import__("yaml").SafeDumper):
    """Plain YAML without &anchors/*aliases, so the config reads top to bottom."""

    def ignore_aliases(self, data):
        return True


def training_config(arch: str, dataset: str | Path, r_max: float = 5.0, model_dtype: str = "float64",
                    preset: str = "small", out: str | Path | None = None, max_epochs: int | None = None,
                    val_fraction: float = 0.1, seed: int = 1, zbl: bool = False, stress_weight: float = 1.0,
                    lr: float | None = None, batch_size: int | None = None, **model_overrides) -> str:
    """YAML config for `nequip-train` of a NequIP or Allegro model of Li, P, S, Cl on an extxyz dataset.

    arch: "nequip" | "allegro"; r_max: cutoff (A); model_dtype: "float32" | "float64"; preset: "tiny" (test
    models) | "small" (shipped models); zbl: add a ZBL core repulsion (keeps MD stable if atoms get closer than
    anything in the data). Returns the YAML text and writes it to `out` if given.
    """
    import yaml

    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    if preset not in PRESETS[arch]:
        raise ValueError(f"preset must be one of {sorted(PRESETS[arch])}, got {preset!r}")
    if model_dtype not in ("float32", "float64"):
        raise ValueError(f"model_dtype must be 'float32' or 'float64', got {model_dtype!r}")
    if not 2.0 <= float(r_max) <= 10.0:
        raise ValueError(f"r_max={r_max} A is outside the sensible 2-10 A range")
    if not 0.0 < val_fraction < 0.5:
        raise ValueError(f"val_fraction must be in (0, 0.5), got {val_fraction}")
    dataset = Path(dataset).resolve()
    if not dataset.is_file():
        raise FileNotFoundError(f"training dataset {dataset} does not exist")
    summary = _dataset_summary(dataset)
    if summary["n_frames"] < 5:
        raise ValueError(f"{dataset} has {summary['n_frames']} frames; need at least 5 to split train/val")
    schedule = dict(SCHEDULES[preset])
    schedule.update({k: v for k, v in dict(max_epochs=max_epochs, lr=lr, batch_size=batch_size).items()
                     if v is not None})
    n_val = max(1, int(round(val_fraction * summary["n_frames"])))
    n_train = summary["n_frames"] - n_val
    type_names = list(SPECIES)
    use_stress = summary["has_stress"] and stress_weight > 0

    hyper = dict(PRESETS[arch][preset])
    hyper.update(model_overrides)
    common = dict(seed=seed, model_dtype=model_dtype, type_names=type_names, r_max=float(r_max),
                  avg_num_neighbors="${training_data_stats:num_neighbors_mean}",
                  per_type_energy_shifts={t: float(x) for t, x in zip(type_names, summary["per_type_energy_shifts"])},
                  per_type_energy_scales="${training_data_stats:forces_rms}",
                  per_type_energy_scales_trainable=False, per_type_energy_shifts_trainable=False)
    if zbl:
        common["pair_potential"] = {"_target_": "nequip.nn.pair_potential.ZBL", "units": "metal",
                                    "chemical_species": type_names}
    if arch == "nequip":
        model = {"_target_": "nequip.model.NequIPGNNModel", **common, **hyper}
    else:
        num_bessels = hyper.pop("num_bessels")
        model = {"_target_": "allegro.model.AllegroModel", **common, **hyper,
                 "radial_chemical_embed": {"_target_": "allegro.nn.TwoBodyBesselScalarEmbed",
                                           "num_bessels": num_bessels, "bessel_trainable": False,
                                           "polynomial_cutoff_p": 6},
                 "parity": True, "tp_path_channel_coupling": True}

    if use_stress:
        loss = {"_target_": "nequip.train.EnergyForceStressLoss", "per_atom_energy": True,
                "coeffs": {"total_energy": 1.0, "forces": 1.0, "stress": float(stress_weight)}}
        metrics = {"_target_": "nequip.train.EnergyForceStressMetrics",
                   "coeffs": {"per_atom_energy_mae": 1.0, "forces_mae": 1.0, "stress_mae": 0.0}}
    else:
        loss = {"_target_": "nequip.train.EnergyForceLoss", "per_atom_energy": True,
                "coeffs": {"total_energy": 1.0, "forces": 1.0}}
        metrics = {"_target_": "nequip.train.EnergyForceMetrics",
                   "coeffs": {"per_atom_energy_mae": 1.0, "forces_mae": 1.0}}
    loader = {"_target_": "torch.utils.data.DataLoader", "batch_size": schedule["batch_size"]}
    config = {
        "run": ["train", "val"],
        "seed": seed,
        "data": {
            "_target_": "nequip.data.datamodule.ASEDataModule",
            "seed": seed,
            "split_dataset": {"file_path": str(dataset), "train": n_train, "val": n_val},
            "transforms": [
                {"_target_": "nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper",
                 "model_type_names": type_names,
                 "chemical_species_to_atom_type_map": {s: s for s in type_names}},
                {"_target_": "nequip.data.transforms.NeighborListTransform", "r_max": float(r_max)},
            ],
            "ase_args": {"format": "extxyz"},
            "train_dataloader": {**loader, "shuffle": True},
            "val_dataloader": loader,
            "stats_manager": {"_target_": "nequip.data.CommonDataStatisticsManager", "type_names": type_names},
        },
        "trainer": {
            "_target_": "lightning.Trainer",
            "accelerator": "cpu",
            "max_epochs": int(schedule["max_epochs"]),
            "check_val_every_n_epoch": 1,
            "log_every_n_steps": 10,
            "enable_progress_bar": False,
            "logger": {"_target_": "lightning.pytorch.loggers.CSVLogger", "save_dir": "${hydra:runtime.output_dir}",
                       "name": "metrics", "version": 0},
            "callbacks": [
                {"_target_": "lightning.pytorch.callbacks.ModelCheckpoint", "monitor": "val0_epoch/weighted_sum",
                 "dirpath": "${hydra:runtime.output_dir}", "filename": "best", "save_top_k": 1,
                 "save_last": False},
            ],
        },
        "training_module": {
            "_target_": "nequip.train.EMALightningModule",
            "loss": loss,
            "val_metrics": metrics,
            "train_metrics": metrics,
            "optimizer": {"_target_": "torch.optim.Adam", "lr": float(schedule["lr"])},
            "lr_scheduler": {
                "scheduler": {"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau", "factor": 0.5,
                              "patience": 5, "threshold": 0.01, "min_lr": 1e-5},
                "monitor": "val0_epoch/weighted_sum", "interval": "epoch", "frequency": 1},
            "model": model,
        },
        "global_options": {"allow_tf32": False},
    }
    text = ("# nequip-train config written by lmpflow.models.training_config\n"
            f"# arch={arch} preset={preset} dataset={dataset} frames={summary['n_frames']}\n"
            + yaml.dump(config, Dumper=_NoAliasDumper, sort_keys=False))
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
    return text


# --------------------------------------------------------------------------------------------------------------
# Running nequip's command-line tools
# --------------------------------------------------------------------------------------------------------------
def _nequip_tool(name: str) -> str:
    found = executable(name)
    if not found:
        raise RuntimeError(f"`{name}` not found; install nequip (and nequip-allegro) in this environment")
    return found


def _run_tool(cmd: list[str], log: Path, what: str, cwd: Path | None = None, timeout: float | None = None) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("PYTHONWARNINGS", "ignore")
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=cwd, env=env, timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise RuntimeError(f"{what} failed (exit {proc.returncode}); full log in {log}. Last lines:\n{tail}")


def train(config_path: str | Path, workdir: str | Path, timeout: float | None = None) -> Path:
    """Run `nequip-train` on `config_path` with outputs in `workdir`; return the best checkpoint (best.ckpt).

    Checkpoints and metrics of an earlier run in `workdir` are deleted first.
    """
    config_path = Path(config_path).resolve()
    workdir = Path(workdir).resolve()
    if not config_path.is_file():
        raise FileNotFoundError(f"training config {config_path} does not exist")
    workdir.mkdir(parents=True, exist_ok=True)
    # Lightning would write best-v1.ckpt next to a stale best.ckpt (and we would ship the stale model), and the
    # CSV logger would mix runs: a training always starts from a clean output folder.
    for stale in workdir.glob("best*.ckpt"):
        stale.unlink()
    shutil.rmtree(workdir / "metrics", ignore_errors=True)
    cmd = [_nequip_tool("nequip-train"), "-cp", str(config_path.parent), "-cn", config_path.stem,
           f"hydra.run.dir={workdir}"]
    _run_tool(cmd, workdir / "train.log", "nequip-train", cwd=workdir, timeout=timeout)
    ckpt = workdir / "best.ckpt"
    if not ckpt.is_file():
        raise RuntimeError(f"nequip-train finished but wrote no {ckpt}; see {workdir / 'train.log'}")
    return ckpt


def validation_errors(workdir: str | Path) -> dict:
    """Last-epoch train/val MAEs from a training run's CSV log: meV/atom (energy), meV/A (forces), meV/A^3."""
    import csv

    files = sorted(Path(workdir).glob("metrics/version_0/metrics.csv"))
    if not files:
        raise FileNotFoundError(f"no metrics/version_0/metrics.csv under {workdir}")
    rows = list(csv.DictReader(open(files[0])))
    out = {}
    for split, prefix in (("train", "train_metric_epoch/"), ("val", "val0_epoch/")):
        for key, name in (("per_atom_energy_mae", "energy_mae_meV_atom"), ("forces_mae", "forces_mae_meV_A"),
                          ("stress_mae", "stress_mae_meV_A3")):
            values = [float(r[prefix + key]) for r in rows if r.get(prefix + key) not in (None, "")]
            if values:
                out[f"{split}_{name}"] = round(1000.0 * values[-1], 3)
    out["epochs"] = len([r for r in rows if r.get("train_metric_epoch/forces_mae") not in (None, "")])
    return out


def package(ckpt: str | Path, out: str | Path) -> Path:
    """`nequip-package build` a checkpoint into a portable `.nequip.zip` (atomic write)."""
    ckpt, out = Path(ckpt).resolve(), Path(out).resolve()
    if not out.name.endswith(PACKAGE_SUFFIX):
        raise ValueError(f"package file name must end with {PACKAGE_SUFFIX}, got {out.name}")
    if not ckpt.is_file():
        raise FileNotFoundError(f"checkpoint {ckpt} does not exist")
    out.parent.mkdir(parents=True, exist_ok=True)
    # Build under the final file name (nequip names the archive's root folder after it) in a private temporary
    # folder next to the target, then move it into place atomically.
    tmpdir = Path(tempfile.mkdtemp(prefix=".package-", dir=out.parent))
    try:
        tmp = tmpdir / out.name
        _run_tool([_nequip_tool("nequip-package"), "build", str(ckpt), str(tmp)], tmpdir / "package.log",
                  "nequip-package build", cwd=tmpdir)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return out


# --------------------------------------------------------------------------------------------------------------
# Compiling with a cache
# --------------------------------------------------------------------------------------------------------------
def cache_dir() -> Path:
    """Where compiled models live: $LMPFLOW_CACHE or ~/.cache/lmpflow/models."""
    root = os.environ.get("LMPFLOW_CACHE")
    path = Path(root) if root else Path.home() / ".cache" / "lmpflow" / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sidecar(path: str | Path) -> dict:
    """The JSON sidecar of a packaged model (label source, arch, errors...), or {} if there is none."""
    path = Path(path)
    base = path.name
    for suffix in (PACKAGE_SUFFIX, ".ckpt"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    side = path.with_name(base + ".json")
    return json.loads(side.read_text()) if side.is_file() else {}


def _arch_of(src: Path) -> str:
    """NequIP or Allegro? From the sidecar, else from the model config stored in the package/checkpoint."""
    arch = sidecar(src).get("arch")
    if arch in ARCHS:
        return arch
    if src.name.endswith(PACKAGE_SUFFIX):
        with zipfile.ZipFile(src) as zf:
            text = " ".join(zf.read(n).decode(errors="ignore") for n in zf.namelist()
                            if n.endswith((".txt", ".yaml", ".json", ".pkl")))
    else:
        text = Path(src).read_bytes().decode(errors="ignore")
    if "allegro.model" in text:
        return "allegro"
    if "nequip.model" in text:
        return "nequip"
    raise ModelFileError(f"cannot tell whether {src} is a NequIP or Allegro model; pass target='pair_nequip' or "
                         f"'pair_allegro'")


@contextlib.contextmanager
def _file_lock(lock_path: Path):
    """Exclusive advisory lock (blocks until another process finishes the same compile)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def compile_key(src: str | Path, target: str, device: str = "cpu") -> str:
    """Cache key of a compile: source file hash + target + device + torch and nequip versions."""
    import nequip
    import torch

    text = f"{_file_hash(Path(src))}|{target}|{device}|torch={torch.__version__}|nequip={nequip.__version__}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def compile_model(src: str | Path, target: str | None = None, device: str = "cpu", out: str | Path | None = None,
                  timeout: float | None = 1800) -> Path:
    """Compile a `.nequip.zip` package or checkpoint to an AOTInductor `.nequip.pt2` for the LAMMPS pair styles.

    target: "pair_nequip" | "pair_allegro" (default: from the model's architecture). Without `out`, the result
    goes to the cache (`cache_dir()`), named <stem>-<key>.nequip.pt2, and a cached file is reused (no
    recompile). Writes are atomic and guarded by a lock file, so concurrent callers compile once.
    A compile takes minutes on a CPU.
    """
    src = Path(src).resolve()
    if not src.is_file():
        raise ModelFileError(f"model source {src} does not exist")
    if src.name.endswith((COMPILED_SUFFIX, TORCHSCRIPT_SUFFIX)):
        raise ValueError(f"{src} is already compiled; compile the .nequip.zip package or checkpoint it came from")
    if target is None:
        target = COMPILE_TARGETS[_arch_of(src)]
    # "ase": nequip's ASE calculator (NequIPCalculator.from_compiled_model), the MD baseline of bench/
    if target not in (*COMPILE_TARGETS.values(), "ase"):
        raise ValueError(f"target must be one of {sorted(COMPILE_TARGETS.values())} or 'ase', got {target!r}")
    stem = src.name.removesuffix(PACKAGE_SUFFIX).removesuffix(".ckpt")
    if out is None:
        out = cache_dir() / f"{stem}-{compile_key(src, target, device)}{COMPILED_SUFFIX}"
    out = Path(out).resolve()
    if not out.name.endswith(COMPILED_SUFFIX):
        raise ValueError(f"compiled model name must end with {COMPILED_SUFFIX}, got {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(out.with_name(out.name + ".lock")):
        if out.is_file():
            return out
        tmpdir = Path(tempfile.mkdtemp(prefix=".compile-", dir=out.parent))
        try:
            tmp = tmpdir / out.name
            cmd = [_nequip_tool("nequip-compile"), str(src), str(tmp), "--mode", "aotinductor", "--device", device,
                   "--target", target]
            _run_tool(cmd, tmpdir / "compile.log", f"nequip-compile of {src.name}", cwd=tmpdir, timeout=timeout)
            model_info(tmp)  # refuse to publish a broken file
            os.replace(tmp, out)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
    return out


# --------------------------------------------------------------------------------------------------------------
# Shipped models
# --------------------------------------------------------------------------------------------------------------
def _spec_from_package(path: Path) -> ModelSpec:
    meta = sidecar(path)
    label = meta.get("label") or path.name.removesuffix(PACKAGE_SUFFIX)
    return ModelSpec(path=path, label=label, arch=meta.get("arch") or _arch_of(path),
                     functional=meta.get("functional", "unknown"), label_source=meta.get("label_source", "unknown"),
                     metadata=meta)


def shipped_models(test: bool = False) -> list[ModelSpec]:
    """Packaged models shipped with lmpflow (`test=True`: the tiny, inaccurate pair-style test models)."""
    folder = TEST_MODEL_DIR if test else DATA_DIR
    return [_spec_from_package(p) for p in sorted(folder.glob(f"*{PACKAGE_SUFFIX}"))]


def find_model(name_or_path: str | Path, test: bool = False) -> ModelSpec:
    """A shipped model by label (e.g. "allegro-chgnet-pbe") or any package/checkpoint by path."""
    path = Path(name_or_path)
    if path.is_file():
        return _spec_from_package(path.resolve())
    specs = shipped_models(test=test)
    for spec in specs:
        if spec.label == str(name_or_path):
            return spec
    raise ModelFileError(f"no model file or shipped model named {name_or_path!r}; shipped: "
                         f"{[s.label for s in specs] or 'none (run scripts/make_models.py)'}")


def compiled_model(name_or_path: str | Path, target: str | None = None, device: str = "cpu") -> Path:
    """Compiled (cached) `.nequip.pt2` of a shipped model label or a package/checkpoint path."""
    path = Path(name_or_path)
    if path.is_file() and path.name.endswith(COMPILED_SUFFIX):
        model_info(path)
        return path.resolve()
    spec = find_model(name_or_path)
    return compile_model(spec.path, target=target or COMPILE_TARGETS[spec.arch], device=device)


def default_model() -> Path:
    """Compiled (cached) `.nequip.pt2` of the default shipped model (DEFAULT_MODEL_LABEL)."""
    return compiled_model(DEFAULT_MODEL_LABEL)


def ase_calculator(model: str | Path, device: str = "cpu"):
    """nequip's ASE calculator on a package (`.nequip.zip`), checkpoint or compiled `.nequip.pt2`.

    Packages/checkpoints run in eager mode (no compile), species map Li P S Cl -> model types by name. For
    comparing the LAMMPS pair styles against nequip's own evaluation of the same model: give the package the
    pair style's `.nequip.pt2` was compiled from (pair-style compiles cannot drive the ASE calculator).
    Note: loading a nequip model sets torch's default dtype to float64 for the process.
    """
    from nequip.integrations.ase import NequIPCalculator

    path = Path(model)
    if not path.is_file():
        spec = find_model(model)
        path = spec.path
    if path.name.endswith(COMPILED_SUFFIX):
        try:
            return NequIPCalculator.from_compiled_model(str(path), device=device)
        except Exception as exc:  # pair-style targets (pair_nequip/pair_allegro) have other inputs than ASE's
            raise ModelFileError(f"{path} cannot drive nequip's ASE calculator ({exc}); models compiled for the "
                                 f"LAMMPS pair styles are not; pass the .nequip.zip package instead") from exc
    if path.name.endswith(TORCHSCRIPT_SUFFIX):
        raise ValueError(f"{path}: TorchScript models are not supported by nequip>=0.19's ASE calculator")
    return NequIPCalculator._from_saved_model(str(path), device=device)


# --------------------------------------------------------------------------------------------------------------
# End-to-end: dataset -> compiled model
# --------------------------------------------------------------------------------------------------------------
def write_sidecar(package_path: Path, info: dict) -> Path:
    """Write the model's JSON sidecar next to its package (atomic)."""
    from .inputs import atomic_write_text  # inputs imports this module: import at call time

    side = package_path.with_name(package_path.name.removesuffix(PACKAGE_SUFFIX) + ".json")
    return atomic_write_text(side, json.dumps(info, indent=2, sort_keys=True) + "\n")


def train_package(dataset_xyz: str | Path, arch: str, out_package: str | Path, preset: str = "small",
                  workdir: str | Path | None = None, label: str | None = None, label_source: str = "user",
                  functional: str = "unknown", compile_now: bool = False, **config_kwargs) -> ModelSpec:
    """Train `arch` on `dataset_xyz`, package to `out_package` with a sidecar JSON; optionally compile."""
    out_package = Path(out_package).resolve()
    name = out_package.name.removesuffix(PACKAGE_SUFFIX)
    workdir = Path(workdir) if workdir else out_package.parent / f"train-{name}"
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "config.yaml"
    training_config(arch, dataset_xyz, preset=preset, out=config_path, **config_kwargs)
    t0 = time.time()
    ckpt = train(config_path, workdir)
    train_s = time.time() - t0
    package(ckpt, out_package)
    summary = _dataset_summary(Path(dataset_xyz))
    import nequip
    import torch
    info = {
        "label": label or name, "arch": arch, "preset": preset, "label_source": label_source,
        "functional": functional, "pair_style": PAIR_STYLES[arch], "compile_target": COMPILE_TARGETS[arch],
        "type_names": list(SPECIES), "r_max": float(config_kwargs.get("r_max", 5.0)),
        "model_dtype": config_kwargs.get("model_dtype", "float64"),
        "training_set": {"path": Path(dataset_xyz).name, "n_frames": summary["n_frames"]},
        "train_wall_s": round(train_s, 1), "errors": validation_errors(workdir),
        "nequip_version": nequip.__version__, "torch_version": torch.__version__,
    }
    if label_source in LABEL_SOURCES:
        info["label_note"] = (f"labels from CHGNet '{LABEL_SOURCES[label_source].chgnet_model}' "
                              f"({LABEL_SOURCES[label_source].functional}), standing in for "
                              f"{LABEL_SOURCES[label_source].mimics} DFT")
    write_sidecar(out_package, info)
    if compile_now:
        compile_model(out_package, target=COMPILE_TARGETS[arch])
    return _spec_from_package(out_package)


def train_model(dataset_xyz: str | Path, arch: str, out_dir: str | Path, preset: str = "small",
                functional: str = "unknown", label: str | None = None, **config_kwargs) -> Path:
    """User path: your own labelled extxyz (any functional; energy, forces, optional stress) -> compiled model.

    Generates the config, trains, packages to <out_dir>/<label>.nequip.zip (+ sidecar JSON) and compiles for
    the matching LAMMPS pair style; returns the compiled `.nequip.pt2` path (in the cache).
    """
    out_dir = Path(out_dir)
    label = label or f"{arch}-{Path(dataset_xyz).name.split('.')[0]}"
    spec = train_package(dataset_xyz, arch, out_dir / f"{label}{PACKAGE_SUFFIX}", preset=preset, label=label,
                         label_source="user", functional=functional, **config_kwargs)
    return compile_model(spec.path, target=COMPILE_TARGETS[arch])


__all__ = [
    "ARCHS", "COMPILE_TARGETS", "DEFAULT_MODEL_LABEL", "LABEL_SOURCES", "LabelSource", "ModelFileError",
    "ModelSpec", "PAIR_STYLES", "ase_calculator", "cache_dir", "chgnet_calculator", "compile_key", "compile_model",
    "compiled_model", "default_model", "find_model", "label_frames", "make_training_set", "model_info", "package",
    "shipped_models", "sidecar", "train", "train_model", "train_package", "training_config",
    "training_configurations", "validation_errors",
]

