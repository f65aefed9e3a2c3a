"""Numbers of the atom lines: the compiled tokenizer (``liblmpflow_dump.so``) or pandas.

The choice is made once per read (``choose_tokenizer``): the compiled tokenizer, built
from ``cpp/dump_parser``, when it is found — next to the package (wheel), through
``LMPFLOW_DUMP_LIB``, or in the build folder of a source checkout — and pandas' C
tokenizer otherwise.  ``LMPFLOW_DUMP_NATIVE=0`` (or ``_NATIVE_ENABLED = False``) forces
pandas.  Both release the GIL, so background threads parse while the reader unwraps.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from .dump_format import Layout
from .trajectory import DumpFormatError

_NATIVE_LIB_NAME = "liblmpflow_dump.so"
_NATIVE_ABI = 1
_NATIVE_ENABLED = os.environ.get("LMPFLOW_DUMP_NATIVE", "1").strip().lower() not in (
    "0", "false", "no", "off")
_native_state: dict = {}
_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # .../lmpflow


def native_parser_path() -> Path | None:
    """Path of the compiled atom-line tokenizer ``liblmpflow_dump.so`` that
    ``read_dump`` uses, or None when it is not found (or disabled with
    ``LMPFLOW_DUMP_NATIVE=0``) and pandas' tokenizer is used instead."""
    return _native_state["path"] if _native_lib() is not None else None


def _native_candidates() -> list[Path]:
    env = os.environ.get("LMPFLOW_DUMP_LIB")
    if env:
        return [Path(env)]
    found = [_PACKAGE_DIR / "lib" / _NATIVE_LIB_NAME]
    build = _PACKAGE_DIR.parent.parent / "build"  # source checkout: <repo>/python/lmpflow
    found.append(build / _NATIVE_LIB_NAME)
    found += sorted(build.glob(f"*/{_NATIVE_LIB_NAME}"))  # scikit-build's build/{wheel_tag}
    return found


def _load_native(path: Path):
    """The library at ``path`` with its entry point declared; raises OSError if unusable."""
    try:
        lib = ctypes.CDLL(str(path))
        abi = lib.lmpflow_dump_abi_version()
    except AttributeError as exc:
        raise OSError(str(exc)) from exc
    if abi != _NATIVE_ABI:
        raise OSError(f"ABI version {abi}, expected {_NATIVE_ABI}")
    f = lib.lmpflow_parse_atom_lines
    f.restype = ctypes.c_int64
    f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                  ctypes.c_int32, ctypes.c_void_p, ctypes.c_int32, ctypes.c_void_p,
                  ctypes.c_int64, ctypes.c_void_p]
    return lib


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
            lib = _load_native(cand)
        except OSError as exc:
            warnings.warn(f"cannot use the dump tokenizer {cand} ({exc}); rebuild it with "
                          "`cmake --build build --target lmpflow_dump`. Falling back to pandas "
                          "(slower).", stacklevel=3)
            continue
        _native_state["path"] = cand
        break
    else:
        if os.environ.get("LMPFLOW_DUMP_LIB"):
            warnings.warn(f"LMPFLOW_DUMP_LIB={cands[0]} is not a file; falling back to pandas "
                          "to parse dumps (slower)", stacklevel=3)
    _native_state["lib"] = lib
    return lib


def choose_tokenizer() -> "Tokenizer":
    """The tokenizer for one read, loaded here (not racing in parser threads or workers)."""
    return Tokenizer(native_parser_path())


@dataclasses.dataclass(frozen=True)
class Tokenizer:
    """Parses the ``layout.usecols`` columns of atom lines; ``native_path`` None means pandas.

    A plain value, so that worker processes receive it with the work."""

    native_path: Path | None

    def parse(self, buf, spans: np.ndarray, frames: Sequence[int], lay: Layout, path: Path,
              spare: list | None = None) -> tuple[list[np.ndarray], np.ndarray | None]:
        """The columns of the atom lines ``buf[a:e]`` for (a, e) in ``spans`` (one span per
        frame, ``frames`` their file indices) as float64 arrays in ``usecols`` order, and
        the flat buffer holding them (None from pandas) for the caller to put in ``spare``
        once done with them: reused buffers save faulting in fresh pages every block.

        Raises ``DumpFormatError`` naming the frame of a bad line."""
        if self.native_path is not None:
            return _parse_native(self._lib(), buf, spans, frames, lay, path, spare)
        return _parse_pandas(buf, spans, frames, lay, path), None

    def parse_text(self, text: bytes, lengths: list[int], frames: Sequence[int], lay: Layout,
                   path: Path) -> tuple[list[np.ndarray], None]:
        """``parse`` of the joined atom text of consecutive frames (worker processes)."""
        ends = np.cumsum(np.asarray(lengths, dtype=np.int64))
        spans = np.column_stack([ends - np.asarray(lengths, dtype=np.int64), ends])
        return self.parse(text, spans, frames, lay, path)[0], None

    def _lib(self):
        lib = _native_state.get("lib")
        if lib is None or _native_state.get("path") != self.native_path:
            lib = _load_native(self.native_path)  # a process that did not choose it itself
        return lib


def _parse_native(lib, buf, spans: np.ndarray, frames: Sequence[int], lay: Layout, path: Path,
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
    raise _native_error(code, err.tolist(), text, frames, lay, path)


def _native_error(code: int, err: list[int], text: np.ndarray, frames: Sequence[int],
                  lay: Layout, path: Path) -> Exception:
    part, line, a, b, c = err
    k = frames[part]
    if code == -3:
        return DumpFormatError(f"{path}: frame {k} has {a} atom lines but NUMBER OF ATOMS is "
                               f"{lay.n_atoms}")
    where = f"{path}: bad atom line in frame {k} (atom line {line + 1} of the frame)"
    if code in (-1, -4):
        token = bytes(text[b:b + c]).decode("ascii", "replace")
        what = "nan" if code == -4 else "not a number"
        return DumpFormatError(f"{where}: column '{lay.columns[a]}' is {token!r} ({what})")
    if code == -2:
        shown = bytes(text[b:b + min(c, 200)]).decode("ascii", "replace")
        return DumpFormatError(
            f"{where}: {a} fields, but ITEM: ATOMS names {len(lay.columns)} columns "
            f"({' '.join(lay.columns)}): {shown!r}")
    return RuntimeError(f"internal: dump tokenizer returned {code} (err {err})")


class _FramesReader:
    """Binary file-like view of the atom lines of many frames (pieces of the read
    buffer), so pandas streams them without a joined copy."""

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


def _parse_pandas(buf, spans: np.ndarray, frames: Sequence[int], lay: Layout,
                  path: Path) -> list[np.ndarray]:
    """The columns as pandas made them (no copy); the caller interleaves the positions
    once, straight into the output layout."""
    import pandas as pd  # only when the compiled tokenizer is missing: a slow import

    mv = memoryview(buf)
    src = _FramesReader([mv[a:e] for a, e in spans.tolist()])
    try:
        df = pd.read_csv(src, sep=lay.sep, header=None, usecols=lay.usecols,
                         dtype=np.float64, na_filter=False, engine="c")
    except (ValueError, pd.errors.ParserError) as exc:
        raise DumpFormatError(
            f"{path}: bad atom line in frames {frames[0]}..{frames[-1]}: {exc}") from exc
    return [df[c].to_numpy() for c in lay.usecols]
