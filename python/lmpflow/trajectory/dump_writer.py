"""``write_dump``: a LAMMPS ``dump custom`` text file from known unwrapped positions
(what the tests read back, and a way to hand trajectories to other tools)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .dump_format import box_lines

_POSITION_COLUMNS = {"unwrapped": ["xu", "yu", "zu"], "wrapped": ["x", "y", "z"],
                     "scaled": ["xs", "ys", "zs"], "scaled_unwrapped": ["xsu", "ysu", "zsu"]}


def write_dump(
    path: str | os.PathLike,
    positions: np.ndarray,
    cells: np.ndarray,
    *,
    origins: np.ndarray | None = None,
    ids: np.ndarray | None = None,
    elements: Sequence[str] | None = None,
    types: np.ndarray | None = None,
    timesteps: np.ndarray | None = None,
    style: str = "unwrapped",
    image_flags: bool = False,
    element_column: bool = True,
    type_column: bool = True,
    shuffle: bool = False,
    seed: int = 0,
    float_format: str = "%.12g",
) -> Path:
    """Write a LAMMPS ``dump custom`` text file from unwrapped positions.

    Parameters
    ----------
    positions : (n_frames, n_atoms, 3) unwrapped Cartesian positions, Å.
    cells : (3, 3) or (n_frames, 3, 3) lattice vectors as rows, Å; must be
        LAMMPS-restricted (lower triangular).  Per-frame cells give an NPT dump.
    origins : (3,) or (n_frames, 3) box origins, Å (default 0).
    style : "unwrapped" (``xu yu zu``), "wrapped" (``x y z``), "scaled"
        (``xs ys zs``) or "scaled_unwrapped" (``xsu ysu zsu``).
    image_flags : also write ``ix iy iz`` (image counts of the wrapped position,
        following LAMMPS: unwrapped = wrapped + ix·a + iy·b + iz·c).
    shuffle : write atoms in a different random order in every frame, as a
        multi-processor LAMMPS run does.
    float_format : printf format of coordinates (LAMMPS' default is ``%g``).

    A ``.gz`` suffix writes a gzip-compressed file.  Returns the path.
    """
    pos = np.asarray(positions, dtype=np.float64)
    n_frames, n_atoms, _ = pos.shape
    cells = np.broadcast_to(np.asarray(cells, float), (n_frames, 3, 3))
    origins = np.broadcast_to(np.zeros(3) if origins is None else np.asarray(origins, float),
                              (n_frames, 3))
    ids = np.arange(1, n_atoms + 1) if ids is None else np.asarray(ids)
    elements = np.array(["X"] * n_atoms if elements is None else list(elements))
    if types is None:
        names = list(dict.fromkeys(elements.tolist()))
        types = np.array([names.index(e) + 1 for e in elements])
    timesteps = np.arange(n_frames) if timesteps is None else np.asarray(timesteps)
    if style not in _POSITION_COLUMNS:
        raise ValueError(f"unknown style {style!r}")
    cols = (["id"] + (["type"] if type_column else []) + (["element"] if element_column else [])
            + _POSITION_COLUMNS[style] + (["ix", "iy", "iz"] if image_flags else []))
    labels = _labels(ids, types if type_column else None, elements if element_column else None)
    rng = np.random.default_rng(seed)
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as fh:
        for k in range(n_frames):
            order = rng.permutation(n_atoms) if shuffle else np.arange(n_atoms)
            fh.write(f"ITEM: TIMESTEP\n{int(timesteps[k])}\nITEM: NUMBER OF ATOMS\n{n_atoms}\n")
            fh.write(box_lines(cells[k], origins[k], float_format))
            fh.write("ITEM: ATOMS " + " ".join(cols) + "\n")
            fh.write(_atom_lines(pos[k], cells[k], origins[k], style, image_flags, labels, order,
                                 float_format))
    return path


def _labels(ids: np.ndarray, types: np.ndarray | None, elements: np.ndarray | None) -> list[str]:
    """The leading fields of each atom's line: id, then type and element if written."""
    return [" ".join([str(int(ids[i]))] + ([] if types is None else [str(int(types[i]))])
                     + ([] if elements is None else [str(elements[i])]))
            for i in range(len(ids))]


def _atom_lines(pos: np.ndarray, cell: np.ndarray, origin: np.ndarray, style: str,
                image_flags: bool, labels: list[str], order: np.ndarray, ff: str) -> str:
    """Atom lines of one frame, in ``order``; ``labels`` hold each atom's id/type/element."""
    frac = (pos - origin) @ np.linalg.inv(cell)
    img = np.floor(frac)
    wfrac = frac - img
    if style == "unwrapped":
        xyz = pos
    elif style == "wrapped":
        xyz = origin + wfrac @ cell
    elif style == "scaled":
        xyz = wfrac
    else:
        xyz = frac
    rows = []
    for i in order:
        parts = [labels[i]] + [ff % v for v in xyz[i]]
        if image_flags:
            parts += [str(int(v)) for v in img[i]]
        rows.append(" ".join(parts) + " \n")  # LAMMPS ends lines with a space
    return "".join(rows)
