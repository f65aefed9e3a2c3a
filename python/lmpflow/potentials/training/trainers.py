"""Training NequIP / Allegro models with nequip-train: configs, training, packaging, the user's path from an
extxyz of labelled frames to a compiled model. Offline code: never imported at MD time.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from lmpflow._host import atomic_write_text, publish, run_tool
from lmpflow.potentials.backends import ARCHS, backend
from lmpflow.potentials.nequip import PACKAGE_SUFFIX, nequip_tool
from lmpflow.potentials.registry import ModelSpec, compiled_model, find_model, write_sidecar
from lmpflow.potentials.training.labels import LABEL_SOURCES, label_note
from lmpflow.system.structures import SPECIES

#: what train_package writes: a portable package, compiled for each machine on first use
OUTPUT_SUFFIX = PACKAGE_SUFFIX
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
        "small": dict(l_max=1, num_layers=2, num_scalar_features=32, num_tensor_features=8,
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
                    val_fraction: float = 0.1, seed: int = 1, zbl: bool = False, energy_weight: float = 1.0,
                    stress_weight: float = 1.0, lr: float | None = None, batch_size: int | None = None,
                    **model_overrides) -> str:
    """YAML config for `nequip-train` of a NequIP or Allegro model of Li, P, S, Cl on an extxyz dataset.

    arch: "nequip" | "allegro"; r_max: cutoff (A); model_dtype: "float32" | "float64"; preset: "tiny" (test
    models) | "small" (shipped models); zbl: add a ZBL core repulsion (keeps MD stable if atoms get closer than
    anything in the data). energy_weight, stress_weight: loss coefficients of the per-atom energy (eV) and stress
    (eV/Å³) squared errors relative to the forces' (eV/Å); stress errors are ~100× smaller numbers than force
    errors, so a weight near 100 is what makes the equation of state matter. Returns the YAML text and writes
    it to `out` if given.
    """
    import yaml

    if arch not in PRESETS:
        raise ValueError(f"nequip-train trains arch {sorted(PRESETS)}, got {arch!r}" +
                         (" (MACE trains with mace-torch: lmpflow.train_model(..., arch='mace'))" if arch in ARCHS else ""))
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
                "coeffs": {"total_energy": float(energy_weight), "forces": 1.0, "stress": float(stress_weight)}}
        metrics = {"_target_": "nequip.train.EnergyForceStressMetrics",
                   # the best checkpoint weighs absolute errors as the loss weighs squared ones
                   "coeffs": {"per_atom_energy_mae": float(energy_weight) ** 0.5, "forces_mae": 1.0,
                              "stress_mae": float(stress_weight) ** 0.5}}
    else:
        loss = {"_target_": "nequip.train.EnergyForceLoss", "per_atom_energy": True,
                "coeffs": {"total_energy": float(energy_weight), "forces": 1.0}}
        metrics = {"_target_": "nequip.train.EnergyForceMetrics",
                   "coeffs": {"per_atom_energy_mae": float(energy_weight) ** 0.5, "forces_mae": 1.0}}
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
    text = ("# nequip-train config written by lmpflow.training_config\n"
            f"# arch={arch} preset={preset} dataset={dataset} frames={summary['n_frames']}\n"
            + yaml.dump(config, Dumper=_NoAliasDumper, sort_keys=False))
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, text)
    return text


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
    cmd = [nequip_tool("nequip-train"), "-cp", str(config_path.parent), "-cn", config_path.stem,
           f"hydra.run.dir={workdir}"]
    run_tool(cmd, workdir / "train.log", "nequip-train", cwd=workdir, timeout=timeout)
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
        run_tool([nequip_tool("nequip-package"), "build", str(ckpt), str(tmp)], tmpdir / "package.log",
                 "nequip-package build", cwd=tmpdir)
        publish(tmp, out)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return out


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
        "functional": functional, "pair_style": backend(arch).pair_style, "compile_target": backend(arch).compile_target,
        "type_names": list(SPECIES), "r_max": float(config_kwargs.get("r_max", 5.0)),
        "model_dtype": config_kwargs.get("model_dtype", "float64"),
        "training_set": {"path": Path(dataset_xyz).name, "n_frames": summary["n_frames"]},
        "train_wall_s": round(train_s, 1), "errors": validation_errors(workdir),
        "nequip_version": nequip.__version__, "torch_version": torch.__version__,
    }
    if label_source in LABEL_SOURCES:
        info["label_note"] = label_note(label_source)
    write_sidecar(out_package, info)
    if compile_now:
        compiled_model(out_package)
    return find_model(out_package)


def train_model(dataset_xyz: str | Path, arch: str, out_dir: str | Path, preset: str = "small",
                functional: str = "unknown", label: str | None = None, **config_kwargs) -> Path:
    """User path: your own labelled extxyz (any functional; energy, forces, optional stress) -> a model file the
    matching LAMMPS pair style runs.

    NequIP/Allegro: generates the config, trains, packages to <out_dir>/<label>.nequip.zip (+ sidecar JSON) and
    compiles it; returns the compiled `.nequip.pt2` path (in the cache). MACE: trains with mace-torch in the
    MACE environment (created on first use) and returns the LAMMPS export <out_dir>/<label>.mace.pt.
    """
    out_dir = Path(out_dir)
    label = label or f"{arch}-{Path(dataset_xyz).name.split('.')[0]}"
    trainer = backend(arch).training()
    spec = trainer.train_package(dataset_xyz, arch, out_dir / f"{label}{trainer.OUTPUT_SUFFIX}", preset=preset,
                                 label=label, label_source="user", functional=functional, **config_kwargs)
    return compiled_model(spec.path)
