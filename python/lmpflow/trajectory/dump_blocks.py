"""A dump file (plain or gzip) read in blocks of whole frames, with bounded memory."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Callable, Iterator

from .dump_format import TIMESTEP_ITEM
from .trajectory import DumpFormatError


class DumpFile:
    """A dump opened for binary reading; gzip is recognised by its magic bytes, not its name.

    ``fill`` never raises for a gzip stream that just stops (what a killed run leaves):
    it returns what could be decompressed and sets ``cut_short``, so that the caller can
    keep the complete frames.  Corrupt gzip data raises ``DumpFormatError``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            self.gzipped = fh.read(2) == b"\x1f\x8b"
        self._fh = gzip.open(self.path, "rb") if self.gzipped else open(self.path, "rb")
        self.cut_short = False  # the gzip stream ended before its end-of-stream marker
        self.text_bytes = 0  # (decompressed) bytes read so far

    def __enter__(self) -> "DumpFile":
        return self

    def __exit__(self, *exc) -> None:
        self._fh.close()

    def fill(self, view: memoryview) -> int:
        """Fill ``view``; returns the bytes read (fewer only at the end of the data)."""
        got = self._fill_gzip(view) if self.gzipped else self._fill_plain(view)
        self.text_bytes += got
        return got

    def _fill_plain(self, view: memoryview) -> int:
        got = 0
        while got < len(view):
            n = self._fh.readinto(view[got:])
            if not n:
                break
            got += n
        return got

    def _fill_gzip(self, view: memoryview) -> int:
        # readinto1 decompresses one input buffer per call: an EOFError then loses no text,
        # whereas a large readinto discards everything it decompressed before the error.
        got = 0
        while got < len(view) and not self.cut_short:
            try:
                n = self._fh.readinto1(view[got:])
            except EOFError:
                self.cut_short = True
                break
            except (gzip.BadGzipFile, zlib.error) as exc:
                raise DumpFormatError(
                    f"{self.path}: corrupt gzip data after {self.text_bytes + got} bytes of "
                    f"text ({exc}); the file is damaged: copy it again from the run, or "
                    "recover the readable part with `gzip -dc file > file.txt`") from exc
            if not n:
                break
            got += n
        return got


def iter_chunks(fill: Callable[[memoryview], int], block_bytes: int,
                n_buffers: int = 2) -> Iterator[tuple[bytearray, int, bool]]:
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
            n = fill(view[have:])
        end = have + n
        if end < len(buf):  # end of file
            if end:
                yield buf, end, True
            return
        cut = buf.rfind(TIMESTEP_ITEM)
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
