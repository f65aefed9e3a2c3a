"""Frame headers of a chunk of dump text: timesteps, boxes and where each frame's atom lines lie.

The scan checks what the headers promise (atom count, columns, line count of the last
frame) and leaves the atom lines themselves to the tokenizer.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from .dump_format import HEADER_RE, TIMESTEP_ITEM, Layout, layout_from_first_frame, parse_box
from .trajectory import DumpFormatError

_BOX_CACHE_MAX = 4096


@dataclasses.dataclass
class Scan:
    """The frames of one chunk (restart repeats already left out)."""

    frames: np.ndarray  # (frames,) int64: index of each frame in the file
    timesteps: np.ndarray
    cells: np.ndarray
    origins: np.ndarray
    parts: list[memoryview]  # atom lines of each frame (views of the read buffer)
    lengths: list[int]  # bytes of each frame's atom lines
    buf: bytearray  # the read buffer the parts lie in
    spans: np.ndarray  # (frames, 2) int64: byte range [begin, end) of each part in buf


class FrameScanner:
    """Scans consecutive chunks of one dump; the first frame fixes the layout.

    ``notes`` collects what the caller should warn about: a dropped truncated last
    frame and the frames a LAMMPS restart writes twice (same TIMESTEP in a row)."""

    def __init__(self, path: Path, on_truncated: str):
        self.path = path
        self.on_truncated = on_truncated
        self.layout: Layout | None = None
        self.first_atoms: list[list[bytes]] | None = None
        self.frame = 0  # file index of the next frame
        self.truncated = False
        self.repeats: list[tuple[int, int]] = []  # (file frame, timestep) of dropped repeats
        self.notes: list[str] = []
        self._last_timestep: bytes | None = None
        self._box_cache: dict[tuple[bytes, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._extra_items = False
        self._expect: tuple[bytes, bytes] | None = None  # (NUMBER OF ATOMS, ATOMS header) text

    def where(self, k: int, ts: int | None = None) -> str:
        t = "" if ts is None else f", timestep {ts}"
        return f"{self.path}: frame {k}{t}"

    def scan(self, buf: bytearray, end: int, last: bool) -> Scan | None:
        """The frames of ``buf[:end]``; None if it holds none to keep."""
        p = buf.find(TIMESTEP_ITEM, 0, end)
        if p < 0:
            if buf[:end].strip():
                raise DumpFormatError(
                    f"{self.path}: no 'ITEM: TIMESTEP' found near frame {self.frame}")
            return None
        kept: list[tuple[int, int, int, bytes, tuple]] = []  # (frame, a, e, timestep, box)
        k = self.frame
        while p >= 0:
            m = HEADER_RE.match(buf, p, end)
            if m is None:
                if last and buf.find(TIMESTEP_ITEM, p + 14, end) < 0:
                    self._truncated(k)
                    break
                raise DumpFormatError(f"{self.where(k)}: malformed frame header")
            if self.layout is None:
                self._init_layout(buf, m, end)
            a, e, p = self._atom_lines(buf, m, end, k, last)
            if e < 0:
                self._truncated(k)
                break
            ts = m.group(1)
            if ts == self._last_timestep:
                self.repeats.append((k, int(ts)))  # the repeat of a restart: same step twice
            else:
                kept.append((k, a, e, ts, self._box(m)))
                self._last_timestep = ts
            k += 1
        self.frame = k
        return self._make_scan(buf, kept) if kept else None

    def _atom_lines(self, buf: bytearray, m: re.Match, end: int, k: int,
                    last: bool) -> tuple[int, int, int]:
        """(start, end, next header) of the frame's atom lines; end -1 if cut off."""
        lay = self.layout
        self._check_header(m, k)
        a = m.end()
        # The atom text of a frame is at least 2 bytes per field: start the search
        # for the next header there (a frame with fewer lines than NUMBER OF ATOMS
        # then fails in the numeric parse or the line-count check).
        p = buf.find(TIMESTEP_ITEM, a + lay.min_frame_bytes, end)
        final = p < 0
        e = end if final else p
        if self._extra_items:  # "ITEM: TIME" lines sit between frames
            f = buf.find(b"ITEM:", a, e)
            e = e if f < 0 else f
        # Line counts are checked for the last frame only (truncation); elsewhere a
        # wrong count shifts the atom rows, which the id check catches.
        if final or self._extra_items:
            nlines = buf.count(b"\n", a, e)
            if nlines != lay.n_atoms:
                if last and final and (nlines < lay.n_atoms or buf[e - 1:e] != b"\n"):
                    return a, -1, p
                raise DumpFormatError(
                    f"{self.where(k, int(m.group(1)))}: {nlines} atom lines but NUMBER OF "
                    f"ATOMS is {lay.n_atoms}")
        return a, e, p

    def _check_header(self, m: re.Match, k: int) -> None:
        if m.group(2, 7) == self._expect:
            return
        lay = self.layout
        ts, nat = int(m.group(1)), int(m.group(2))
        if nat != lay.n_atoms:
            raise DumpFormatError(
                f"{self.where(k, ts)}: NUMBER OF ATOMS is {nat}, first frame had "
                f"{lay.n_atoms}; atoms appearing/disappearing are not supported")
        if m.group(7) != lay.atoms_header:
            raise DumpFormatError(
                f"{self.where(k, ts)}: columns changed to {m.group(7).decode().split()}")

    def _box(self, m: re.Match) -> tuple[np.ndarray, np.ndarray]:
        key = m.group(3, 4, 5, 6)
        box = self._box_cache.get(key)
        if box is None:  # NVT dumps repeat the same box text: parse it once
            box = parse_box(key[0], key[1:])
            if len(self._box_cache) < _BOX_CACHE_MAX:
                self._box_cache[key] = box
        return box

    def _truncated(self, k: int) -> None:
        self.truncated = True
        msg = f"{self.where(k)}: file is truncated (incomplete last frame)"
        if self.on_truncated == "error":
            raise DumpFormatError(msg + "; pass on_truncated='drop' to ignore it")
        self.notes.append(msg + "; dropped")

    def _make_scan(self, buf: bytearray, kept: list) -> Scan:
        mv = memoryview(buf)
        frames, starts, ends, timesteps, boxes = zip(*kept)
        return Scan(np.array(frames, dtype=np.int64), np.array(timesteps).astype(np.int64),
                    np.array([b[0] for b in boxes]), np.array([b[1] for b in boxes]),
                    [mv[a:e] for a, e in zip(starts, ends)],
                    [e - a for a, e in zip(starts, ends)], buf,
                    np.column_stack([starts, ends]).astype(np.int64).reshape(-1, 2))

    def _init_layout(self, buf: bytearray, m: re.Match, end: int) -> None:
        columns = [c.decode() for c in m.group(7).split()]
        n_atoms = int(m.group(2))
        e = buf.find(b"ITEM:", m.end(), end)
        lines = bytes(buf[m.end(): end if e < 0 else e]).splitlines()
        if not lines:
            raise DumpFormatError(f"{self.path}: first frame has no atom lines")
        self.layout = layout_from_first_frame(columns, n_atoms, lines[0], m.group(7))
        self.first_atoms = [ln.split() for ln in lines[:n_atoms]]
        self._expect = (m.group(2), m.group(7))
        self._extra_items = buf.find(b"ITEM: TIME\n", 0, end) >= 0 \
            or buf.find(b"ITEM: TIME\r\n", 0, end) >= 0
