"""One progress display for a whole sweep: runs done / running / left, MD steps per second, ETA and, for
adaptive sweeps, the current error of D at every point.

Workers report their production step through a small file in their run directory (`RunProgressFile`,
written atomically at most every few seconds), so the display works the same for a local process pool and
for dask workers on other hosts that share the sweep directory. On a terminal the display redraws in place
(tqdm); in a log file it prints a status block every `every_s` seconds, so a long sweep is never silent.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Sequence, TextIO

from lmpflow._host import atomic_write_text

PROGRESS_NAME = "progress.json"


class RunProgressFile:
    """Worker side: a progress callback (step, total) that publishes run_dir/progress.json at most every
    `every_s` seconds and at the last step. Picklable, so it travels to process-pool and dask workers."""

    def __init__(self, run_dir: str | os.PathLike, every_s: float = 2.0):
        self.path = str(Path(run_dir) / PROGRESS_NAME)
        self.every_s = float(every_s)
        self._last = -math.inf

    def __call__(self, step: int, total: int) -> None:
        now = time.monotonic()
        if step < total and now - self._last < self.every_s:
            return
        self._last = now
        try:
            atomic_write_text(self.path, json.dumps({"step": int(step), "total": int(total)}))
        except OSError:  # progress is best effort; the run must not fail for it
            pass

    def started(self) -> None:
        """Mark the run as running (equilibration; no production step yet)."""
        self(-1, 1)


def read_run_progress(run_dir: str | os.PathLike) -> int | None:
    """Production step a run last reported (-1: started, still equilibrating), or None if it has not started."""
    try:
        return int(json.loads((Path(run_dir) / PROGRESS_NAME).read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclasses.dataclass(frozen=True)
class PointStatus:
    """One (label, T) point of an adaptive sweep, as displayed."""

    label: str
    T_K: float
    n_done: int
    planned: int
    rel_err: float
    target_rel_err: float
    status: str


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The state of a sweep at one moment. steps_* count MD steps (equilibration + production) of this
    session's runs; projected_runs are the runs an adaptive sweep expects beyond the planned ones."""

    done: int
    running: int
    left: int
    failed: int = 0
    steps_done: int = 0
    steps_left: int = 0
    projected_runs: int = 0
    points: Sequence[PointStatus] = ()


def format_duration(seconds: float) -> str:
    """'45 s', '12 min 05 s', '3 h 07 min'; '–' when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "–"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def eta_s(snap: Snapshot, elapsed_s: float) -> tuple[float, float]:
    """(MD steps per second so far in this session, seconds left at that rate; inf when no rate yet)."""
    rate = snap.steps_done / elapsed_s if elapsed_s > 0 else 0.0
    if snap.steps_left <= 0:
        return rate, 0.0
    return rate, (snap.steps_left / rate if rate > 0 else math.inf)


def status_lines(snap: Snapshot, elapsed_s: float) -> list[str]:
    """The display's text: a header line, then one line per adaptive point."""
    rate, left_s = eta_s(snap, elapsed_s)
    total = snap.done + snap.running + snap.left
    head = f"runs {snap.done}/{total} done, {snap.running} running, {snap.left} left"
    if snap.failed:
        head += f", {snap.failed} failed"
    head += f" · {rate:.3g} MD steps/s · elapsed {format_duration(elapsed_s)} · ETA {format_duration(left_s)}"
    if snap.projected_runs:
        head += f" (incl. ~{snap.projected_runs} more runs the error projection expects)"
    lines = [head]
    for p in snap.points:
        err = f"{p.rel_err:.2%}" if math.isfinite(p.rel_err) else "–"
        lines.append(f"  {p.label} {p.T_K:g} K: {p.n_done}/{p.planned} seeds, rel. error of D {err} "
                     f"(target {p.target_rel_err:.2%}), {p.status}")
    return lines


class SweepProgress:
    """The display. `message(text)` prints a line (e.g. a finished run); `update(snapshot)` refreshes the
    status; `close(snapshot)` prints the final status. live: redraw in place (default: when the stream is a
    terminal); otherwise a status block every `every_s` seconds."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None, every_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)()) if live is None else live
        self.every_s = float(every_s)
        self.clock = clock
        self.t0 = clock()
        self._last_print = self.t0
        self._bars: list = []
        self._closed = False

    def elapsed_s(self) -> float:
        return self.clock() - self.t0

    def message(self, text: str) -> None:
        if self.live and self._bars:
            from tqdm import tqdm

            tqdm.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def update(self, snap: Snapshot, force: bool = False) -> None:
        lines = status_lines(snap, self.elapsed_s())
        if self.live:
            self._draw(lines, snap)
        elif force or self.clock() - self._last_print >= self.every_s:
            self._last_print = self.clock()
            print("\n".join(lines), file=self.stream, flush=True)

    def _draw(self, lines: list[str], snap: Snapshot) -> None:
        from tqdm import tqdm

        total = snap.done + snap.running + snap.left
        # tqdm hides everything on a terminal that reports no size (e.g. a pty without one)
        size = shutil.get_terminal_size((120, 50))
        shape = {"ncols": size.columns or 120, "nrows": max(size.lines or 50, len(lines) + 1)}
        if not self._bars:
            self._bars.append(tqdm(total=total, file=self.stream, position=0, leave=True,
                                   bar_format="|{bar:20}| {desc}", **shape))
        while len(self._bars) < len(lines):
            self._bars.append(tqdm(total=0, file=self.stream, position=len(self._bars), leave=True,
                                   bar_format="{desc}", **shape))
        head = self._bars[0]
        head.total, head.n = max(total, 1), snap.done
        for bar, line in zip(self._bars, lines):
            bar.set_description_str(line, refresh=False)
        for bar in self._bars:
            bar.refresh()

    def close(self, snap: Snapshot | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        if snap is not None:
            self.update(snap, force=True)
        for bar in self._bars:
            bar.close()
