"""The LAMMPS ``dump custom`` text format: frame headers, box bounds and the column layout.

Supported: columns ``id``, ``type`` and/or ``element``, and one of ``xu yu zu``,
``xsu ysu zsu``, ``x y z``, ``xs ys zs``, optionally with ``ix iy iz``; orthogonal,
restricted-triclinic (``xy xz yz``) and general-triclinic (``abc origin``) boxes.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Sequence

import numpy as np

from .trajectory import DumpFormatError

TIMESTEP_ITEM = b"ITEM: TIMESTEP"
HEADER_RE = re.compile(
    rb"ITEM: TIMESTEP[ \t]*\r?\n[ \t]*(-?\d+)[ \t]*\r?\n"
    rb"ITEM: NUMBER OF ATOMS[ \t]*\r?\n[ \t]*(\d+)[ \t]*\r?\n"
    rb"ITEM: BOX BOUNDS([^\n]*)\n([^\n]*)\n([^\n]*)\n([^\n]*)\n"
    rb"ITEM: ATOMS([^\n]*)\n"
)
POSITION_STYLES = (  # (columns, scaled, unwrapped), priority order: unwrapped first, then wrapped
    (("xu", "yu", "zu"), False, True),
    (("xsu", "ysu", "zsu"), True, True),
    (("x", "y", "z"), False, False),
    (("xs", "ys", "zs"), True, False),
)
IMAGE_COLUMNS = ("ix", "iy", "iz")


def parse_box(kind: bytes, lines: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Cell (rows a, b, c) and origin from the three ``BOX BOUNDS`` lines."""
    try:
        vals = [[float(v) for v in ln.split()] for ln in lines]
    except ValueError as exc:
        raise DumpFormatError(f"bad BOX BOUNDS line: {lines!r}") from exc
    words = kind.split()
    if b"abc" in words:  # general triclinic: "ax ay az ox" per line
        if any(len(v) != 4 for v in vals):
            raise DumpFormatError(f"bad general-triclinic BOX BOUNDS lines: {lines!r}")
        cell = np.array([v[:3] for v in vals])
        return cell, np.array([v[3] for v in vals])
    if b"xy" in words:  # restricted triclinic: bounds enclose the tilted box
        if any(len(v) != 3 for v in vals):
            raise DumpFormatError(f"bad triclinic BOX BOUNDS lines: {lines!r}")
        (xlob, xhib, xy), (ylob, yhib, xz), (zlo, zhi, yz) = vals
        xlo = xlob - min(0.0, xy, xz, xy + xz)
        xhi = xhib - max(0.0, xy, xz, xy + xz)
        ylo = ylob - min(0.0, yz)
        yhi = yhib - max(0.0, yz)
        cell = np.array([[xhi - xlo, 0, 0], [xy, yhi - ylo, 0], [xz, yz, zhi - zlo]], float)
        return cell, np.array([xlo, ylo, zlo])
    if any(len(v) < 2 for v in vals):
        raise DumpFormatError(f"bad BOX BOUNDS lines: {lines!r}")
    lo = np.array([v[0] for v in vals])
    return np.diag([v[1] - v[0] for v in vals]), lo


def box_lines(cell: np.ndarray, origin: np.ndarray, fmt: str) -> str:
    """LAMMPS ``BOX BOUNDS`` header for a restricted (lower-triangular) cell."""
    if abs(cell[0, 1]) + abs(cell[0, 2]) + abs(cell[1, 2]) > 1e-12 * np.abs(cell).max():
        raise ValueError("cell must be LAMMPS-restricted: a=(lx,0,0), b=(xy,ly,0), c=(xz,yz,lz)")
    lx, ly, lz = cell[0, 0], cell[1, 1], cell[2, 2]
    xy, xz, yz = cell[1, 0], cell[2, 0], cell[2, 1]
    xlo, ylo, zlo = origin
    f = fmt
    if xy == 0 and xz == 0 and yz == 0:
        return (f"ITEM: BOX BOUNDS pp pp pp\n{f % xlo} {f % (xlo + lx)}\n"
                f"{f % ylo} {f % (ylo + ly)}\n{f % zlo} {f % (zlo + lz)}\n")
    xlob = xlo + min(0.0, xy, xz, xy + xz)
    xhib = xlo + lx + max(0.0, xy, xz, xy + xz)
    ylob = ylo + min(0.0, yz)
    yhib = ylo + ly + max(0.0, yz)
    return (f"ITEM: BOX BOUNDS xy xz yz pp pp pp\n{f % xlob} {f % xhib} {f % xy}\n"
            f"{f % ylob} {f % yhib} {f % xz}\n{f % zlo} {f % (zlo + lz)} {f % yz}\n")


@dataclasses.dataclass
class Layout:
    """Column layout and per-atom data fixed by the first frame."""

    columns: list[str]
    n_atoms: int
    usecols: list[int]  # dump columns parsed per frame, ascending (pandas' output order)
    pos: dict[str, list[int]]  # "id", "x", "type", "img" -> indices into the parsed columns
    scaled: bool
    unwrapped: bool
    has_images: bool
    sep: str
    atoms_header: bytes
    min_frame_bytes: int  # lower bound on the atom text of one frame (2 bytes per field)

    @property
    def position_columns(self) -> list[str]:
        return [self.columns[self.usecols[j]] for j in self.pos["x"]]


def _position_style(columns: list[str]) -> tuple[tuple[str, ...], bool, bool]:
    for names, scaled, unwrapped in POSITION_STYLES:
        if all(n in columns for n in names):
            return names, scaled, unwrapped
    raise DumpFormatError(
        "dump has no complete set of position columns (need one of xu yu zu, xsu ysu zsu, "
        f"x y z, xs ys zs); columns are {columns}")


def layout_from_first_frame(columns: list[str], n_atoms: int, first_line: bytes,
                            atoms_header: bytes) -> Layout:
    if "id" not in columns:
        raise DumpFormatError(
            f"dump has no 'id' column (columns: {columns}); atoms cannot be matched between frames")
    names, scaled, unwrapped = _position_style(columns)
    has_images = all(c in columns for c in IMAGE_COLUMNS)
    if any(c in columns for c in IMAGE_COLUMNS) and not has_images:
        raise DumpFormatError(f"incomplete image-flag columns in {columns}")
    use_images = has_images and not unwrapped
    # Only these numeric columns are converted; the type column is parsed too so
    # that every frame can be checked to keep each atom's species (cheap: one
    # small integer per atom).
    wanted = {"id": ["id"], "x": list(names)}
    if "type" in columns:
        wanted["type"] = ["type"]
    if use_images:
        wanted["img"] = list(IMAGE_COLUMNS)
    usecols = sorted({columns.index(c) for cs in wanted.values() for c in cs})
    pos = {k: [usecols.index(columns.index(c)) for c in cs] for k, cs in wanted.items()}
    # LAMMPS separates fields by one space; user formats such as %20.15g pad with more.
    single = not (first_line.startswith((b" ", b"\t")) or b"  " in first_line
                  or b"\t" in first_line)
    return Layout(columns, n_atoms, usecols, pos, scaled, unwrapped, use_images,
                  " " if single else r"\s+", atoms_header, n_atoms * 2 * len(columns))
