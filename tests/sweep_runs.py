"""Helpers for the tests that kill a running sweep and restart it."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def result_stats(out: Path) -> dict:
    """{run's result.json: (inode, mtime)}: what a restart must leave untouched."""
    return {str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("runs/**/result.json")}


def kill_after_results(cmd: list[str], env: dict, out: Path, n_results: int, timeout_s: float = 120) -> None:
    """Start the sweep `cmd` and SIGKILL its whole process group once `n_results` runs have finished."""
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        t0 = time.monotonic()
        while len(list(out.glob("runs/**/result.json"))) < n_results:
            assert proc.poll() is None, f"sweep exited early: {proc.stderr.read().decode()[-2000:]}"
            assert time.monotonic() - t0 < timeout_s, f"{n_results} runs did not finish within {timeout_s} s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
