"""``read_dump``: a LAMMPS text dump (optionally gzipped) into an unwrapped ``Trajectory``.

The reader streams the file in chunks of whole frames (bounded memory), parses the
numeric atom lines with the tokenizer, sorts atoms by id, unwraps them and writes the
positions straight into the ``.npy`` cache that is returned memory-mapped (or into RAM).
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .atoms import AtomIndex, atom_labels, gather_xyz
from .dump_blocks import DumpFile, iter_chunks
from .dump_cache import CacheSink, cache_dir as _cache_dir, load_cache, source_key
from .frame_scan import FrameScanner, Scan
from .memory_sink import MemorySink
from .tokenizer import choose_tokenizer
from .trajectory import DumpFormatError, Trajectory
from .unwrap import Unwrapper

_BLOCK_BYTES = 32 * 1024 * 1024  # bytes of text parsed per chunk (bounded memory)
_GZIP_RATIO = 3  # typical text / gzip size of a dump: a first guess of the frame count only


class DumpReader:
    """One pass over a dump, in file order: each chunk's headers are scanned here, its
    atom lines parsed (in background threads or worker processes for large files),
    then its atoms sorted by id, checked, unwrapped and handed to the sink.

    Explicit state: the scanner (layout, frame count), the atom index (ids, types),
    the unwrapper (its mode and the frame the next chunk continues from), the first
    frame's box, and the per-frame timesteps and boxes collected so far."""

    def __init__(self, path: Path, sink: CacheSink | MemorySink, *, npt_unwrap: str,
                 type_to_element: dict | None, on_truncated: str, block_bytes: int,
                 workers: int):
        self.path = path
        self.sink = sink
        self.npt_unwrap = npt_unwrap
        self.type_to_element = type_to_element
        self.block_bytes = block_bytes
        self.workers = workers
        self.scanner = FrameScanner(path, on_truncated)
        self.tokenizer = choose_tokenizer()
        self.atoms: AtomIndex | None = None
        self.unwrapper: Unwrapper | None = None
        self.box0: tuple[np.ndarray, np.ndarray] | None = None  # cell, origin of frame 0
        self.box_varies = False
        self.notes: list[str] = []  # for the caller to warn about
        self._timesteps: list[np.ndarray] = []
        self._cells: list[np.ndarray] = []
        self._origins: list[np.ndarray] = []
        self._spare: list[np.ndarray] = []  # tokenizer output buffers, reused
        self._pool = None
        self._depth = 1  # blocks parsed ahead of the one being unwrapped and written
        self._pending: collections.deque = collections.deque()
        self._gzipped = False

    def read(self) -> Trajectory:
        try:
            self._start_pool()
            with DumpFile(self.path) as dump:
                self._gzipped = dump.gzipped
                # A chunk's buffer must outlive its parse: one buffer per block in flight.
                for buf, end, last in iter_chunks(dump.fill, self.block_bytes, self._depth + 1):
                    scan = self.scanner.scan(buf, end, last)
                    del buf
                    self._submit(scan)
                self._drain(keep=0)
                self._check_cut_short(dump)
            return self._result()
        finally:
            self._close()

    def _start_pool(self) -> None:
        size = self.path.stat().st_size
        if self.workers > 1 and size > 4 * self.block_bytes:
            # Numeric parsing (the bulk) runs in worker processes while this process
            # scans headers, unwraps and writes.  Fork before any thread exists.
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("fork"))
            self._pool.submit(int).result()
            self._depth = self.workers
        elif size > 2 * self.block_bytes:
            # Background threads: the tokenizers release the GIL, so parsing blocks k and
            # k+1 overlaps with reading/scanning the next block and unwrapping/writing
            # block k-1 here (no text is copied between processes).
            self._depth = 2 if (os.cpu_count() or 1) > 1 else 1
            self._pool = ThreadPoolExecutor(self._depth)

    def _submit(self, scan: Scan | None) -> None:
        lay, tok = self.scanner.layout, self.tokenizer
        if scan is None:
            # Nothing to parse, but the chunk's buffer is in the rotation all the same: it
            # holds a place in the queue so that no buffer is refilled while being parsed.
            if self._pool is not None:
                self._pending.append((None, None))
                self._drain(keep=self._depth)
            return
        if self._pool is None:
            self._finish(scan, tok.parse(scan.buf, scan.spans, scan.frames, lay, self.path,
                                         self._spare))
            return
        # Worker processes get the text; threads read the buffer in place.
        if isinstance(self._pool, ProcessPoolExecutor):
            fut = self._pool.submit(tok.parse_text, b"".join(scan.parts), scan.lengths,
                                    scan.frames, lay, self.path)
        else:
            fut = self._pool.submit(tok.parse, scan.buf, scan.spans, scan.frames, lay,
                                    self.path, self._spare)
        self._pending.append((scan, fut))
        self._drain(keep=self._depth)

    def _drain(self, keep: int) -> None:
        while len(self._pending) > keep:
            scan, fut = self._pending.popleft()
            if scan is not None:
                self._finish(scan, fut.result())  # parse errors (DumpFormatError) surface here

    def _finish(self, scan: Scan, parsed: tuple[list[np.ndarray], np.ndarray | None]) -> None:
        data, flat = parsed
        lay = self.scanner.layout
        _check_row_count(self.path, scan, data, lay.n_atoms)
        col = {k: [data[j] for j in js] for k, js in lay.pos.items()}
        if self.atoms is None:
            self._start(scan, col["id"][0][:lay.n_atoms])
        self._track_box(scan)
        order = self.atoms.order(col["id"][0], scan.frames, scan.timesteps)
        if "type" in col:
            self.atoms.check_types(col["type"][0], order, scan.frames, scan.timesteps)
        self.sink.write(self._unwrapped(scan, col, order))
        self._timesteps.append(scan.timesteps)
        self._cells.append(scan.cells)
        self._origins.append(scan.origins)
        if flat is not None:
            self._spare.append(flat)  # the columns were copied out above: reuse their memory

    def _start(self, scan: Scan, first_ids: np.ndarray) -> None:
        """State fixed by the first frame: atoms, unwrapping, reference box."""
        self.atoms = AtomIndex(self.path, first_ids)
        self.unwrapper = Unwrapper(self.scanner.layout, self.npt_unwrap)
        self.box0 = (scan.cells[0], scan.origins[0])
        per_frame = scan.spans[-1, 1] / len(scan.frames)  # text bytes, header included
        text_bytes = self.path.stat().st_size * (_GZIP_RATIO if self._gzipped else 1)
        self.sink.expect(int(text_bytes / per_frame) + 1)

    def _check_cut_short(self, dump: DumpFile) -> None:
        """A gzip stream that just stops (a killed run) is a truncation even when the cut
        falls between frames, where the text itself looks complete."""
        if not dump.cut_short or self.scanner.truncated:
            return  # a cut inside a frame was handled by the scanner
        msg = (f"{self.path}: the gzip stream ends without its end marker after frame "
               f"{self.scanner.frame - 1} (file truncated, e.g. by a killed run)")
        if self.scanner.on_truncated == "error":
            raise DumpFormatError(msg + "; pass on_truncated='drop' to keep the complete frames")
        self.notes.append(msg + "; kept the complete frames")

    def _track_box(self, scan: Scan) -> None:
        """Switch the unwrapping (from this chunk on) when the box is first seen to change."""
        if self.box_varies:
            return
        cell0, origin0 = self.box0
        if not (np.array_equal(scan.cells, np.broadcast_to(cell0, scan.cells.shape))
                and np.array_equal(scan.origins, np.broadcast_to(origin0, scan.origins.shape))):
            self.box_varies = True
            self.unwrapper.box_changed()

    def _unwrapped(self, scan: Scan, col: dict, order: np.ndarray | None) -> np.ndarray:
        lay, unwrap = self.scanner.layout, self.unwrapper
        nf, na = len(scan.frames), lay.n_atoms
        out = self.sink.buffer(nf, na) if unwrap.passthrough else None
        r = gather_xyz(col["x"], order, nf, na, out)
        _check_finite(self.path, scan, r)
        if lay.scaled:
            r = scan.origins[:, None] + np.einsum("fai,fij->faj", r, scan.cells)
        img = gather_xyz(col["img"], order, nf, na) if lay.has_images else None
        u = unwrap(r, img, scan.cells, scan.origins)
        return np.ascontiguousarray(u, dtype=np.float64)

    def _result(self) -> Trajectory:
        if self.atoms is None:
            raise DumpFormatError(f"{self.path}: no " + (
                "complete frames found" if self.scanner.truncated else "frames found"))
        self.unwrapper.check_minimum_image(self.path)  # before a cache is published
        timesteps = np.concatenate(self._timesteps)
        cells = np.concatenate(self._cells)
        origins = np.concatenate(self._origins)
        lay = self.scanner.layout
        ids = self.atoms.ids
        elements, types = atom_labels(lay, self.scanner.first_atoms, ids, self.type_to_element)
        meta = dict(cells=cells, origins=origins, timesteps=timesteps, ids=ids,
                    elements=elements, types=types if types is not None else np.zeros(0, np.int64),
                    has_types=types is not None)
        positions = self.sink.publish(timesteps.size, lay.n_atoms, meta)
        self.notes += self.scanner.notes + _repeat_notes(self.path, self.scanner.repeats)
        return Trajectory(positions, cells, origins, timesteps, ids, elements, types,
                          str(self.path))

    def _close(self) -> None:
        for _, fut in self._pending:
            if fut is not None:
                fut.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self.sink.close()


def _repeat_notes(path: Path, repeats: list[tuple[int, int]]) -> list[str]:
    if not repeats:
        return []
    shown = ", ".join(f"frame {k} (timestep {t})" for k, t in repeats[:5])
    more = f" and {len(repeats) - 5} more" if len(repeats) > 5 else ""
    return [f"{path}: dropped {len(repeats)} frame(s) that repeat the TIMESTEP of the frame "
            f"before: {shown}{more}; a run continued from a restart file dumps its first step "
            "again"]


def _check_row_count(path: Path, scan: Scan, data: list[np.ndarray], n_atoms: int) -> None:
    if len(data[0]) != len(scan.lengths) * n_atoms:
        counts = [bytes(p).count(b"\n") for p in scan.parts]
        k = next((i for i, c in enumerate(counts) if c != n_atoms), 0)
        raise DumpFormatError(
            f"{path}: frame {scan.frames[k]} has {counts[k]} atom lines but NUMBER OF "
            f"ATOMS is {n_atoms}")


def _check_finite(path: Path, scan: Scan, r: np.ndarray) -> None:
    if not np.isfinite(r.sum()) and not np.isfinite(r).all():  # sum: one cheap pass
        bad = np.flatnonzero(~np.isfinite(r).all(axis=(1, 2)))[0]
        raise DumpFormatError(
            f"{path}: frame {scan.frames[bad]}, timestep {scan.timesteps[bad]}: missing or "
            "non-numeric (nan/inf) positions")


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
        dump of a still-running or killed simulation; for gzip also a stream
        cut between frames), keeping the complete frames with a warning.
    block_bytes : text parsed per chunk; memory use is a few times this
        (times the number of workers).
    workers : processes parsing numbers in parallel; 1 (default) parses in this
        process (with two background threads for files larger than 2 blocks).
        Used for files larger than 4 blocks.  Shipping text to the workers
        costs extra CPU, so this pays only on idle cores.

    Raises ``DumpFormatError`` for malformed, truncated or corrupt (gzip) files,
    missing columns, atoms appearing, disappearing or changing type between
    frames, and wrapped positions without image flags whose atoms move so far
    between frames (more than 0.4 of a box vector in over 0.1 % of the moves)
    that the minimum-image unwrapping is ambiguous.  Frames that repeat the
    TIMESTEP of the frame before (a run continued from a restart) are dropped
    with a warning.
    """
    path = Path(path)
    if npt_unwrap not in ("toroidal", "lammps"):
        raise ValueError("npt_unwrap must be 'toroidal' or 'lammps'")
    if on_truncated not in ("error", "drop"):
        raise ValueError("on_truncated must be 'error' or 'drop'")
    key = source_key(path, npt_unwrap, type_to_element)
    cdir = _cache_dir(path, cache_dir)
    if cache:
        traj = load_cache(cdir, key, path)
        if traj is not None:
            return traj
    reader = DumpReader(path, CacheSink(cdir, key) if cache else MemorySink(),
                        npt_unwrap=npt_unwrap, type_to_element=type_to_element,
                        on_truncated=on_truncated, block_bytes=block_bytes, workers=workers)
    traj = reader.read()
    for note in reader.notes:
        warnings.warn(note, stacklevel=2)
    return traj
