"""Read and write LAMMPS text dumps (``dump custom``), with correct unwrapping.

Units follow LAMMPS ``units metal``: lengths in Å, timesteps in MD steps (the
caller supplies the step length in ps when computing transport properties).

The reader streams the file in chunks of whole frames (bounded memory), parses
the numeric atom lines with a compiled tokenizer (``liblmpflow_dump.so``, built
from ``cpp/dump_parser``; pandas' C tokenizer when it is not available), sorts
atoms by id, unwraps them and writes the positions straight into a ``.npy``
cache that is returned memory-mapped.  Supported:

* columns ``id``, ``type`` and/or ``element``, and one of ``xu yu zu``,
  ``xsu ysu zsu``, ``x y z``, ``xs ys zs``, optionally with ``ix iy iz``;
* orthogonal, restricted-triclinic (``xy xz yz``) and general-triclinic
  (``abc origin``) boxes, constant or changing per frame (NVT or NPT);
* plain and gzip-compressed files (``.gz``).

Unwrapping.  With a constant box the unwrapped position is ``w + n·H`` with
image counts ``n`` from ``ix iy iz`` or, when absent, accumulated from
minimum-image increments between consecutive frames (displacements must stay
below half a box length per frame).  With a changing box (NPT) the default is
the "toroidal" scheme of von Bülow, Bullerjahn & Hummer (J. Chem. Phys. 153,
021101, 2020): positions are accumulated from per-frame increments taken in
the current box, because LAMMPS' own ``x + ix·Lx(t)`` adds spurious jumps
``ix·ΔLx`` that inflate the MSD of fast diffusers.
"""

from __future__ import annotations

import collections
import ctypes
import dataclasses
import gzip
import io
import json
import os
import re
import warnings
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "DumpFormatError",
    "Trajectory",
    "native_parser_path",
    "read_dump",
    "write_dump",
]

_CACHE_VERSION = 1
_NPY_HEADER_BYTES = 128  # fixed-size .npy header, rewritten once the frame count is known
_BLOCK_BYTES = 32 * 1024 * 1024  # bytes of text parsed per chunk (bounded memory)

# The compiled tokenizer: found next to the package (wheel), through LMPFLOW_DUMP_LIB, or
# in the build folder of a source checkout.  LMPFLOW_DUMP_NATIVE=0 (or setting
# _NATIVE_ENABLED = False) forces the pandas tokenizer.
_NATIVE_LIB_NAME = "liblmpflow_dump.so"
_NATIVE_ABI = 1
_NATIVE_ENABLED = os.environ.get("LMPFLOW_DUMP_NATIVE", "1").strip().lower() not in (
    "0", "false", "no", "off")
_native_state: dict = {}

_HEADER_RE = re.compile(
    rb"ITEM: TIMESTEP[ \t]*\r?\n[ \t]*(-?\d+)[ \t]*\r?\n"
    rb"ITEM: NUMBER OF ATOMS[ \t]*\r?\n[ \t]*(\d+)[ \t]*\r?\n"
    rb"ITEM: BOX BOUNDS([^\n]*)\n([^\n]*)\n([^\n]*)\n([^\n]*)\n"
    rb"ITEM: ATOMS([^\n]*)\n"
)
_POSITION_STYLES = (  # priority order: unwrapped first, then wrapped
    (("xu", "yu", "zu"), False, True),
    (("xsu", "ysu", "zsu"), True, True),
    (("x", "y", "z"), False, False),
    (("xs", "ys", "zs"), True, False),
)


class DumpFormatError(ValueError):
    """The dump is malformed, truncated or changes its atoms between frames."""


@dataclasses.dataclass
class Trajectory:
    """Unwrapped atomic trajectory sorted by atom id.

    Attributes
    ----------
    positions : (n_frames, n_atoms, 3) float64, unwrapped Cartesian positions in Å
        (possibly a read-only ``np.memmap`` of the cache file).
    cells : (n_frames, 3, 3) float64, lattice vectors a, b, c as rows, Å.
    origins : (n_frames, 3) float64, box origin (xlo, ylo, zlo), Å.
    timesteps : (n_frames,) int64, MD step numbers from ``ITEM: TIMESTEP``.
    ids : (n_atoms,) int64, LAMMPS atom ids, ascending.
    elements : (n_atoms,) str, element names (``element`` column) or, without
        one, the type numbers as strings ("1", "2", ...).
    types : (n_atoms,) int64 or None, LAMMPS atom types.
    source : path of the dump the trajectory came from, if any.
    """

    positions: np.ndarray
    cells: np.ndarray
    origins: np.ndarray
    timesteps: np.ndarray
    ids: np.ndarray
    elements: np.ndarray
    types: np.ndarray | None = None
    source: str | None = None

    @property
    def n_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_atoms(self) -> int:
        return int(self.positions.shape[1])

    @property
    def volumes_A3(self) -> np.ndarray:
        """Cell volume of every frame in Å³."""
        return np.abs(np.linalg.det(self.cells))

    @property
    def species(self) -> list[str]:
        """Distinct species names in order of first appearance."""
        return list(dict.fromkeys(self.elements.tolist()))

    def indices(self, species: str | Sequence[str]) -> np.ndarray:
        """Atom indices (columns of ``positions``) of one or several species."""
        names = [species] if isinstance(species, str) else list(species)
        unknown = set(names) - set(self.species)
        if unknown:
            raise KeyError(f"species {sorted(unknown)} not in trajectory (has {self.species})")
        return np.flatnonzero(np.isin(self.elements, names))

    def frame_interval_steps(self) -> int:
        """MD steps between frames; raises if frames are not evenly spaced."""
        if self.n_frames < 2:
            raise ValueError("need at least two frames for a frame interval")
        d = np.diff(self.timesteps)
        if np.any(d != d[0]) or d[0] <= 0:
            raise ValueError(
                "frames are not evenly spaced in TIMESTEP "
                f"(intervals {np.unique(d)[:5]}); MSD with all time origins needs a uniform grid"
            )
        return int(d[0])

    def slice_frames(self, start: int | None = None, stop: int | None = None) -> "Trajectory":
        """View of a contiguous range of frames (no copy)."""
        s = slice(start, stop)
        return dataclasses.replace(
            self, positions=self.positions[s], cells=self.cells[s],
            origins=self.origins[s], timesteps=self.timesteps[s],
        )


# --------------------------------------------------------------------------- #
# Box handling
# --------------------------------------------------------------------------- #

def _parse_box(kind: bytes, lines: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
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


def _box_lines(cell: np.ndarray, origin: np.ndarray, fmt: str) -> str:
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


# --------------------------------------------------------------------------- #
# Writer (used by the tests to produce dumps from known trajectories)
# --------------------------------------------------------------------------- #

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
    origins = np.broadcast_to(
        np.zeros(3) if origins is None else np.asarray(origins, float), (n_frames, 3))
    ids = np.arange(1, n_atoms + 1) if ids is None else np.asarray(ids)
    elements = np.array(["X"] * n_atoms if elements is None else list(elements))
    if types is None:
        names = list(dict.fromkeys(elements.tolist()))
        types = np.array([names.index(e) + 1 for e in elements])
    timesteps = np.arange(n_frames) if timesteps is None else np.asarray(timesteps)
    cols = ["id"] + (["type"] if type_column else []) + (["element"] if element_column else [])
    pos_cols = {"unwrapped": ["xu", "yu", "zu"], "wrapped": ["x", "y", "z"],
                "scaled": ["xs", "ys", "zs"], "scaled_unwrapped": ["xsu", "ysu", "zsu"]}
    if style not in pos_cols:
        raise ValueError(f"unknown style {style!r}")
    cols += pos_cols[style] + (["ix", "iy", "iz"] if image_flags else [])
    rng = np.random.default_rng(seed)
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    ff = float_format
    with opener(path, "wt") as fh:
        for k in range(n_frames):
            inv = np.linalg.inv(cells[k])
            frac = (pos[k] - origins[k]) @ inv
            img = np.floor(frac)
            wfrac = frac - img
            if style == "unwrapped":
                xyz = pos[k]
            elif style == "wrapped":
                xyz = origins[k] + wfrac @ cells[k]
            elif style == "scaled":
                xyz = wfrac
            else:
                xyz = frac
            order = rng.permutation(n_atoms) if shuffle else np.arange(n_atoms)
            fh.write(f"ITEM: TIMESTEP\n{int(timesteps[k])}\nITEM: NUMBER OF ATOMS\n{n_atoms}\n")
            fh.write(_box_lines(cells[k], origins[k], ff))
            fh.write("ITEM: ATOMS " + " ".join(cols) + "\n")
            rows = []
            for i in order:
                parts = [str(int(ids[i]))]
                if type_column:
                    parts.append(str(int(types[i])))
                if element_column:
                    parts.append(str(elements[i]))
                parts += [ff % v for v in xyz[i]]
                if image_flags:
                    parts += [str(int(v)) for v in img[i]]
                rows.append(" ".join(parts) + " \n")  # LAMMPS ends lines with a space
            fh.write("".join(rows))
    return path


# --------------------------------------------------------------------------- #
# Reader
# --------------------------------------------------------------------------- #

@dataclasses.dataclass
class _Layout:
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


def _layout_from_first_frame(columns: list[str], n_atoms: int, first_line: bytes,
                             atoms_header: bytes) -> _Layout:
    if "id" not in columns:
        raise DumpFormatError(
            f"dump has no 'id' column (columns: {columns}); atoms cannot be matched between frames")
    for names, scaled, unwrapped in _POSITION_STYLES:
        if all(n in columns for n in names):
            break
    else:
        raise DumpFormatError(
            "dump has no complete set of position columns (need one of xu yu zu, xsu ysu zsu, "
            f"x y z, xs ys zs); columns are {columns}")
    images = ("ix", "iy", "iz")
    has_images = all(c in columns for c in images)
    if any(c in columns for c in images) and not has_images:
        raise DumpFormatError(f"incomplete image-flag columns in {columns}")
    use_images = has_images and not unwrapped
    # Only these numeric columns are converted; the type column is parsed too so
    # that every frame can be checked to keep each atom's species (cheap: one
    # small integer per atom).
    wanted = {"id": ["id"], "x": list(names)}
    if "type" in columns:
        wanted["type"] = ["type"]
    if use_images:
        wanted["img"] = list(images)
    usecols = sorted({columns.index(c) for cs in wanted.values() for c in cs})
    pos = {k: [usecols.index(columns.index(c)) for c in cs] for k, cs in wanted.items()}
    # LAMMPS separates fields by one space; user formats such as %20.15g pad with more.
    single = not (first_line.startswith((b" ", b"\t")) or b"  " in first_line or b"\t" in first_line)
    return _Layout(columns, n_atoms, usecols, pos, scaled, unwrapped, use_images,
                   " " if single else r"\s+", atoms_header, n_atoms * 2 * len(columns))


def _interleave(cols: list[np.ndarray], order: np.ndarray | None, n_frames: int,
                n_atoms: int, space: np.ndarray | None = None) -> np.ndarray:
    """(frames, atoms, 3) array of three columns, rows picked by ``order`` if given;
    written into ``space`` (flat float64) when it is given and large enough."""
    n = n_frames * n_atoms
    if space is not None and space.size >= 3 * n:
        out = space[:3 * n].reshape(n, 3)
    else:
        out = np.empty((n, 3))
    for j, c in enumerate(cols):
        out[:, j] = c if order is None else c[order]
    return out.reshape(n_frames, n_atoms, 3)


class _Unwrapper:
    """Stateful unwrapping of consecutive chunks of frames (see module docstring)."""

    def __init__(self, layout: _Layout, box_constant: bool, npt_unwrap: str):
        self.layout = layout
        # Already-unwrapped coordinates are kept as they are unless the box changes
        # and the caller asked for the toroidal scheme.
        self.passthrough = layout.unwrapped and (box_constant or npt_unwrap == "lammps")
        self.increments = not box_constant and npt_unwrap == "toroidal"
        self.prev_w = self.prev_n = self.prev_u = None

    def __call__(self, r: np.ndarray, img: np.ndarray | None, cells: np.ndarray,
                 origins: np.ndarray) -> np.ndarray:
        if self.passthrough:
            return r
        if self.layout.unwrapped:
            # Recover wrapped position and image counts: r = w + n·H.
            frac = np.einsum("fai,fij->faj", r - origins[:, None], np.linalg.inv(cells))
            img = np.floor(frac)
            w = r - np.einsum("fai,fij->faj", img, cells)
        else:
            w = r
        if not self.increments:  # constant box (or NPT with LAMMPS' convention)
            if img is None:
                img = self._images_from_increments(w, cells)
            else:
                img = img.astype(np.float64)
            return w + np.einsum("fai,fij->faj", img, cells)
        return self._toroidal(w, img, cells)

    def _images_from_increments(self, w: np.ndarray, cells: np.ndarray) -> np.ndarray:
        """Image counts from minimum-image frame-to-frame increments."""
        prev = w[:1] if self.prev_w is None else self.prev_w[None]
        dw = np.diff(np.concatenate([prev, w]), axis=0)
        # A crossing shows up as a jump of one cell vector.
        jumps = -np.rint(np.einsum("fai,fij->faj", dw, np.linalg.inv(cells)))
        start = np.zeros_like(w[0]) if self.prev_n is None else self.prev_n
        n = start + np.cumsum(jumps, axis=0)
        self.prev_w, self.prev_n = w[-1].copy(), n[-1].copy()
        return n

    def _toroidal(self, w: np.ndarray, img: np.ndarray | None, cells: np.ndarray) -> np.ndarray:
        """Accumulate increments taken in the current box (von Bülow et al. 2020)."""
        if self.prev_w is None:
            u0 = w[0] + (0 if img is None else img[0] @ cells[0])
            prev_w, prev_n = w[0], (None if img is None else img[0])
        else:
            u0, prev_w, prev_n = self.prev_u, self.prev_w, self.prev_n
        dw = np.diff(np.concatenate([prev_w[None], w]), axis=0)
        if img is None:
            frac = np.einsum("fai,fij->faj", dw, np.linalg.inv(cells))
            dn = -np.rint(frac)
        else:
            dn = np.diff(np.concatenate([prev_n[None], img]), axis=0).astype(np.float64)
        d = dw + np.einsum("fai,fij->faj", dn, cells)
        u = u0 + np.cumsum(d, axis=0)
        self.prev_w, self.prev_u = w[-1].copy(), u[-1].copy()
        self.prev_n = None if img is None else img[-1].copy()
        return u


def _open_binary(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def _read_into(fh, view: memoryview) -> int:
    """Fill ``view`` from ``fh``; returns the bytes read (fewer only at end of file)."""
    got = 0
    while got < len(view):
        n = fh.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def _iter_chunks(fh, block_bytes: int, n_buffers: int = 2) -> Iterator[tuple[bytearray, int, bool]]:
    """Yield (buffer, end, is_last): whole frames lie in buffer[:end] (not sliced, to
    save a copy); the last chunk may end with a partial frame.  Bytes past ``end``
    are stale.

    ``n_buffers`` buffers are used in turn (no fresh pages to fault in, no
    concatenation copy): a chunk stays valid while the next ``n_buffers - 1`` are
    read and scanned, so its numbers can be parsed in the background meanwhile.
    The partial frame at the end of a chunk is copied to the front of the next
    buffer and the next block read in behind it."""
    bufs = [bytearray(block_bytes) for _ in range(n_buffers)]
    turn = 0
    have = 0  # bytes of the carried-over partial frame at the front of the buffer
    while True:
        buf = bufs[turn]
        with memoryview(buf) as view:
            n = _read_into(fh, view[have:])
        end = have + n
        if end < len(buf):  # end of file
            if end:
                yield buf, end, True
            return
        cut = buf.rfind(b"ITEM: TIMESTEP")
        if cut <= 0:  # a single frame longer than the block: a bigger buffer (never
            bigger = bytearray(2 * len(buf))  # resize one that may still be viewed)
            bigger[:end] = buf
            bufs[turn] = bigger
            have = end
            continue
        # Keep any "ITEM: TIME/UNITS" lines that precede this TIMESTEP with the next chunk.
        yield buf, cut, False
        turn = (turn + 1) % n_buffers
        nxt = bufs[turn]
        if len(nxt) < len(buf):
            nxt = bufs[turn] = bytearray(len(buf))
        nxt[:end - cut] = memoryview(buf)[cut:end]
        have = end - cut


class _FramesReader:
    """Binary file-like view of the atom lines of many frames (pieces of the read
    buffer), so the numeric parser streams them without a joined copy."""

    mode = "rb"

    def __init__(self, parts: list[memoryview]):
        self._parts = parts
        self._i = 0
        self._off = 0

    def read(self, n: int = -1) -> bytes:
        out = []
        parts = self._parts
        while self._i < len(parts) and n != 0:
            p = parts[self._i]
            stop = len(p) if n < 0 else min(len(p), self._off + n)
            out.append(p[self._off:stop])
            if n > 0:
                n -= stop - self._off
            if stop == len(p):
                self._i += 1
                self._off = 0
            else:
                self._off = stop
        return b"".join(out)


class _ChunkParser:
    def __init__(self, path: Path):
        self.path = path
        self.layout: _Layout | None = None
        self.frame = 0  # global index of the next frame
        self._box_cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        self.first_atoms: list[list[bytes]] | None = None
        self.extra_items = False
        self._expect: tuple[bytes, bytes] | None = None  # (NUMBER OF ATOMS, ATOMS header) text

    def _where(self, k: int, ts: int | None = None) -> str:
        t = "" if ts is None else f", timestep {ts}"
        return f"{self.path}: frame {k}{t}"

    def scan(self, buf: bytes, end: int, last: bool, on_truncated: str):
        """Headers of all frames of a chunk and the joined text of their atom lines.

        Returns None for an empty chunk, else ``_Scan``; numeric parsing of the
        text is done separately (possibly in a worker process)."""
        TS = b"ITEM: TIMESTEP"
        p = buf.find(TS, 0, end)
        if p < 0:
            if buf[:end].strip():
                raise DumpFormatError(f"{self.path}: no 'ITEM: TIMESTEP' found near frame {self.frame}")
            return None
        mv = memoryview(buf)
        blocks, spans, timesteps, boxes = [], [], [], []
        truncated = False
        match, find, box_cache = _HEADER_RE.match, buf.find, self._box_cache
        while p >= 0:
            k = self.frame + len(blocks)
            m = match(buf, p, end)
            if m is None:
                if last and find(TS, p + 14, end) < 0:
                    truncated = True
                    break
                raise DumpFormatError(f"{self._where(k)}: malformed frame header")
            if self.layout is None:
                self._init_layout(buf, m, end)
                self.extra_items = find(b"ITEM: TIME\n", 0, end) >= 0 \
                    or find(b"ITEM: TIME\r\n", 0, end) >= 0
            lay = self.layout
            a = m.end()
            if m.group(2, 7) != self._expect:
                ts, nat = int(m.group(1)), int(m.group(2))
                if nat != lay.n_atoms:
                    raise DumpFormatError(
                        f"{self._where(k, ts)}: NUMBER OF ATOMS is {nat}, first frame had "
                        f"{lay.n_atoms}; atoms appearing/disappearing are not supported")
                if m.group(7) != lay.atoms_header:
                    raise DumpFormatError(
                        f"{self._where(k, ts)}: columns changed to {m.group(7).decode().split()}")
            key = m.group(3, 4, 5, 6)
            box = box_cache.get(key)
            if box is None:  # NVT dumps repeat the same box text: parse it once
                box = _parse_box(key[0], key[1:])
                if len(box_cache) < 4096:
                    box_cache[key] = box
            # The atom text of a frame is at least 2 bytes per field: start the search
            # for the next header there (a frame with fewer lines than NUMBER OF ATOMS
            # then fails in the numeric parse or the line-count check).
            p = find(TS, a + lay.min_frame_bytes, end)
            final = p < 0
            e = end if final else p
            if self.extra_items:  # "ITEM: TIME" lines sit between frames
                f = find(b"ITEM:", a, e)
                e = e if f < 0 else f
            # Line counts are checked for the last frame only (truncation); elsewhere a
            # wrong count shifts the atom rows, which the id check catches.
            if final or self.extra_items:
                nlines = buf.count(b"\n", a, e)
                if nlines != lay.n_atoms:
                    if last and final and (nlines < lay.n_atoms or buf[e - 1:e] != b"\n"):
                        truncated = True
                        break
                    raise DumpFormatError(
                        f"{self._where(k, int(m.group(1)))}: {nlines} atom lines but NUMBER OF "
                        f"ATOMS is {lay.n_atoms}")
            blocks.append(mv[a:e])
            spans.append((a, e))
            timesteps.append(m.group(1))
            boxes.append(box)
        if truncated:
            msg = f"{self._where(self.frame + len(blocks))}: file is truncated (incomplete last frame)"
            if on_truncated == "error":
                raise DumpFormatError(msg + "; pass on_truncated='drop' to ignore it")
            warnings.warn(msg + "; dropped", stacklevel=4)
        if not blocks:
            return None
        first = self.frame
        self.frame += len(blocks)
        lengths = [len(b) for b in blocks]
        cells = np.array([b[0] for b in boxes])
        origins = np.array([b[1] for b in boxes])
        return _Scan(first, np.array(timesteps).astype(np.int64), cells, origins, blocks, lengths,
                     buf, np.array(spans, dtype=np.int64).reshape(-1, 2))

    def _init_layout(self, buf: bytes, m: re.Match, end: int) -> None:
        columns = [c.decode() for c in m.group(7).split()]
        n_atoms = int(m.group(2))
        e = buf.find(b"ITEM:", m.end(), end)
        lines = bytes(buf[m.end(): end if e < 0 else e]).splitlines()
        if not lines:
            raise DumpFormatError(f"{self.path}: first frame has no atom lines")
        self.layout = _layout_from_first_frame(columns, n_atoms, lines[0], m.group(7))
        self.first_atoms = [ln.split() for ln in lines[:n_atoms]]
        self._expect = (m.group(2), m.group(7))



@dataclasses.dataclass
class _Scan:
    first_frame: int
    timesteps: np.ndarray
    cells: np.ndarray
    origins: np.ndarray
    parts: list[memoryview]  # atom lines of each frame (views of the read buffer)
    lengths: list[int]  # bytes of each frame's atom lines
    buf: bytearray  # the read buffer the parts lie in
    spans: np.ndarray  # (frames, 2) int64: byte range [begin, end) of each part in buf


def native_parser_path() -> Path | None:
    """Path of the compiled atom-line tokenizer ``liblmpflow_dump.so`` that
    ``read_dump`` uses, or None when it is not found (or disabled with
    ``LMPFLOW_DUMP_NATIVE=0``) and pandas' tokenizer is used instead."""
    return _native_state["path"] if _native_lib() is not None else None


def _native_candidates() -> list[Path]:
    env = os.environ.get("LMPFLOW_DUMP_LIB")
    if env:
        return [Path(env)]
    here = Path(__file__).resolve().parent
    found = [here / "lib" / _NATIVE_LIB_NAME]
    build = here.parent.parent / "build"  # source checkout: <repo>/python/lmpflow
    found.append(build / _NATIVE_LIB_NAME)
    found += sorted(build.glob(f"*/{_NATIVE_LIB_NAME}"))  # scikit-build's build/{wheel_tag}
    return found


def _native_lib():
    """The loaded tokenizer (ctypes), or None: then pandas parses the numbers."""
    if not _NATIVE_ENABLED:
        return None
    if "lib" in _native_state:
        return _native_state["lib"]
    lib = None
    cands = _native_candidates()
    for cand in cands:
        if not cand.is_file():
            continue
        try:
            lib = ctypes.CDLL(str(cand))
            abi = lib.lmpflow_dump_abi_version()
            if abi != _NATIVE_ABI:
                raise OSError(f"ABI version {abi}, expected {_NATIVE_ABI}")
        except (OSError, AttributeError) as exc:
            warnings.warn(f"cannot use the dump tokenizer {cand} ({exc}); rebuild it with "
                          "`cmake --build build --target lmpflow_dump`. Falling back to pandas "
                          "(slower).", stacklevel=3)
            lib = None
            continue
        f = lib.lmpflow_parse_atom_lines
        f.restype = ctypes.c_int64
        f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                      ctypes.c_int32, ctypes.c_void_p, ctypes.c_int32, ctypes.c_void_p,
                      ctypes.c_int64, ctypes.c_void_p]
        _native_state["path"] = cand
        break
    else:
        if os.environ.get("LMPFLOW_DUMP_LIB"):
            warnings.warn(f"LMPFLOW_DUMP_LIB={cands[0]} is not a file; falling back to pandas "
                          "to parse dumps (slower)", stacklevel=3)
    _native_state["lib"] = lib
    return lib


def _parse_atoms(buf, spans: np.ndarray, first_frame: int, lay: _Layout, path: Path,
                 spare: list | None = None) -> tuple[list[np.ndarray], np.ndarray | None]:
    """The ``lay.usecols`` columns of the atom lines ``buf[a:e]`` for (a, e) in
    ``spans`` (one span per frame) as float64 arrays, in ``usecols`` order, and the
    flat buffer holding them (None from pandas) for the caller to put in ``spare``
    once done with them: reused buffers save faulting in fresh pages every block.

    Runs in background threads (ctypes and pandas release the GIL) and in worker
    processes.  Raises ``DumpFormatError`` naming the frame of a bad line."""
    lib = _native_lib()
    if lib is not None:
        return _parse_native(lib, buf, spans, first_frame, lay, path, spare)
    mv = memoryview(buf)
    try:
        return _parse_numeric(_FramesReader([mv[a:e] for a, e in spans.tolist()]),
                              lay.sep, lay.usecols), None
    except (ValueError, pd.errors.ParserError) as exc:
        raise DumpFormatError(
            f"{path}: bad atom line in frames {first_frame}..{first_frame + len(spans) - 1}: "
            f"{exc}") from exc


def _parse_text(text: bytes, lengths: list[int], first_frame: int, lay: _Layout,
                path: Path) -> tuple[list[np.ndarray], None]:
    """``_parse_atoms`` of the joined atom text of consecutive frames (worker processes)."""
    ends = np.cumsum(np.asarray(lengths, dtype=np.int64))
    spans = np.column_stack([ends - np.asarray(lengths, dtype=np.int64), ends])
    return _parse_atoms(text, spans, first_frame, lay, path)[0], None


def _parse_native(lib, buf, spans: np.ndarray, first_frame: int, lay: _Layout, path: Path,
                  spare: list | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    n_parts = len(spans)
    rows = n_parts * lay.n_atoms
    n_fields = len(lay.columns)
    slot = np.full(n_fields, -1, dtype=np.int32)
    slot[lay.usecols] = np.arange(len(lay.usecols), dtype=np.int32)
    need = len(lay.usecols) * rows
    flat = None
    try:
        flat = spare.pop() if spare else None  # list.pop is atomic: threads share it
    except IndexError:
        pass
    if flat is None or flat.size < need:
        flat = np.empty(need + need // 8)  # slack: blocks hold slightly different frame counts
    out = flat[:need].reshape(len(lay.usecols), rows)
    err = np.zeros(5, dtype=np.int64)
    text = np.frombuffer(buf, dtype=np.uint8)  # no copy; keeps buf's address fixed
    spans = np.ascontiguousarray(spans, dtype=np.int64)
    code = lib.lmpflow_parse_atom_lines(
        text.ctypes.data, spans.ctypes.data, n_parts, lay.n_atoms, n_fields, slot.ctypes.data,
        len(lay.usecols), out.ctypes.data, rows, err.ctypes.data)
    if code == rows:
        return list(out), flat
    part, line, a, b, c = err.tolist()
    k = first_frame + part
    if code == -3:
        raise DumpFormatError(f"{path}: frame {k} has {a} atom lines but NUMBER OF ATOMS is "
                              f"{lay.n_atoms}")
    where = f"{path}: bad atom line in frame {k} (atom line {line + 1} of the frame)"
    if code in (-1, -4):
        token = bytes(text[b:b + c]).decode("ascii", "replace")
        what = "nan" if code == -4 else "not a number"
        raise DumpFormatError(f"{where}: column '{lay.columns[a]}' is {token!r} ({what})")
    if code == -2:
        shown = bytes(text[b:b + min(c, 200)]).decode("ascii", "replace")
        raise DumpFormatError(
            f"{where}: {a} fields, but ITEM: ATOMS names {n_fields} columns "
            f"({' '.join(lay.columns)}): {shown!r}")
    raise RuntimeError(f"internal: dump tokenizer returned {code} (err {err.tolist()})")


def _parse_numeric(text, sep: str, usecols: list[int]) -> list[np.ndarray]:
    """The ``usecols`` columns of atom lines (``bytes`` or a ``_FramesReader``) as
    float64 arrays (runs in workers too).

    The columns are returned as pandas made them (no copy); the caller interleaves
    the positions once, straight into the output layout."""
    src = io.BytesIO(text) if isinstance(text, bytes) else text
    df = pd.read_csv(src, sep=sep, header=None, usecols=usecols,
                     dtype=np.float64, na_filter=False, engine="c")
    return [df[c].to_numpy() for c in usecols]


def _check_numeric(path: Path, sc: _Scan, data: np.ndarray, n_atoms: int) -> None:
    if len(data[0]) != len(sc.lengths) * n_atoms:
        counts = [bytes(p).count(b"\n") for p in sc.parts]
        k = next((i for i, c in enumerate(counts) if c != n_atoms), 0)
        raise DumpFormatError(
            f"{path}: frame {sc.first_frame + k} has {counts[k]} atom lines but NUMBER OF "
            f"ATOMS is {n_atoms}")


def _write_npy_header(fh, shape: tuple[int, ...]) -> None:
    d = "{'descr': '<f8', 'fortran_order': False, 'shape': %r, }" % (tuple(shape),)
    head = b"\x93NUMPY\x01\x00"
    body = d.encode("latin1")
    pad = _NPY_HEADER_BYTES - len(head) - 2 - len(body) - 1
    if pad < 0:
        raise ValueError("shape too long for the fixed .npy header")
    fh.write(head + np.uint16(len(body) + pad + 1).tobytes() + body + b" " * pad + b"\n")


def _cache_dir(path: Path, cache_dir: str | os.PathLike | None) -> Path:
    if cache_dir is None:
        return path.with_name(path.name + ".lmpflow")
    return Path(cache_dir) / (path.name + ".lmpflow")


def _source_key(path: Path, npt_unwrap: str, type_to_element: dict | None) -> dict:
    st = path.stat()
    return {"version": _CACHE_VERSION, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "npt_unwrap": npt_unwrap,
            "type_to_element": {str(k): v for k, v in (type_to_element or {}).items()}}


def _load_cache(cdir: Path, key: dict, path: Path) -> Trajectory | None:
    try:
        if json.loads((cdir / "key.json").read_text()) != key:
            return None
        meta = np.load(cdir / "meta.npz", allow_pickle=False)
        pos = np.load(cdir / "positions.npy", mmap_mode="r")
    except (OSError, ValueError, KeyError):
        return None
    types = meta["types"] if meta["has_types"] else None
    return Trajectory(pos, meta["cells"], meta["origins"], meta["timesteps"], meta["ids"],
                      meta["elements"], types, str(path))


def read_dump(
    path: str | os.PathLike,
    *,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    npt_unwrap: str = "toroidal",
    type_to_element: dict[int, str] | None = None,
    on_truncated: str = "error",
    block_bytes: int = _BLOCK_BYTES,
    workers: int = 1,
) -> Trajectory:
    """Read a LAMMPS text dump (optionally gzipped) into an unwrapped ``Trajectory``.

    Parameters
    ----------
    path : the dump file (``.lammpstrj``, ``.dump``, ``.gz`` ...).
    cache : store positions as ``<path>.lmpflow/positions.npy`` (plus metadata)
        and return them memory-mapped; a later call with an unchanged file
        (same size and mtime) loads the cache instead of parsing.  With
        ``cache=False`` positions are held in RAM.
    cache_dir : folder for the cache instead of the dump's own folder.
    npt_unwrap : for dumps whose box changes: "toroidal" (default; increments
        in the current box, von Bülow et al. 2020) or "lammps" (LAMMPS'
        ``x + ix·L(t)``).  Ignored when the box is constant.
    type_to_element : names for the types when the dump has no ``element``
        column, e.g. ``{1: "Li", 2: "P", 3: "S", 4: "Cl"}``.
    on_truncated : "error" (default) or "drop" an incomplete last frame (a
        dump of a still-running or killed simulation).
    block_bytes : text parsed per chunk; memory use is a few times this
        (times the number of workers).
    workers : processes parsing numbers in parallel; 1 (default) parses in this
        process (with two background threads for files larger than 2 blocks).
        Used for files larger than 4 blocks.  Shipping text to the workers
        costs extra CPU, so this pays only on idle cores.

    Raises ``DumpFormatError`` for malformed or truncated files, missing
    columns, and atoms appearing or disappearing between frames.
    """
    path = Path(path)
    if npt_unwrap not in ("toroidal", "lammps"):
        raise ValueError("npt_unwrap must be 'toroidal' or 'lammps'")
    if on_truncated not in ("error", "drop"):
        raise ValueError("on_truncated must be 'error' or 'drop'")
    key = _source_key(path, npt_unwrap, type_to_element)
    cdir = _cache_dir(path, cache_dir)
    if cache:
        traj = _load_cache(cdir, key, path)
        if traj is not None:
            return traj

    # Pass 1 needs the boxes to decide on the unwrapping scheme; a box that changes
    # is only discovered while streaming, so unwrapping starts in "constant box"
    # mode and restarts once if a change is seen (NPT).
    for attempt in ("assume_constant", "varying"):
        try:
            return _read(path, cache, cdir, key, npt_unwrap, type_to_element, on_truncated,
                         block_bytes, box_constant=attempt == "assume_constant",
                         workers=workers)
        except _BoxChanged:
            continue
    raise AssertionError("unreachable")


class _BoxChanged(Exception):
    pass


def _read(path, cache, cdir, key, npt_unwrap, type_to_element, on_truncated, block_bytes,
          box_constant: bool, workers: int) -> Trajectory:
    parser = _ChunkParser(path)
    _native_lib()  # load (once) here, not racing in the parser threads
    st = {"unwrap": None, "ids_ref": None}
    out_chunks: list[np.ndarray] = []
    all_ts, all_cells, all_orig = [], [], []
    tmp = None
    pool = writer = None
    pending: collections.deque = collections.deque()
    spare: list[np.ndarray] = []  # parse output buffers, reused
    write_fut = None
    depth = 1  # blocks parsed ahead of the one being unwrapped and written
    if workers > 1 and path.stat().st_size > 4 * block_bytes:
        # Numeric parsing (the bulk) runs in worker processes while this process
        # scans headers, unwraps and writes.  Fork before any thread exists.
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        pool.submit(int).result()
        depth = workers
    elif path.stat().st_size > 2 * block_bytes:
        # Background threads: the tokenizers release the GIL, so parsing blocks
        # k and k+1 overlaps with reading/scanning the next block and
        # unwrapping/writing block k-1 here (no text is copied between processes).
        depth = 2 if (os.cpu_count() or 1) > 1 else 1
        pool = ThreadPoolExecutor(depth)
    if cache:
        cdir.mkdir(parents=True, exist_ok=True)
        tmp = open(cdir / "positions.npy.part", "wb")
        tmp.write(b"\0" * _NPY_HEADER_BYTES)
        writer = ThreadPoolExecutor(1)  # overlap disk writes with parsing

    def finish(sc: _Scan, data) -> None:
        nonlocal write_fut
        lay = parser.layout
        data, flat = data.result() if pool is not None else data  # errors: DumpFormatError
        _check_numeric(path, sc, data, lay.n_atoms)
        ts, cells, origins = sc.timesteps, sc.cells, sc.origins
        nf, na = len(ts), lay.n_atoms
        if box_constant:
            ref = all_cells[0][0] if all_cells else cells[0]
            ref_o = all_orig[0][0] if all_orig else origins[0]
            if not (np.array_equal(cells, np.broadcast_to(ref, cells.shape))
                    and np.array_equal(origins, np.broadcast_to(ref_o, origins.shape))):
                # Wrapped coordinates need the per-frame scheme; unwrapped ones only
                # if the caller wants the toroidal correction.
                if not (lay.unwrapped and npt_unwrap == "lammps"):
                    raise _BoxChanged
        if st["unwrap"] is None:
            st["unwrap"] = _Unwrapper(lay, box_constant, npt_unwrap)
        col = {k: [data[j] for j in js] for k, js in lay.pos.items()}
        ids = col["id"][0].reshape(nf, na)
        order = None
        if st["ids_ref"] is None:
            st["ids_ref"] = np.sort(ids[0]).astype(np.int64)
            if np.unique(st["ids_ref"]).size != st["ids_ref"].size:
                raise DumpFormatError(f"{path}: duplicate atom ids in the first frame")
        ids_ref = st["ids_ref"]
        # Serial LAMMPS runs write atoms in id order: one comparison, no sort.
        if not np.array_equal(ids, np.broadcast_to(ids_ref, ids.shape)):
            order = np.argsort(ids, axis=1, kind="stable")
            order += (np.arange(nf) * na)[:, None]
            order = order.ravel()
            ids = col["id"][0][order].reshape(nf, na)
            bad = np.flatnonzero((ids != ids_ref).any(axis=1))
            if bad.size:
                k = sc.first_frame + int(bad[0])
                got = set(ids[bad[0]].astype(np.int64).tolist())
                ref_set = set(ids_ref.tolist())
                raise DumpFormatError(
                    f"{path}: frame {k}, timestep {ts[bad[0]]}: atom ids differ from the first "
                    f"frame (new: {sorted(got - ref_set)[:10]}, missing: "
                    f"{sorted(ref_set - got)[:10]}); atoms appearing/disappearing are "
                    "not supported")
        if "type" in lay.pos:
            # Species are taken from the first frame: every frame must agree.
            types = col["type"][0]
            types = (types if order is None else types[order]).reshape(nf, na)
            if st.get("types_ref") is None:
                st["types_ref"] = types[0].copy()
            if not np.array_equal(types, np.broadcast_to(st["types_ref"], types.shape)):
                f, a = np.argwhere(types != st["types_ref"])[0]
                raise DumpFormatError(
                    f"{path}: frame {sc.first_frame + int(f)}, timestep {ts[f]}: atom id "
                    f"{ids_ref[a]} changed type from {st['types_ref'][a]:.0f} to "
                    f"{types[f, a]:.0f}; atoms changing species (e.g. fix atom/swap) are "
                    "not supported")
        # With the cache, positions are assembled in one of two reused buffers (one
        # may still be being written): no fresh memory to fault in per block.
        space = None
        if tmp is not None and st["unwrap"].passthrough:
            space = st.setdefault("spaces", [np.empty(0), np.empty(0)])
            if space[0].size < 3 * nf * na:  # slack: blocks hold slightly different frame counts
                space[0] = np.empty(3 * nf * na + 3 * nf * na // 8)
            space.append(space.pop(0))
            space = space[-1]
        r = _interleave(col["x"], order, nf, na, space)
        if not np.isfinite(r.sum()) and not np.isfinite(r).all():  # sum: one cheap pass
            bad = np.flatnonzero(~np.isfinite(r).all(axis=(1, 2)))[0]
            raise DumpFormatError(
                f"{path}: frame {sc.first_frame + int(bad)}, timestep {ts[bad]}: missing or "
                "non-numeric (nan/inf) positions")
        if lay.scaled:
            r = origins[:, None] + np.einsum("fai,fij->faj", r, cells)
        img = _interleave(col["img"], order, nf, na) if lay.has_images else None
        u = np.ascontiguousarray(st["unwrap"](r, img, cells, origins), dtype=np.float64)
        if tmp is not None:
            if write_fut is not None:
                write_fut.result()  # at most one chunk in flight: bounded memory
            write_fut = writer.submit(tmp.write, memoryview(u).cast("B"))
        else:
            out_chunks.append(u)
        all_ts.append(ts)
        all_cells.append(cells)
        all_orig.append(origins)
        if flat is not None:
            spare.append(flat)  # the columns were copied out above: reuse their memory

    try:
        with _open_binary(path) as fh:
            # A chunk's buffer must outlive its parse: one buffer per block in flight.
            for buf, end, last in _iter_chunks(fh, block_bytes, depth + 1):
                sc = parser.scan(buf, end, last, on_truncated)
                del buf
                if sc is None:
                    continue
                lay = parser.layout
                if pool is None:
                    finish(sc, _parse_atoms(sc.buf, sc.spans, sc.first_frame, lay, path, spare))
                else:
                    # Worker processes get the text; threads read the buffer in place.
                    if isinstance(pool, ProcessPoolExecutor):
                        fut = pool.submit(_parse_text, b"".join(sc.parts), sc.lengths,
                                          sc.first_frame, lay, path)
                    else:
                        fut = pool.submit(_parse_atoms, sc.buf, sc.spans, sc.first_frame, lay,
                                          path, spare)
                    pending.append((sc, fut))
                    while len(pending) > depth:
                        finish(*pending.popleft())
            while pending:
                finish(*pending.popleft())
        if write_fut is not None:
            write_fut.result()
        if parser.layout is None:
            raise DumpFormatError(f"{path}: no frames found")
        timesteps = np.concatenate(all_ts)
        cells = np.concatenate(all_cells)
        origins = np.concatenate(all_orig)
        n_frames, n_atoms = timesteps.size, parser.layout.n_atoms
        ids_ref = st["ids_ref"]
        elements, types = _atom_labels(parser, ids_ref, type_to_element)
        if tmp is None:
            positions = np.concatenate(out_chunks)
        else:
            tmp.seek(0)
            _write_npy_header(tmp, (n_frames, n_atoms, 3))
            tmp.close()
            tmp = None
            np.savez(cdir / "meta.npz.part.npz", cells=cells, origins=origins, timesteps=timesteps,
                     ids=ids_ref, elements=elements,
                     types=types if types is not None else np.zeros(0, np.int64),
                     has_types=types is not None)
            os.replace(cdir / "positions.npy.part", cdir / "positions.npy")
            os.replace(cdir / "meta.npz.part.npz", cdir / "meta.npz")
            (cdir / "key.json").write_text(json.dumps(key))
            positions = np.load(cdir / "positions.npy", mmap_mode="r")
    finally:
        for fut in [f for _, f in pending] + ([write_fut] if write_fut is not None else []):
            fut.cancel()
        if writer is not None:
            writer.shutdown(wait=True)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if tmp is not None:
            tmp.close()
            try:
                os.remove(cdir / "positions.npy.part")
            except OSError:
                pass
    return Trajectory(positions, cells, origins, timesteps, ids_ref, elements, types, str(path))


def _atom_labels(parser: _ChunkParser, ids_ref: np.ndarray, type_to_element: dict | None):
    """Element names and types per atom (sorted by id) from the first frame."""
    cols = parser.layout.columns
    rows = parser.first_atoms
    ids = np.array([int(r[cols.index("id")]) for r in rows])
    order = np.argsort(ids)
    types = None
    if "type" in cols:
        types = np.array([int(r[cols.index("type")]) for r in rows])[order]
    if "element" in cols:
        elements = np.array([r[cols.index("element")].decode() for r in rows])[order]
    elif types is not None:
        mapping = {int(k): v for k, v in (type_to_element or {}).items()}
        elements = np.array([mapping.get(int(t), str(int(t))) for t in types])
    else:
        elements = np.array(["X"] * len(rows))
    if not np.array_equal(ids[order], ids_ref):
        raise DumpFormatError("internal: first-frame ids do not match")
    return elements.astype(str), types
