"""Throughput of `lmpflow.run_sweep`: N concurrent runs versus N runs one after another.

The same grid (one model, N seeds at one temperature, short production runs) is run twice in fresh
directories: with workers=1 (serial) and with workers=N (concurrent, one torch thread per run). Printed:
wall times, runs/hour, and the parallel efficiency t_serial / (N * t_parallel) (1 = perfect scaling).
Goal: >= 90 % on the cores available.

    python bench/bench_sweep.py [--workers 2] [--runs 4] [--steps 2000] [--model LABEL|PATH]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from lmpflow.potentials import registry
from lmpflow.system.structures import li6ps5cl
from lmpflow.workflows.sweep import run_sweep


def timed_sweep(model, seeds, out_dir: Path, workers: int, steps: int) -> float:
    start = time.perf_counter()
    run_sweep([model], temperatures=[700], seeds=seeds, out_dir=out_dir, structure=li6ps5cl(),
              steps=steps, eq_steps=200, timestep_ps=0.001, dump_every=20, workers=workers,
              threads_per_run=1, plots=False, progress=False)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--runs", type=int, default=None, help="runs in the grid (default 2 x workers)")
    parser.add_argument("--steps", type=int, default=2000, help="production steps per run")
    parser.add_argument("--model", default=None, help="shipped label or model file (default: the default model)")
    args = parser.parse_args()
    runs = args.runs or 2 * args.workers
    model = registry.compiled_model(args.model) if args.model else registry.default_model()
    seeds = list(range(1, runs + 1))
    with tempfile.TemporaryDirectory() as tmp:
        serial = timed_sweep(model, seeds, Path(tmp) / "serial", 1, args.steps)
        parallel = timed_sweep(model, seeds, Path(tmp) / "parallel", args.workers, args.steps)
    efficiency = serial / (args.workers * parallel)
    print(f"# run_sweep throughput, {runs} runs of {args.steps} steps (52 atoms), model {Path(model).name}, "
          f"{os.cpu_count()} cores")
    print(f"{'workers':>8}{'wall s':>10}{'runs/hour':>11}")
    print(f"{1:>8}{serial:>10.1f}{runs / serial * 3600:>11.0f}")
    print(f"{args.workers:>8}{parallel:>10.1f}{runs / parallel * 3600:>11.0f}")
    print(f"parallel efficiency (serial time / (workers x parallel time)): {efficiency:.1%}")


if __name__ == "__main__":
    main()
