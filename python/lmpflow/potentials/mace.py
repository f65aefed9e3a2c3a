"""MACE's model files: inspect LAMMPS exports, export trained models (cached), MACE's own reference numbers.

Files: ``*.model`` is a MACE model as mace-torch trains it (a pickled torch module: opening it needs mace-torch,
so only the MACE environment does, see `lmpflow.potentials.mace_env`); ``*.mace.pt`` (or mace-torch's own name
``*-lammps.pt``) is its LAMMPS export, the TorchScript ``LAMMPS_MACE`` wrapper, which runs on any CPU or GPU
without mace-torch: plain torch reads its metadata here and the plugin's libtorch runs it. The export takes a
mask of the owned atoms, so `pair_style lmpflow/mace` runs it on one rank (periodic graph) and on many
(deep_ghost graph: ghosts out to num_interactions x r_max).
"""
from __future__ import annotations

import contextlib
import hashlib
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from lmpflow._host import cache_dir, file_hash, file_lock, publish, say
from lmpflow.potentials import mace_env
from lmpflow.potentials.backends import PAIR_STYLES, TARGET_LAYOUTS, ModelFileError, ranks

SOURCE_SUFFIX = ".model"
COMPILED_SUFFIX = ".mace.pt"
EXPORT_TARGET = "lammps_mace"
# what mace-torch's TorchScript export of LAMMPS_MACE holds
_EXPORT_CODE = "mace/calculators/lammps_mace"


def model_info(path: str | Path) -> dict:
    """Metadata of a MACE LAMMPS export: type_names (element symbols in the model's order), num_types, r_max
    (Å), model_dtype, target ("mace"), pair_style, compile_target, layouts, ranks ("any"), num_layers
    (interactions), ghost_shell_A (num_layers x r_max: the deep_ghost shell before the skin), raw, path."""
    import torch
    from ase.data import chemical_symbols

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise ModelFileError(f"{path}: the model file is damaged (entry {bad} fails its CRC check): "
                                     "export it again or copy it again")
            names = zf.namelist()
    except zipfile.BadZipFile as exc:
        raise ModelFileError(f"{path} is corrupt or not a TorchScript file ({exc})") from exc
    if not any(_EXPORT_CODE in n for n in names):
        raise ModelFileError(f"{path} is not a MACE model exported for LAMMPS (no LAMMPS_MACE code inside): "
                             "export the trained .model with lmpflow.compile_model")
    try:
        model = torch.jit.load(str(path), map_location="cpu")
        z = [int(v) for v in model.atomic_numbers.tolist()]
        r_max = float(model.r_max)
        layers = int(model.num_interactions)
        dtype = str(model.r_max.dtype).removeprefix("torch.")
    except Exception as exc:  # torch raises RuntimeError/AttributeError variants for foreign files
        raise ModelFileError(f"{path}: cannot read the MACE export's atomic_numbers/r_max/num_interactions "
                             f"({exc}); export it again with lmpflow.compile_model") from exc
    layouts = list(TARGET_LAYOUTS[EXPORT_TARGET])
    return {
        "path": str(path), "type_names": [chemical_symbols[k] for k in z], "num_types": len(z), "r_max": r_max,
        "per_edge_type_cutoff": None, "model_dtype": dtype, "target": "mace", "pair_style": PAIR_STYLES["mace"],
        "compile_target": EXPORT_TARGET, "layouts": layouts, "ranks": ranks(layouts), "num_layers": layers,
        "ghost_shell_A": layers * r_max, "raw": {"atomic_numbers": z},
    }


def arch_of(src: Path) -> str:
    return "mace"


def compile_key(src: str | Path, target: str = EXPORT_TARGET, device: str = "cpu", dtype: str = "float64") -> str:
    """Cache key of an export: source hash + dtype + the MACE environment's torch and mace versions (the
    TorchScript file is the same for every device and CPU)."""
    v = mace_env.versions()
    text = f"{file_hash(Path(src))}|{target}|{dtype}|torch={v.get('torch')}|mace={v.get('mace')}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def compile_model(src: str | Path, target: str | None = None, device: str = "cpu", out: str | Path | None = None,
                  dtype: str = "float64", timeout: float | None = 1800) -> Path:
    """Export a trained MACE `.model` for LAMMPS (`.mace.pt`, TorchScript) in the MACE environment (made on
    first use). Without `out` the export goes to the cache, named <stem>-<key>.mace.pt, and is reused."""
    src = Path(src).resolve()
    if not src.is_file():
        raise ModelFileError(f"model source {src} does not exist")
    if src.name.endswith((COMPILED_SUFFIX, "-lammps.pt")):
        raise ValueError(f"{src} is already exported for LAMMPS; give pair_style lmpflow/mace that file")
    if target not in (None, EXPORT_TARGET):
        raise ValueError(f"MACE models have one LAMMPS target, {EXPORT_TARGET!r}; got {target!r}")
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    mace_env.python()  # the key names the environment's versions
    stem = src.name.removesuffix(SOURCE_SUFFIX)
    if out is None:
        out = cache_dir() / f"{stem}-{compile_key(src, EXPORT_TARGET, device, dtype)}{COMPILED_SUFFIX}"
    out = Path(out).resolve()
    if not out.name.endswith(COMPILED_SUFFIX):
        raise ValueError(f"exported MACE model name must end with {COMPILED_SUFFIX}, got {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.is_file():
        return out
    # concurrent callers export into the cache once (a lock file there); a named `out` is simply replaced
    lock = file_lock(out.with_name(out.name + ".lock"), f"another process is exporting {src.name}; waiting for "
                     "it") if out.parent == cache_dir() else contextlib.nullcontext()
    with lock:
        if out.is_file():
            return out
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=".export-", dir=out.parent) as tmpdir:
            tmp = Path(tmpdir) / out.name
            mace_env.worker(["export", str(src), str(tmp), "--dtype", dtype], Path(tmpdir) / "export.log",
                            f"MACE export of {src.name}", timeout=timeout)
            model_info(tmp)  # refuse to publish a broken file
            publish(tmp, out)
        say(f"lmpflow: exported {src.name} for LAMMPS in {time.monotonic() - t0:.0f} s -> {out}")
    return out


def reference_path(model: str | Path) -> Path:
    """Where a shipped MACE export keeps MACE's own numbers on fixed structures (beside it)."""
    model = Path(model)
    return model.with_name(model.name.removesuffix(COMPILED_SUFFIX) + ".reference.npz")


def write_reference(source: str | Path, frames: list, out: str | Path, dtype: str = "float64") -> Path:
    """MACE's own ASE calculator on `frames` (run in the MACE environment) saved with the frames themselves:
    n_frames, and per frame k numbers_k, cell_k (Å), positions_k (Å), energy_eV[k], forces_eV_A_k,
    stress_eV_A3[k] (ASE Voigt order). The pair style's tests compare LAMMPS against these."""
    out = Path(out)
    structures = {"n_frames": np.array(len(frames))}
    for k, atoms in enumerate(frames):
        structures.update({f"numbers_{k}": atoms.numbers, f"cell_{k}": atoms.cell.array,
                           f"positions_{k}": atoms.positions})
    with tempfile.TemporaryDirectory(prefix=".reference-", dir=out.parent) as tmpdir:
        frames_file, result = Path(tmpdir) / "frames.npz", Path(tmpdir) / "mace.npz"
        np.savez(frames_file, **structures)
        mace_env.worker(["reference", str(source), str(frames_file), str(result), "--dtype", dtype],
                        Path(tmpdir) / "reference.log", f"MACE reference of {Path(source).name}")
        tmp = Path(tmpdir) / out.name
        np.savez_compressed(tmp, **structures, **np.load(result))
        publish(tmp, out)
    return out


def read_reference(path: str | Path) -> list:
    """The frames of a reference file as ASE atoms carrying MACE's energy, forces and stress."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    data = np.load(path)
    frames = []
    for k in range(int(data["n_frames"])):
        atoms = Atoms(numbers=data[f"numbers_{k}"], positions=data[f"positions_{k}"], cell=data[f"cell_{k}"],
                      pbc=True)
        atoms.calc = SinglePointCalculator(atoms, energy=float(data["energy_eV"][k]),
                                           forces=data[f"forces_eV_A_{k}"], stress=data["stress_eV_A3"][k])
        frames.append(atoms)
    return frames
