"""The sweep's progress display: its numbers (rate, ETA), both output modes, the workers' progress files, and a
real sweep that reports through it."""
from __future__ import annotations

import io
import json

import pytest
from conftest import morse_standin_lines

from lmpflow.potentials.potential import Potential
from lmpflow.system.structures import SPECIES
from lmpflow.workflows.progress import (
    PointStatus,
    RunProgressFile,
    Snapshot,
    SweepProgress,
    format_duration,
    read_run_progress,
    status_lines,
)

SNAP = Snapshot(done=3, running=2, left=5, failed=1, steps_done=12_000, steps_left=30_000, projected_runs=4,
                points=[PointStatus("pbe", 600.0, 8, 16, 0.025, 0.01, "running"),
                        PointStatus("pbe", 900.0, 8, 8, 0.008, 0.01, "target reached")])


def test_status_lines_give_counts_rate_eta_and_point_errors():
    head, p600, p900 = status_lines(SNAP, elapsed_s=60.0)
    assert head.startswith("runs 3/10 done, 2 running, 5 left, 1 failed")
    assert "200 MD steps/s" in head  # 12 000 steps in 60 s
    assert "ETA 2 min 30 s" in head  # 30 000 steps left at 200/s
    assert "~4 more runs" in head
    assert p600 == "  pbe 600 K: 8/16 seeds, rel. error of D 2.50% (target 1.00%), running"
    assert p900.endswith("0.80% (target 1.00%), target reached")
    # before any step has run there is no rate, hence no ETA
    assert "ETA –" in status_lines(Snapshot(done=0, running=1, left=3, steps_left=100), 5.0)[0]
    assert [format_duration(s) for s in (7, 65, 3 * 3600 + 7 * 60)] == ["7 s", "1 min 05 s", "3 h 07 min"]


def test_log_mode_prints_status_every_interval_and_at_close():
    now = [0.0]
    out = io.StringIO()
    disp = SweepProgress(out, live=False, every_s=30.0, clock=lambda: now[0])
    disp.message("run 1 done")
    now[0] = 10.0
    disp.update(SNAP)  # within the interval: quiet
    assert out.getvalue() == "run 1 done\n"
    now[0] = 31.0
    disp.update(SNAP)
    assert out.getvalue().count("MD steps/s") == 1 and "pbe 600 K" in out.getvalue()
    disp.close(SNAP)
    assert out.getvalue().count("MD steps/s") == 2


def test_live_mode_redraws_in_place_with_tqdm():
    out = io.StringIO()
    disp = SweepProgress(out, live=True, clock=lambda: 60.0)
    disp.t0 = 0.0
    disp.update(SNAP)
    disp.message("pbe 600 K seed 3: D = 1e-5")
    disp.close(SNAP)
    text = out.getvalue()
    assert "runs 3/10 done" in text and "rel. error of D 2.50%" in text and "pbe 600 K seed 3" in text
    assert "\r" in text or "\x1b[" in text  # redrawn, not appended


def test_live_mode_on_a_terminal_that_reports_no_size():
    # a fresh pty is 0 × 0, like a terminal under `script` or some CI runners: tqdm would draw nothing
    import os
    import pty

    master, slave = pty.openpty()
    stream = open(slave, "w", encoding="utf-8")
    try:
        disp = SweepProgress(stream, clock=lambda: 60.0)
        assert disp.live  # chosen because the stream is a terminal
        disp.t0 = 0.0
        disp.update(SNAP)
        disp.close(SNAP)
        stream.flush()
        os.set_blocking(master, False)
        text = os.read(master, 1 << 16).decode("utf-8", "replace")
    finally:
        stream.close()
        os.close(master)
    assert "runs 3/10 done" in text and "pbe 600 K: 8/16 seeds" in text


def test_run_progress_file_is_throttled_and_readable(tmp_path):
    assert read_run_progress(tmp_path) is None
    cb = RunProgressFile(tmp_path, every_s=3600)
    cb.started()
    assert read_run_progress(tmp_path) == -1
    cb(100, 1000)  # within the interval: not written
    assert read_run_progress(tmp_path) == -1
    cb(1000, 1000)  # the last step always is
    assert read_run_progress(tmp_path) == 1000
    assert json.loads((tmp_path / "progress.json").read_text()) == {"step": 1000, "total": 1000}


def test_sweep_reports_through_one_display(tmp_path, cell52, capfd):
    from lmpflow.workflows.sweep import run_sweep

    pot = Potential.classical(morse_standin_lines(), SPECIES, label="morse")
    run_sweep([pot], [800], 2, tmp_path, cell52, workers=2, plots=False, steps=1000, eq_steps=200, dump_every=20)
    err = capfd.readouterr().err
    assert "sweep " in err and "2 to run" in err
    assert err.count("morse 800 K seed") == 2  # one line per finished run
    final = [ln for ln in err.splitlines() if ln.startswith("runs ")][-1]
    assert final.startswith("runs 2/2 done, 0 running, 0 left") and "MD steps/s" in final and "ETA 0 s" in final
    rate = float(final.split(" · ")[1].split()[0])
    assert rate > 0
    for seed in (1, 2):  # the workers published their last production step
        assert read_run_progress(tmp_path / "runs" / "morse" / "T800K" / f"seed{seed}") == 1000


@pytest.mark.parametrize("target", ["0.2", "20%"])
def test_adaptive_sweep_display_shows_error_per_point(tmp_path, cell52, capfd, target):
    from lmpflow.cli import _fraction
    from lmpflow.workflows.sweep import run_sweep

    pot = Potential.classical(morse_standin_lines(), SPECIES, label="morse")
    run_sweep([pot], [800], out_dir=tmp_path, structure=cell52, workers=2, plots=False, steps=1000, eq_steps=200,
              dump_every=20, target_rel_err=_fraction(target), min_seeds=3, max_seeds=4, batch=1)
    err = capfd.readouterr().err
    assert "adaptive sweep" in err and "target relative error of D 20 %" in err
    assert "morse 800 K: 3 seeds, D = " in err  # the decision after the pilot, with its numbers
    final = err.splitlines()[err.splitlines().index(next(ln for ln in reversed(err.splitlines())
                                                            if ln.startswith("runs "))):]
    assert "MD steps/s" in final[0] and final[1].startswith("  morse 800 K: ")
    assert "rel. error of D" in final[1] and "(target 20.00%)" in final[1]
