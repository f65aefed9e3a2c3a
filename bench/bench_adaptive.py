"""Adaptive trajectories versus the fixed grid that reaches the same worst-point error.

The "runs" are analytic random walks (tests/random_walks.py: free Li walkers with a known D), analysed with the
sweep's own estimator (the MSD combined over a point's trajectories, workflows.tables._combined_fit) and
scheduled by the sweep's own plan (workflows.adaptive.AdaptivePlan) on W simulated workers, each run taking one
time unit (± 10 %). The points differ in noise: their runs have different numbers of Li (the per-run relative
error of D scales as 1/√N_Li). Printed per replica and on average:

* adaptive: trajectories per point, in total, the worst point's relative error of D, simulated wall time;
* the fixed grid with the same worst-point error: every point gets n_fixed = ⌈c_max² / e_worst²⌉ trajectories,
  where c_p is point p's per-trajectory relative error (calibrated on --calibration-runs runs) and e_worst the
  adaptive sweep's worst expected error max_p c_p/√n_p; its total and wall time (n_fixed · P runs on W workers);
* the ratio of trajectories (goal ≥ 1.5 when points differ in noise).

--replicas N instead checks the stopping rule: N replicas of a one-point adaptive run, with the bias of the
mean D against the truth and the coverage of the 95 % intervals (--no-margin: the same without the rule's
margin, stopping at the first look with r ≤ target, to see what the margin is for).

    python bench/bench_adaptive.py [--target 0.02] [--workers 8] [--replicas-of-sweep 20]
    python bench/bench_adaptive.py --replicas 4000 --target 0.04 [--no-margin] [--min-seeds 8]
"""
from __future__ import annotations

import argparse
import heapq
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from random_walks import D_CM2_S, random_walk_msds  # noqa: E402

from lmpflow.workflows import adaptive  # noqa: E402
from lmpflow.workflows.adaptive import AdaptivePlan, Settings  # noqa: E402
from lmpflow.workflows.tables import _combined_fit  # noqa: E402

#: Li atoms per run at each point: 2 models × 3 temperatures whose trajectories differ in noise.
POINTS = {("model-a", 600.0): 4, ("model-a", 750.0): 8, ("model-a", 900.0): 16,
          ("model-b", 600.0): 6, ("model-b", 750.0): 12, ("model-b", 900.0): 32}


def estimate(msds) -> tuple[float, float]:
    fit = _combined_fit(msds, 700.0)
    return fit["D"][0], fit["D"][1]


def per_run_rel_err(n_li: int, rng, n: int = 2000) -> float:
    """c: the relative error of D from one trajectory at this point (spread of n runs' D over the window the
    combined fit uses)."""
    fit = _combined_fit(random_walk_msds(rng, n, n_li=n_li), 700.0)
    d = fit["diffusion"].block_D_cm2_s
    return float(d.std(ddof=1) / d.mean())


def simulate(plan: AdaptivePlan, workers: int, rng) -> tuple[dict, float]:
    """Run a plan on `workers` simulated workers (each run 1 ± 0.1 time units); returns ({key: runs}, wall)."""
    results = {k: {} for k in plan.points}
    clock, busy = 0.0, []  # heap of (finish time, seq, key, seed, run)
    seq = 0
    while True:
        for key in plan.looks_due():
            r = results[key]
            plan.look(key, *estimate([r[s] for s in sorted(r)]))
        for key, seed in plan.take(workers - len(busy)):
            run = random_walk_msds(rng, 1, n_li=POINTS[key])[0]
            heapq.heappush(busy, (clock + rng.uniform(0.9, 1.1), seq, key, seed, run))
            seq += 1
        if not busy:
            break
        clock, _, key, seed, run = heapq.heappop(busy)
        results[key][seed] = run
        plan.finished(key, seed)
    return results, clock


def sweep_benchmark(target: float, workers: int, n_replicas: int, seed: int, calibration_runs: int = 2000) -> None:
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = {k: per_run_rel_err(n_li, rng, calibration_runs) for k, n_li in POINTS.items()}
        print("points (Li per run: per-trajectory relative error of D): "
              + ", ".join(f"{k[0]} {k[1]:g} K ({POINTS[k]}: {c[k]:.3f})" for k in POINTS))
        print(f"target {target:.2%}, min_seeds 8, batch 4, {workers} workers, {n_replicas} replicas")
        rows = []
        t0 = time.perf_counter()
        for rep in range(n_replicas):
            plan = AdaptivePlan(list(POINTS), Settings(target, min_seeds=8, max_seeds=5000, batch=4))
            results, wall = simulate(plan, workers, rng)
            n = {k: len(v) for k, v in results.items()}
            reported = {k: plan.points[k].last["rel_err"] for k in POINTS}
            worst_expected = max(c[k] / math.sqrt(n[k]) for k in POINTS)
            n_fixed = math.ceil(max(c.values()) ** 2 / worst_expected ** 2)
            total, fixed_total = sum(n.values()), n_fixed * len(POINTS)
            fixed_wall = math.ceil(fixed_total / workers)  # full waves of unit runs
            rows.append((total, fixed_total, wall, fixed_wall, max(reported.values()), worst_expected))
            print(f"  replica {rep + 1}: adaptive {total} trajectories ("
                  + " ".join(str(n[k]) for k in POINTS) + f"), worst reported error {max(reported.values()):.2%}, "
                  f"worst expected {worst_expected:.2%}; fixed grid {n_fixed} per point = {fixed_total}; "
                  f"ratio {fixed_total / total:.2f}; wall {wall:.1f} vs {fixed_wall} run-lengths")
    a = np.array(rows, float)
    print(f"mean over {n_replicas} replicas: adaptive {a[:, 0].mean():.0f} trajectories, fixed grid "
          f"{a[:, 1].mean():.0f}: {a[:, 1].mean() / a[:, 0].mean():.2f}x fewer (goal >= 1.5); simulated wall time "
          f"{a[:, 2].mean():.1f} vs {a[:, 3].mean():.1f} run-lengths on {workers} workers "
          f"({a[:, 3].mean() / a[:, 2].mean():.2f}x); worst-point error {a[:, 5].mean():.2%} (expected), "
          f"{a[:, 4].mean():.2%} (reported). [{time.perf_counter() - t0:.0f} s]")


def replica_check(n_replicas: int, target: float, seed: int, min_seeds: int = 8, n_li: int = 1) -> None:
    rng = np.random.default_rng(seed)
    D, lo, hi, ns = [], [], [], []
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n_replicas):
            plan = AdaptivePlan([("rw", 700.0)], Settings(target, min_seeds=min_seeds, max_seeds=5000, batch=4))
            runs, pool, last = [], [], {}
            while not plan.done:
                for key in plan.looks_due():
                    last["fit"] = _combined_fit(runs, 700.0)
                    plan.look(key, *last["fit"]["D"][:2])
                for _key, _seed in plan.take(1):
                    if not pool:
                        pool.extend(random_walk_msds(rng, 16, n_li=n_li))
                    runs.append(pool.pop())
                    plan.finished(_key, _seed)
            d, _, a, b = last["fit"]["D"]
            D.append(d), lo.append(a), hi.append(b), ns.append(len(runs))
    D, lo, hi, ns = map(np.asarray, (D, lo, hi, ns))
    se = D.std(ddof=1) / math.sqrt(D.size)
    cov = np.mean((lo <= D_CM2_S) & (D_CM2_S <= hi))
    print(f"{n_replicas} replicas, target {target:.2%}: trajectories {ns.mean():.1f} (range {ns.min()}-{ns.max()}); "
          f"mean D / truth - 1 = {(D.mean() / D_CM2_S - 1):+.3%} ± {se / D_CM2_S:.3%} "
          f"({(D.mean() - D_CM2_S) / se:+.1f} standard errors); 95 % intervals cover {cov:.2%} "
          f"(± {math.sqrt(cov * (1 - cov) / D.size):.2%}); scatter of D {D.std() / D_CM2_S:.2%} of the truth. "
          f"[{time.perf_counter() - t0:.0f} s]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", type=float, default=0.02, help="target relative error of D")
    ap.add_argument("--workers", type=int, default=8, help="simulated workers")
    ap.add_argument("--replicas-of-sweep", type=int, default=10, help="adaptive sweeps to average")
    ap.add_argument("--replicas", type=int, default=0, help="check the stopping rule on N one-point replicas")
    ap.add_argument("--calibration-runs", type=int, default=2000, help="runs per point that calibrate c_p")
    ap.add_argument("--min-seeds", type=int, default=8, help="min_seeds of the --replicas check")
    ap.add_argument("--no-margin", action="store_true", help="--replicas without the rule's margin (r⁺ = r)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.no_margin:
        adaptive.inflated_rel_err = lambda rel_err, n: rel_err if n >= 2 and math.isfinite(rel_err) else math.inf
    if args.replicas:
        replica_check(args.replicas, args.target, args.seed, args.min_seeds)
    else:
        sweep_benchmark(args.target, args.workers, args.replicas_of_sweep, args.seed, args.calibration_runs)


if __name__ == "__main__":
    main()
