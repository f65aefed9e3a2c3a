"""What LAMMPS computes forces with, as one `Potential` object, and the one resolver that makes it.

A Potential is either an ML model (a compiled file run by an lmpflow pair style; pair style and species come
from the model's metadata) or explicit classical pair lines (a stand-in usable without the plugin). Both reach
LAMMPS through the same input-script variables and the same `lammps_pair_lines()`. `as_potential` turns
everything a user may call a potential (a Potential, a model or pair-line file, a shipped model's label, a model
source to compile, a ModelSpec, a list of pair lines) into one.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Mapping, Sequence

from ase.data import atomic_numbers

from lmpflow.potentials.backends import COMPILED_SUFFIXES, PAIR_STYLES, SOURCE_SUFFIXES, for_pair_style, model_info
from lmpflow.system.structures import SPECIES

#: Name of a classical potential's include file in a run directory.
POTENTIAL_NAME = "potential.lmp"
# Compiled-model look-alikes (a plain .pt2 is refused by model_info with a message, not read as pair lines).
_LOOKS_COMPILED = (*COMPILED_SUFFIXES, ".pt2", ".pth")


@dataclasses.dataclass(frozen=True)
class Potential:
    """What LAMMPS needs to compute forces, plus the labels the sweep tables carry.

    Either `model` (path of a compiled NequIP/Allegro model; `pair_style` is "lmpflow/nequip" or
    "lmpflow/allegro" from its metadata) or `pair_lines` (classical LAMMPS pair_style/pair_coeff
    commands written for types numbered in `species` order). `species` is the LAMMPS type order:
    type i+1 is species[i]. `label` names the potential in tables (unique within a sweep). `core`: for a
    model, the (inner, outer) radii in Å of a ZBL repulsion added under it (pair_style hybrid/overlay ... zbl),
    or None; `from_model` gives the shipped models one by default (registry.SHIPPED_ZBL_CORE_A).
    """

    species: tuple[str, ...]
    label: str
    model: str | None = None
    pair_style: str | None = None
    pair_lines: tuple[str, ...] = ()
    arch: str = "classical"
    functional: str = ""
    r_max_A: float | None = None
    device: str | None = None
    core: tuple[float, float] | None = None

    def __post_init__(self):
        if (self.model is None) == (not self.pair_lines):
            raise ValueError("a Potential needs exactly one of `model` (an ML model file) or `pair_lines`")
        if self.model is not None and self.pair_style not in PAIR_STYLES.values():
            raise ValueError(f"ML model {self.model}: pair_style must be one of {sorted(PAIR_STYLES.values())}, "
                             f"got {self.pair_style!r}")
        if not self.species or len(set(self.species)) != len(self.species):
            raise ValueError(f"species must be distinct element names in type order, got {self.species!r}")
        unknown = [s for s in self.species if s not in atomic_numbers]
        if unknown:
            raise ValueError(f"species {unknown} are not chemical elements (species: {list(self.species)})")
        if self.core is not None:
            if self.model is None:
                raise ValueError("a ZBL core goes under an ML model; add a classical potential's own repulsion "
                                 "to its pair lines")
            inner, outer = (float(r) for r in self.core)
            if not 0 < inner < outer:
                raise ValueError(f"core={self.core}: give ZBL radii 0 < inner < outer in Å, or core=None")
            object.__setattr__(self, "core", (inner, outer))

    # -- constructors -------------------------------------------------------------------------------
    @classmethod
    def from_model(cls, path: str | os.PathLike, label: str | None = None, functional: str = "",
                   device: str | None = None, core: tuple[float, float] | None | str = "default") -> "Potential":
        """An ML model: pair style, species (type order) and cutoff from its metadata (`lmpflow.model_info`).
        core: ZBL (inner, outer) radii in Å, None for none, "default" for `registry.default_core` (the shipped
        models get one)."""
        path = Path(path).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"model file {path} does not exist; compile one with `nequip-compile` "
                                    "or use lmpflow.default_model()")
        info = model_info(path)
        species = tuple(info["type_names"])
        target = str(info.get("target", info["pair_style"].split("/")[-1]))
        if isinstance(core, str):
            if core != "default":
                raise ValueError(f"core={core!r}: give (inner, outer) radii in Å, None or 'default'")
            from lmpflow.potentials.registry import default_core

            core = default_core(path)
        return cls(species=species, label=label or _stem(path), model=str(path),
                   pair_style=str(info["pair_style"]), arch=target,
                   functional=functional or str(info.get("functional", "")),
                   r_max_A=float(info["r_max"]), device=device, core=core)

    @classmethod
    def classical(cls, pair_lines: str | Sequence[str], species: Sequence[str] = SPECIES,
                  label: str = "classical", functional: str = "") -> "Potential":
        """Explicit LAMMPS pair lines (e.g. a stand-in for tests or a published classical force field)."""
        if isinstance(pair_lines, str):
            pair_lines = pair_lines.splitlines()
        lines = tuple(ln.rstrip() for ln in pair_lines if ln.strip() and not ln.lstrip().startswith("#"))
        if not any(ln.split()[0] == "pair_style" for ln in lines):
            raise ValueError("classical pair lines need a `pair_style` command (and pair_coeff lines); got "
                             f"{list(lines)!r}")
        return cls(species=tuple(species), label=label, pair_lines=lines, functional=functional)

    @classmethod
    def from_file(cls, path: str | os.PathLike, species: Sequence[str] = SPECIES, label: str | None = None,
                  functional: str = "") -> "Potential":
        """A model file (by suffix: .nequip.pt2/.nequip.pth) or a file of classical LAMMPS pair lines."""
        path = Path(path)
        if path.name.endswith(_LOOKS_COMPILED):
            return cls.from_model(path, label=label, functional=functional)
        if not path.is_file():
            raise FileNotFoundError(f"potential file {path} does not exist")
        return cls.classical(path.read_text(), species=species, label=label or _stem(path),
                             functional=functional)

    # -- how the input script receives it -----------------------------------------------------------
    def script_vars(self) -> dict[str, str]:
        """`-var` settings of in.liPSCl that select this potential (see the script's header)."""
        v = {"species": " ".join(self.species)}
        if self.model is not None:
            v.update(model=self.model, arch=for_pair_style(self.pair_style).arch)
            if self.device:
                v["device"] = self.device
            if self.core is None:
                v["core"] = "none"
            else:
                v.update(core="zbl", core_inner=f"{self.core[0]:g}", core_outer=f"{self.core[1]:g}")
                v.update({f"Z_{s}": str(atomic_numbers[s]) for s in self.species})
        else:
            v["potential"] = POTENTIAL_NAME
        return v

    def lammps_pair_lines(self) -> list[str]:
        """The pair_style/pair_coeff commands this potential amounts to (types in `species` order)."""
        if self.model is None:
            return list(self.pair_lines)
        dev = f" device {self.device}" if self.device else ""
        if self.core is None:
            return [f"pair_style {self.pair_style}{dev}", f"pair_coeff * * {self.model} {' '.join(self.species)}"]
        inner, outer = self.core
        return [f"pair_style hybrid/overlay {self.pair_style}{dev} zbl {inner:g} {outer:g}",
                f"pair_coeff * * {self.pair_style} {self.model} {' '.join(self.species)}",
                # ZBL of each type with itself; mixed pairs follow from these
                *(f"pair_coeff {t} {t} zbl {atomic_numbers[s]} {atomic_numbers[s]}"
                  for t, s in enumerate(self.species, start=1))]

    def to_json(self) -> dict:
        """JSON-ready dict (tuples as lists); `from_json` inverts it."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_json(cls, d: Mapping) -> "Potential":
        d = dict(d)
        d["species"] = tuple(d["species"])
        d["pair_lines"] = tuple(d.get("pair_lines", ()))
        d["core"] = tuple(d["core"]) if d.get("core") else None
        return cls(**d)


def _stem(path: Path) -> str:
    name = path.name
    for suf in (*_LOOKS_COMPILED, ".lmp", ".in"):
        if name.endswith(suf):
            return name[: -len(suf)]
    return path.stem


def as_potential(spec, species: Sequence[str] = SPECIES) -> Potential:
    """The one resolver: a Potential from a Potential, a compiled-model or pair-line file, a shipped model's
    label, a model source (compiled on first use, cached), a ModelSpec (path, label, functional), or a list
    of classical LAMMPS pair lines. `species` is the LAMMPS type order of classical pair lines (ML models
    carry their own)."""
    if isinstance(spec, Potential):
        return spec
    if isinstance(spec, (list, tuple)) and all(isinstance(x, str) for x in spec):
        return Potential.classical(spec, species=species)
    if isinstance(spec, (str, os.PathLike)):
        p = Path(spec)
        if p.is_file() and not p.name.endswith(SOURCE_SUFFIXES):
            return Potential.from_file(p, species=species)
        from lmpflow.potentials.registry import find_model

        return as_potential(find_model(spec))
    path = getattr(spec, "path", None)
    if path is not None:
        if not str(path).endswith(COMPILED_SUFFIXES):
            from lmpflow.potentials.registry import compiled_model

            path = compiled_model(path)
        return Potential.from_model(path, label=getattr(spec, "label", None),
                                    functional=getattr(spec, "functional", "") or "")
    raise TypeError(f"cannot make a potential from {spec!r}: pass a Potential, a model file path, a ModelSpec "
                    "or a list of pair lines")
