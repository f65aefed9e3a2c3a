"""The models lmpflow ships and how a model is named: a shipped label or a file, each with its sidecar.

A model source (e.g. ``nequip-chgnet-pbe.nequip.zip``) has a JSON sidecar beside it (``nequip-chgnet-pbe.json``:
architecture, label source, functional it stands in for, training-set size, validation errors). The shipped
models live in ``lmpflow/data/models``; the tiny pair-style test models in its ``test/`` folder.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from lmpflow._host import atomic_write_text
from lmpflow.potentials.backends import (
    COMPILED_SUFFIXES,
    SOURCE_SUFFIXES,
    ModelFileError,
    backend,
    files_module,
    model_info,
)

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "models"
TEST_MODEL_DIR = DATA_DIR / "test"
DEFAULT_MODEL_LABEL = "nequip-chgnet-pbe"
#: ZBL core (inner, outer radius in Å) under the shipped models in lmpflow's MD: they were trained without
#: short-range repulsion, so atoms pushed together fall into an unphysical well (two Li 0.05 Å apart sit eV
#: below the crystal). Zero beyond 1.5 Å, far inside Li6PS5Cl's shortest bond (P-S 2.05 Å; the shipped
#: models' 4 ps check runs at 900 K never brought two atoms closer than 1.83 Å), so it changes nothing at
#: physical distances.
SHIPPED_ZBL_CORE_A = (1.0, 1.5)


@dataclass(frozen=True)
class ModelSpec:
    """One model: a file plus what it is. `label` is unique (e.g. "allegro-chgnet-pbe")."""

    path: Path
    label: str
    arch: str
    functional: str
    label_source: str
    metadata: dict = field(default_factory=dict, compare=False, hash=False)


def _base_name(path: Path) -> str:
    name = path.name
    for suffix in SOURCE_SUFFIXES + COMPILED_SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def sidecar_path(source: str | Path) -> Path:
    """Where the JSON sidecar of a model source lives (beside it, same base name)."""
    source = Path(source)
    return source.with_name(_base_name(source) + ".json")


def sidecar(source: str | Path) -> dict:
    """The JSON sidecar of a model source (label source, arch, errors...), or {} if there is none."""
    side = sidecar_path(source)
    return json.loads(side.read_text()) if side.is_file() else {}


def write_sidecar(source: Path, info: dict) -> Path:
    """Write the model's JSON sidecar next to its source (atomic)."""
    return atomic_write_text(sidecar_path(source), json.dumps(info, indent=2, sort_keys=True) + "\n")


def _spec_from_source(path: Path) -> ModelSpec:
    meta = sidecar(path)
    return ModelSpec(path=path, label=meta.get("label") or _base_name(path),
                     arch=meta.get("arch") or files_module(path).arch_of(path),
                     functional=meta.get("functional", "unknown"), label_source=meta.get("label_source", "unknown"),
                     metadata=meta)


def shipped_models(test: bool = False) -> list[ModelSpec]:
    """Models shipped with lmpflow (`test=True`: the tiny, inaccurate pair-style test models): sources compiled
    on first use (nequip's machine code is made for each CPU) and portable files shipped ready to run (MACE's
    TorchScript exports)."""
    folder = TEST_MODEL_DIR if test else DATA_DIR
    return [_spec_from_source(p) for p in sorted(folder.iterdir()) if p.name.endswith(SOURCE_SUFFIXES + COMPILED_SUFFIXES)]


def find_model(name_or_path: str | Path, test: bool = False) -> ModelSpec:
    """A shipped model by label (e.g. "allegro-chgnet-pbe") or any model source by path."""
    path = Path(name_or_path)
    if path.is_file():
        return _spec_from_source(path.resolve())
    specs = shipped_models(test=test)
    for spec in specs:
        if spec.label == str(name_or_path):
            return spec
    raise ModelFileError(f"no model file or shipped model named {name_or_path!r}; shipped: "
                         f"{[s.label for s in specs] or 'none (run scripts/make_models.py)'}")


def compiled_model(name_or_path: str | Path, target: str | None = None, device: str = "cpu") -> Path:
    """The compiled model of a shipped label or a model source (compiled on first use, cached); a compiled
    file is checked and returned as it is."""
    path = Path(name_or_path)
    if path.is_file() and path.name.endswith(COMPILED_SUFFIXES):
        model_info(path)
        return path.resolve()
    spec = find_model(name_or_path)
    if spec.path.name.endswith(COMPILED_SUFFIXES):  # shipped ready to run
        return spec.path
    b = backend(spec.arch)
    return b.files().compile_model(spec.path, target=target or b.compile_target, device=device)


def shipped_source(model: str | Path) -> ModelSpec | None:
    """The shipped model that `model` is (its source, or a file `compile_model` made from it), else None."""
    path = Path(model).resolve()
    for spec in shipped_models() + shipped_models(test=True):
        if path == spec.path:
            return spec
        # compile_model names its outputs <base>-<key>: recompute the key only for a matching base name
        if path.name.startswith(_base_name(spec.path) + "-") and path.name.endswith(COMPILED_SUFFIXES):
            b = backend(spec.arch)
            device = model_info(path)["raw"].get("AOTI_DEVICE_KEY", "cpu") or "cpu"
            for target in b.targets:
                key = b.files().compile_key(spec.path, target, device)
                if path.name == f"{_base_name(spec.path)}-{key}{b.compiled_suffixes[0]}":
                    return spec
    return None


def default_core(model: str | Path) -> tuple[float, float] | None:
    """The ZBL core (inner, outer radius in Å) lmpflow's MD puts under `model` by default: the shipped models'
    (SHIPPED_ZBL_CORE_A), none for any other model (which may have its own repulsion, or other chemistry)."""
    return SHIPPED_ZBL_CORE_A if shipped_source(model) is not None else None


def default_model() -> Path:
    """The compiled (cached) default shipped model (DEFAULT_MODEL_LABEL)."""
    return compiled_model(DEFAULT_MODEL_LABEL)
