"""Ground floor: atomic publishing of files, finding and running programs, the model cache folder and file
locks. Imports nothing from lmpflow.

Every file lmpflow writes reaches its final name through `atomic_output` (written in full under a temporary
name in the same folder, fsynced, then renamed), so a reader, or a sweep restarted after a kill, sees the old
file or the complete new one, never a torn one.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
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


def run_tool(cmd: list[str], log: Path, what: str, cwd: Path | None = None, timeout: float | None = None,
             env: dict[str, str] | None = None) -> None:
    """Run `cmd` (with `env` added to the environment) with its output in `log`; on failure raise RuntimeError
    quoting the log's last lines."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **(env or {})}
    env.setdefault("PYTHONWARNINGS", "ignore")
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=cwd, env=env, timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise RuntimeError(f"{what} failed (exit {proc.returncode}); full log in {log}. Last lines:\n{tail}")


def cache_dir() -> Path:
    """Where compiled models live: $LMPFLOW_CACHE or ~/.cache/lmpflow/models."""
    root = os.environ.get("LMPFLOW_CACHE")
    path = Path(root) if root else Path.home() / ".cache" / "lmpflow" / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def file_lock(lock_path: Path, waiting_message: str | None = None):
    """Exclusive advisory lock (blocks until another process finishes the same compile; says so first if
    `waiting_message`)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting_message:
                say(f"lmpflow: {waiting_message}")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
