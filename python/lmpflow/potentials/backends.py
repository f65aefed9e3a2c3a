"""The one table of ML architectures lmpflow runs: a new architecture is one row here (plus the module that
inspects and compiles its files, and one C++ backend class in cpp/backends/).

Each row says which LAMMPS pair style runs the architecture (always ``lmpflow/<arch>``: the plugin registers
that name and in.liPSCl builds it from ``-var arch``), which lmpflow module reads and compiles its files, the
compile targets that module takes, each with the graph layouts its files run in (first target = default), and
the file suffixes of compiled models and of sources that must be compiled first.

Graph layouts (the C++ side, cpp/graph/): "periodic" = owned atoms with integer image shifts, one MPI rank;
"ghost" = owned plus ghost atoms, any rank count, for strictly local models; "deep_ghost" = owned atoms plus
ghosts out to (message-passing layers) x cutoff with the energy summed over owned atoms, any rank count.
A compiled file fixes its layouts (they follow from its target); the pair style runs the first of them that
works on the run's rank count (`layout` keyword to choose), so the table lists the faster one first.
"""
from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from types import ModuleType


class ModelFileError(ValueError):
    """A model file is missing, unreadable or not a model of a known architecture."""


# layouts whose graph needs every atom on one MPI rank
ONE_RANK_LAYOUTS = ("periodic",)


@dataclasses.dataclass(frozen=True)
class Backend:
    arch: str
    pair_style: str
    module: str            # provides model_info(path), arch_of(source), compile_model(source, target, device, out)
                           # and compile_key(source, target, device) (the name compile_model gives its output)
    targets: dict = dataclasses.field(hash=False)  # compile target -> layouts its files run in (first: default)
    compiled_suffixes: tuple[str, ...] = ()
    source_suffixes: tuple[str, ...] = ()
    trainer: str = "lmpflow.potentials.training.trainers"  # provides train_package(dataset, arch, out, ...)

    @property
    def compile_target(self) -> str:
        """The default compile target."""
        return next(iter(self.targets))

    @property
    def layouts(self) -> tuple[str, ...]:
        """Every graph layout this architecture's pair style builds."""
        return tuple(dict.fromkeys(lay for lays in self.targets.values() for lay in lays))

    def files(self) -> ModuleType:
        """The module that inspects and compiles this architecture's files (imported on first use)."""
        return importlib.import_module(self.module)

    def training(self) -> ModuleType:
        """The module that trains this architecture (imported on first use; never at MD time)."""
        return importlib.import_module(self.trainer)


_NEQUIP_FILES = dict(module="lmpflow.potentials.nequip", compiled_suffixes=(".nequip.pt2", ".nequip.pth"),
                     source_suffixes=(".nequip.zip", ".ckpt"))

BACKENDS: dict[str, Backend] = {b.arch: b for b in (
    # lmpflow_nequip: lmpflow's own target (nequip_extension), one file for one rank and for many
    Backend("nequip", "lmpflow/nequip", targets={"lmpflow_nequip": ("periodic", "deep_ghost"),
                                                 "pair_nequip": ("periodic",)}, **_NEQUIP_FILES),
    Backend("allegro", "lmpflow/allegro", targets={"pair_allegro": ("ghost",)}, **_NEQUIP_FILES),
    # LAMMPS exports (TorchScript) are portable: shipped as they are, and made from .model files in the MACE
    # environment (potentials/mace_env.py)
    Backend("mace", "lmpflow/mace", module="lmpflow.potentials.mace", trainer="lmpflow.potentials.training.mace_trainer",
            targets={"lammps_mace": ("periodic", "deep_ghost")}, compiled_suffixes=(".mace.pt", "-lammps.pt"),
            source_suffixes=(".model",)),
)}

assert all(b.pair_style == f"lmpflow/{b.arch}" for b in BACKENDS.values())
ARCHS = tuple(BACKENDS)
PAIR_STYLES = {b.arch: b.pair_style for b in BACKENDS.values()}
COMPILE_TARGETS = {b.arch: b.compile_target for b in BACKENDS.values()}
TARGET_LAYOUTS = {target: layouts for b in BACKENDS.values() for target, layouts in b.targets.items()}
COMPILED_SUFFIXES = tuple(dict.fromkeys(s for b in BACKENDS.values() for s in b.compiled_suffixes))
SOURCE_SUFFIXES = tuple(dict.fromkeys(s for b in BACKENDS.values() for s in b.source_suffixes))


def backend(arch: str) -> Backend:
    """The row of `arch` (raises ValueError listing the known ones)."""
    if arch not in BACKENDS:
        raise ValueError(f"unknown architecture {arch!r}; lmpflow runs {list(ARCHS)}")
    return BACKENDS[arch]


def ranks(layouts) -> str:
    """"any" if one of `layouts` runs on any number of MPI ranks, else "1"."""
    return "any" if any(lay not in ONE_RANK_LAYOUTS for lay in layouts) else "1"


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
