"""Training MACE models with mace-torch's run_train, in the MACE environment: dataset split, the command,
the LAMMPS export, errors measured on the held-out frames. Offline code: never imported at MD time.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from lmpflow.potentials import mace, mace_env
from lmpflow.potentials.backends import backend
from lmpflow.potentials.registry import ModelSpec, find_model, write_sidecar
from lmpflow.potentials.training.labels import LABEL_SOURCES, label_note
from lmpflow.system.structures import SPECIES

#: what train_package writes: the LAMMPS export itself (portable TorchScript)
OUTPUT_SUFFIX = mace.COMPILED_SUFFIX
# Model hyper-parameters per preset: "tiny" = test models (seconds, inaccurate); "small" = shipped stand-ins.
PRESETS = {
    "tiny": dict(num_channels=8, max_L=1, correlation=2, max_ell=2, num_interactions=2, num_radial_basis=4,
                 radial_MLP="[16]", MLP_irreps="8x0e"),
    # 16x0e+16x1o, body order 3, l <= 2 edge harmonics: on this CPU 250-300 ms per 416-atom step (float32)
    # against 1.2 s for 32 channels with body order 4 and l <= 3. pair_repulsion: a ZBL term inside the model,
    # learnt around; without it the r2SCAN stand-in pulled Li-P and S-Cl pairs to 0.3-0.8 A in MD at 900 K,
    # through the ZBL core of in.liPSCl.
    "small": dict(num_channels=16, max_L=1, correlation=2, max_ell=2, num_interactions=2, num_radial_basis=8,
                  radial_MLP="[32,32]", MLP_irreps="16x0e", pair_repulsion=True),
}
SCHEDULES = {"tiny": dict(max_epochs=1, batch_size=2, lr=0.01), "small": dict(max_epochs=40, batch_size=4, lr=0.01)}
# mace-torch reads labels from these keys (its default names), never from an attached calculator
_KEYS = dict(energy_key="REF_energy", forces_key="REF_forces", stress_key="REF_stress")


def split_dataset(dataset_xyz: str | Path, workdir: Path, val_fraction: float = 0.1, seed: int = 1) -> tuple[list, list]:
    """Labelled frames of `dataset_xyz` split into training and held-out sets (written for mace-torch, labels
    under REF_* keys); returns both lists."""
    from ase.io import read, write

    frames = read(dataset_xyz, index=":", format="extxyz")
    if len(frames) < 2:
        raise ValueError(f"{dataset_xyz} holds {len(frames)} frame(s); training needs a held-out set too")
    unknown = sorted({s for a in frames for s in a.get_chemical_symbols()} - set(SPECIES))
    if unknown:
        raise ValueError(f"{dataset_xyz} contains species {unknown}; lmpflow models use {SPECIES}")
    tagged = []
    for k, atoms in enumerate(frames):
        results = atoms.calc.results if atoms.calc is not None else {}
        if "energy" not in results or "forces" not in results:
            raise ValueError(f"{dataset_xyz}: frame {k} has no energy (eV) and forces (eV/A); write the dataset "
                             "with ase.io.write from atoms carrying a calculator")
        copy = atoms.copy()
        copy.calc = None
        copy.info["REF_energy"] = float(results["energy"])
        copy.arrays["REF_forces"] = np.asarray(results["forces"], float)
        if "stress" in results:
            copy.info["REF_stress"] = np.asarray(results["stress"], float)
        tagged.append(copy)
    held = set(np.random.default_rng(seed).permutation(len(tagged))[: max(1, round(val_fraction * len(tagged)))])
    valid = [a for k, a in enumerate(tagged) if k in held]
    train = [a for k, a in enumerate(tagged) if k not in held]
    workdir.mkdir(parents=True, exist_ok=True)
    write(workdir / "train.extxyz", train)
    write(workdir / "valid.extxyz", valid)
    return train, valid


def train_command(workdir: Path, name: str, preset: str = "small", r_max: float = 5.0, model_dtype: str = "float64",
                  max_epochs: int | None = None, seed: int = 1, energy_weight: float = 100.0,
                  forces_weight: float = 10.0, stress_weight: float = 3000.0, lr: float | None = None,
                  batch_size: int | None = None, **model_overrides) -> list[str]:
    """mace-torch run_train arguments for the split in `workdir`. The loss is a weighted sum of squared errors of
    energy per atom (eV), forces (eV/A) and stress (eV/A^3): the weights make the three terms comparable at the
    errors a faithful model has (~5 meV/atom, ~80 meV/A, ~1 meV/A^3); with energy 1 and stress 100 the energy and
    the equation of state, which NPT and relaxations depend on, were not learnt at all."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    hyper = {**PRESETS[preset], **model_overrides}
    sched = SCHEDULES[preset]
    channels, max_L = hyper.pop("num_channels"), hyper.pop("max_L")
    hidden = "+".join(f"{channels}x{l}{'eo'[l % 2]}" for l in range(max_L + 1))
    args = ["--name", name, "--work_dir", str(workdir), "--model", "MACE", "--hidden_irreps", hidden,
            "--r_max", str(r_max), "--train_file", str(workdir / "train.extxyz"),
            "--valid_file", str(workdir / "valid.extxyz"), "--E0s", "average", "--loss", "stress",
            "--energy_weight", str(energy_weight), "--forces_weight", str(forces_weight),
            "--stress_weight", str(stress_weight), "--compute_stress", "True",
            "--batch_size", str(batch_size or sched["batch_size"]), "--valid_batch_size", "8",
            "--max_num_epochs", str(max_epochs or sched["max_epochs"]), "--lr", str(lr or sched["lr"]),
            "--ema", "--ema_decay", "0.99", "--scheduler_patience", "5", "--patience", "1000",
            "--default_dtype", model_dtype, "--device", "cpu", "--seed", str(seed), "--num_workers", "0"]
    for key, value in hyper.items():
        if isinstance(value, bool):  # run_train's switches take no value
            args += [f"--{key}"] if value else []
        else:
            args += [f"--{key}", str(value)]
    for key, value in _KEYS.items():
        args += [f"--{key}", value]
    return args


def errors(source: Path, splits: dict[str, list], workdir: Path) -> dict:
    """MAEs of the trained model (MACE's own calculator, one run for every split) on each split's labelled
    frames: {split}_energy_mae_meV_atom, {split}_forces_mae_meV_A, {split}_stress_mae_meV_A3."""
    frames = [a for split in splits.values() for a in split]
    predicted = iter(mace.read_reference(mace.write_reference(source, frames, workdir / "predictions.npz")))
    out = {}
    for split, labelled in splits.items():
        pairs = [(next(predicted), a) for a in labelled]
        e = [abs(p.get_potential_energy() - a.info["REF_energy"]) / len(a) for p, a in pairs]
        f = np.concatenate([np.abs(p.get_forces() - a.arrays["REF_forces"]).ravel() for p, a in pairs])
        s = [np.abs(p.get_stress() - a.info["REF_stress"]) for p, a in pairs if "REF_stress" in a.info]
        out[f"{split}_energy_mae_meV_atom"] = round(1000 * float(np.mean(e)), 3)
        out[f"{split}_forces_mae_meV_A"] = round(1000 * float(np.mean(f)), 3)
        if s:
            out[f"{split}_stress_mae_meV_A3"] = round(1000 * float(np.mean(s)), 3)
    return out


def train_package(dataset_xyz: str | Path, arch: str, out: str | Path, preset: str = "small",
                  workdir: str | Path | None = None, label: str | None = None, label_source: str = "user",
                  functional: str = "unknown", r_max: float = 5.0, model_dtype: str = "float64",
                  timeout: float | None = None, **train_kwargs) -> ModelSpec:
    """Train MACE on `dataset_xyz` in the MACE environment, export it for LAMMPS to `out` (.mace.pt) with a
    sidecar JSON (errors on the held-out frames and a training subset, measured with MACE's calculator)."""
    if arch != "mace":
        raise ValueError(f"the MACE trainer trains arch 'mace', not {arch!r}")
    out = Path(out).resolve()
    if not out.name.endswith(mace.COMPILED_SUFFIX):
        raise ValueError(f"a MACE export's name must end with {mace.COMPILED_SUFFIX}, got {out.name}")
    name = out.name.removesuffix(mace.COMPILED_SUFFIX)
    workdir = Path(workdir or out.parent / f"train-{name}").resolve()
    shutil.rmtree(workdir / "checkpoints", ignore_errors=True)  # run_train would resume a stale run
    train, valid = split_dataset(dataset_xyz, workdir)
    t0 = time.time()
    mace_env.run(["-m", "mace.cli.run_train", *train_command(workdir, name, preset, r_max, model_dtype,
                                                              **train_kwargs)],
                 workdir / "train.log", "MACE training (run_train)", timeout=timeout)
    train_s = time.time() - t0
    source = workdir / f"{name}{mace.SOURCE_SUFFIX}"
    if not source.is_file():
        raise RuntimeError(f"run_train finished but wrote no {source}; see {workdir / 'train.log'}")
    mace.compile_model(source, out=out, dtype=model_dtype)
    subset = train[:: max(1, len(train) // len(valid))][: len(valid)]
    info = {
        "label": label or name, "arch": arch, "preset": preset, "label_source": label_source,
        "functional": functional, "pair_style": backend(arch).pair_style, "compile_target": mace.EXPORT_TARGET,
        "type_names": mace.model_info(out)["type_names"], "r_max": float(r_max), "model_dtype": model_dtype,
        "training_set": {"path": Path(dataset_xyz).name, "n_frames": len(train) + len(valid)},
        "train_wall_s": round(train_s, 1),
        "errors": {"epochs": int(train_kwargs.get("max_epochs") or SCHEDULES[preset]["max_epochs"]),
                   **errors(source, {"train": subset, "val": valid}, workdir)},
        **{f"{k}_version": v for k, v in mace_env.versions().items() if k != "requirements"},
    }
    if label_source in LABEL_SOURCES:
        info["label_note"] = label_note(label_source)
    write_sidecar(out, info)
    return find_model(out)
