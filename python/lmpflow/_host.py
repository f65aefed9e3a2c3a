"""Ground floor: atomic publishing of files and finding programs. Imports nothing from lmpflow.

Every file lmpflow writes reaches its final name through `atomic_output` (written in full under a temporary
name in the same folder, fsynced, then renamed), so a reader, or a sweep restarted after a kill, sees the old
file or the complete new one, never a torn one.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix, so writers that look at it keep working); when the
    block ends without an exception, publish it as `path`, else delete it."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        publish(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Move the finished file `tmp` onto `path` in one step (fsync first, so a crash cannot publish zeros)."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` atomically (see `atomic_output`)."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically (see `atomic_output`)."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def executable(name: str) -> str | None:
    """Full path of a program (`lmp`, `mpirun`, `nequip-compile`, ...): this Python environment's own bin
    folder first (it may not be on PATH when its python is called directly), then PATH."""
    own = Path(sys.executable).with_name(name)
    if os.sep not in name and own.is_file() and os.access(own, os.X_OK):
        return str(own)
    return shutil.which(name)
