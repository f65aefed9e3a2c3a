"""Atom identity across frames: the id order every frame is sorted into, and the species.

The first frame fixes the atoms (ids) and their types; every later frame must hold the
same atoms with the same types, in any order (multi-processor runs shuffle them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dump_format import Layout
from .trajectory import DumpFormatError


class AtomIndex:
    """Sorting of each frame's atom rows by id, and the checks that atoms keep their identity."""

    def __init__(self, path: Path, first_ids: np.ndarray):
        self.path = path
        self.ids = np.sort(first_ids).astype(np.int64)
        if np.unique(self.ids).size != self.ids.size:
            raise DumpFormatError(f"{path}: duplicate atom ids in the first frame")
        self.types: np.ndarray | None = None  # per atom, sorted by id (as parsed: float64)

    def order(self, ids: np.ndarray, frames: np.ndarray,
              timesteps: np.ndarray) -> np.ndarray | None:
        """Flat row order that sorts the (frames·atoms) rows by id within each frame;
        None when they already are (serial LAMMPS runs write atoms in id order)."""
        nf, na = len(frames), self.ids.size
        ids = ids.reshape(nf, na)
        if np.array_equal(ids, np.broadcast_to(self.ids, ids.shape)):
            return None
        order = np.argsort(ids, axis=1, kind="stable")
        order += (np.arange(nf) * na)[:, None]
        order = order.ravel()
        sorted_ids = ids.ravel()[order].reshape(nf, na)
        bad = np.flatnonzero((sorted_ids != self.ids).any(axis=1))
        if bad.size:
            f = int(bad[0])
            got = set(sorted_ids[f].astype(np.int64).tolist())
            ref = set(self.ids.tolist())
            raise DumpFormatError(
                f"{self.path}: frame {frames[f]}, timestep {timesteps[f]}: atom ids differ from "
                f"the first frame (new: {sorted(got - ref)[:10]}, missing: "
                f"{sorted(ref - got)[:10]}); atoms appearing/disappearing are not supported")
        return order

    def check_types(self, types: np.ndarray, order: np.ndarray | None, frames: np.ndarray,
                    timesteps: np.ndarray) -> None:
        """Species are taken from the first frame: every frame must agree."""
        types = (types if order is None else types[order]).reshape(len(frames), self.ids.size)
        if self.types is None:
            self.types = types[0].copy()
        if not np.array_equal(types, np.broadcast_to(self.types, types.shape)):
            f, a = np.argwhere(types != self.types)[0]
            raise DumpFormatError(
                f"{self.path}: frame {frames[f]}, timestep {timesteps[f]}: atom id "
                f"{self.ids[a]} changed type from {self.types[a]:.0f} to {types[f, a]:.0f}; "
                "atoms changing species (e.g. fix atom/swap) are not supported")


def gather_xyz(cols: list[np.ndarray], order: np.ndarray | None, n_frames: int, n_atoms: int,
               out: np.ndarray | None = None) -> np.ndarray:
    """(frames, atoms, 3) array of three columns, rows picked by ``order`` if given;
    written into ``out`` (a (frames, atoms, 3) float64 array) when given."""
    n = n_frames * n_atoms
    dst = np.empty((n, 3)) if out is None else out.reshape(n, 3)
    for j, c in enumerate(cols):
        dst[:, j] = c if order is None else c[order]
    return dst.reshape(n_frames, n_atoms, 3)


def atom_labels(layout: Layout, first_atoms: list[list[bytes]], ids_ref: np.ndarray,
                type_to_element: dict | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Element names and types per atom (sorted by id) from the first frame's text."""
    cols = layout.columns
    ids = np.array([int(r[cols.index("id")]) for r in first_atoms])
    order = np.argsort(ids)
    types = None
    if "type" in cols:
        types = np.array([int(r[cols.index("type")]) for r in first_atoms])[order]
    if "element" in cols:
        elements = np.array([r[cols.index("element")].decode() for r in first_atoms])[order]
    elif types is not None:
        mapping = {int(k): v for k, v in (type_to_element or {}).items()}
        elements = np.array([mapping.get(int(t), str(int(t))) for t in types])
    else:
        elements = np.array(["X"] * len(first_atoms))
    if not np.array_equal(ids[order], ids_ref):
        raise DumpFormatError("internal: first-frame ids do not match")
    return elements.astype(str), types
