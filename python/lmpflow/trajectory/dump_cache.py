"""The cache of a read dump: ``<dump>.lmpflow/positions.npy`` (memory-mapped) and metadata.

A later read of an unchanged dump (same size and mtime, same options) loads the cache
instead of parsing.  Positions are written while the dump is read, then published by
renames, so a cache is either complete or absent.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from lmpflow._host import atomic_write_text, publish

from .trajectory import Trajectory

CACHE_VERSION = 1
NPY_HEADER_BYTES = 128  # fixed-size .npy header, rewritten once the frame count is known


def cache_dir(path: Path, cache_dir: str | os.PathLike | None) -> Path:
    if cache_dir is None:
        return path.with_name(path.name + ".lmpflow")
    return Path(cache_dir) / (path.name + ".lmpflow")


def source_key(path: Path, npt_unwrap: str, type_to_element: dict | None) -> dict:
    st = path.stat()
    return {"version": CACHE_VERSION, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "npt_unwrap": npt_unwrap,
            "type_to_element": {str(k): v for k, v in (type_to_element or {}).items()}}


def load_cache(cdir: Path, key: dict, path: Path) -> Trajectory | None:
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


def write_npy_header(fh, shape: tuple[int, ...]) -> None:
    d = "{'descr': '<f8', 'fortran_order': False, 'shape': %r, }" % (tuple(shape),)
    head = b"\x93NUMPY\x01\x00"
    body = d.encode("latin1")
    pad = NPY_HEADER_BYTES - len(head) - 2 - len(body) - 1
    if pad < 0:
        raise ValueError("shape too long for the fixed .npy header")
    fh.write(head + np.uint16(len(body) + pad + 1).tobytes() + body + b" " * pad + b"\n")


class CacheSink:
    """Positions streamed to ``positions.npy.part`` by a background thread (disk writes
    overlap parsing), at most one block in flight: bounded memory."""

    def __init__(self, cdir: Path, key: dict):
        self.cdir = cdir
        self.key = key
        cdir.mkdir(parents=True, exist_ok=True)
        self._part = cdir / "positions.npy.part"
        self._fh = open(self._part, "wb")
        self._fh.write(b"\0" * NPY_HEADER_BYTES)
        self._writer = ThreadPoolExecutor(1)
        self._pending: Future | None = None
        # Blocks are assembled in one of two reused buffers (one may still be being
        # written): no fresh memory to fault in per block.
        self._spaces = [np.empty(0), np.empty(0)]

    def buffer(self, n_frames: int, n_atoms: int) -> np.ndarray:
        """Scratch (frames, atoms, 3) array for the next block, valid until the one after."""
        need = 3 * n_frames * n_atoms
        if self._spaces[0].size < need:  # slack: blocks hold slightly different frame counts
            self._spaces[0] = np.empty(need + need // 8)
        self._spaces.append(self._spaces.pop(0))
        return self._spaces[-1][:need].reshape(n_frames, n_atoms, 3)

    def write(self, u: np.ndarray) -> None:
        if self._pending is not None:
            self._pending.result()
        self._pending = self._writer.submit(self._fh.write, memoryview(u).cast("B"))

    def expect(self, n_frames: int) -> None:
        """The number of frames the dump probably holds (the file grows as needed)."""

    def publish(self, n_frames: int, n_atoms: int, meta: dict) -> np.ndarray:
        """Complete the cache (header, metadata, key) and return the memory-mapped positions."""
        self._flush()
        self._fh.seek(0)
        write_npy_header(self._fh, (n_frames, n_atoms, 3))
        self._fh.close()
        self._fh = None
        np.savez(self.cdir / "meta.npz.part.npz", **meta)
        publish(self._part, self.cdir / "positions.npy")
        publish(self.cdir / "meta.npz.part.npz", self.cdir / "meta.npz")
        atomic_write_text(self.cdir / "key.json", json.dumps(self.key))  # last: it makes the cache valid
        return np.load(self.cdir / "positions.npy", mmap_mode="r")

    def close(self) -> None:
        """Release the writer; a cache not published is removed."""
        if self._pending is not None:
            self._pending.cancel()
        self._writer.shutdown(wait=True)
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            try:
                os.remove(self._part)
            except OSError:
                pass

    def _flush(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None
