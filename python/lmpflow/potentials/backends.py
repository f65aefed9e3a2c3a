"""The one table of ML architectures lmpflow runs: a new architecture is one row here (plus the module that
inspects and compiles its files, and one C++ backend class in cpp/backends/).

Each row says which LAMMPS pair style runs the architecture (always ``lmpflow/<arch>``: the plugin registers
that name and in.liPSCl builds it from ``-var arch``), which graph layout that style builds (the C++
side, cpp/graph/: "periodic" = owned atoms with integer image shifts, one MPI rank; "ghost" = owned plus ghost
atoms, any rank count), which lmpflow module reads and compiles its files, the compile target that module
takes, and the file suffixes of compiled models and of sources that must be compiled first.
"""
from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from types import ModuleType


class ModelFileError(ValueError):
    """A model file is missing, unreadable or not a model of a known architecture."""


@dataclasses.dataclass(frozen=True)
class Backend:
    arch: str
    pair_style: str
    layout: str
    module: str            # provides model_info(path), arch_of(source), compile_model(source, target, device, out)
                           # and compile_key(source, target, device) (the name compile_model gives its output)
    compile_target: str
    compiled_suffixes: tuple[str, ...]
    source_suffixes: tuple[str, ...]

    def files(self) -> ModuleType:
        """The module that inspects and compiles this architecture's files (imported on first use)."""
        return importlib.import_module(self.module)


_NEQUIP_FILES = dict(module="lmpflow.potentials.nequip", compiled_suffixes=(".nequip.pt2", ".nequip.pth"),
                     source_suffixes=(".nequip.zip", ".ckpt"))

BACKENDS: dict[str, Backend] = {b.arch: b for b in (
    Backend("nequip", "lmpflow/nequip", "periodic", compile_target="pair_nequip", **_NEQUIP_FILES),
    Backend("allegro", "lmpflow/allegro", "ghost", compile_target="pair_allegro", **_NEQUIP_FILES),
)}

assert all(b.pair_style == f"lmpflow/{b.arch}" for b in BACKENDS.values())
ARCHS = tuple(BACKENDS)
PAIR_STYLES = {b.arch: b.pair_style for b in BACKENDS.values()}
COMPILE_TARGETS = {b.arch: b.compile_target for b in BACKENDS.values()}
COMPILED_SUFFIXES = tuple(dict.fromkeys(s for b in BACKENDS.values() for s in b.compiled_suffixes))
SOURCE_SUFFIXES = tuple(dict.fromkeys(s for b in BACKENDS.values() for s in b.source_suffixes))


def backend(arch: str) -> Backend:
    """The row of `arch` (raises ValueError listing the known ones)."""
    if arch not in BACKENDS:
        raise ValueError(f"unknown architecture {arch!r}; lmpflow runs {list(ARCHS)}")
    return BACKENDS[arch]


def for_pair_style(pair_style: str) -> Backend:
    """The row whose LAMMPS pair style is `pair_style`."""
    for b in BACKENDS.values():
        if b.pair_style == pair_style:
            return b
    raise ValueError(f"{pair_style!r} is not an lmpflow pair style; use one of {sorted(PAIR_STYLES.values())}")


def files_module(path: str | Path) -> ModuleType:
    """The module that reads the model file `path`, chosen by its suffix (compiled or source)."""
    name = Path(path).name
    for b in BACKENDS.values():
        if name.endswith(b.compiled_suffixes + b.source_suffixes):
            return b.files()
    raise ModelFileError(f"{path}: unknown model file type; not a model file lmpflow knows (compiled: {list(COMPILED_SUFFIXES)}; to be "
                     f"compiled first: {list(SOURCE_SUFFIXES)})")


def model_info(path: str | Path) -> dict:
    """Metadata of a compiled model file, from the module of its format: type_names, r_max (Å), target (the
    architecture, a key of BACKENDS), pair_style, ... (see e.g. `lmpflow.potentials.nequip.model_info`)."""
    if not Path(path).is_file():
        raise ModelFileError(f"model file {path} does not exist")
    return files_module(path).model_info(path)
