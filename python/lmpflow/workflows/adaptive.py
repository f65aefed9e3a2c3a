"""Adaptive trajectories: seeds are added to each (model, T) point until its D reaches a target relative error.

The stopping rule (`decide`, a pure function of one point's state). Let n be the point's finished
trajectories and r = D_sem / |D| the relative standard error of the D fitted to the Li MSD combined over them
(`workflows.tables.summarise`: each trajectory one error block, errors from the spread between them), and

    r⁺ = r · (1 + 1/√(2(n − 1)))       r raised by one standard deviation of its own sampling noise.

* n < min_seeds: run seeds up to min_seeds (the pilot);
* r⁺ ≤ target: stop, "target reached";
* n ≥ max_seeds: stop, "max_seeds reached" (the error reached is reported; it is above the target);
* otherwise run seeds up to n' = min(max_seeds, max(n + batch, min(n*, 2n))), where n* = ⌈n · (r⁺/target)²⌉ is
  the 1/√n projection of what the target needs (at most doubling, so a noisy early error cannot overshoot far).

A point is looked at (and only then decided on) when every seed planned for it has finished; its seeds are
always 1..n. So the trajectories in its estimate are exactly the ones the rule asked for, and the decisions,
seeds and final numbers are the same on any executor, with any number of workers, and after any number of
interruptions. Free workers go to the points furthest from the target (largest r⁺/target; pilots first).

Why the margin: stopping at the first look where r ≤ target picks looks whose spread between trajectories is
by chance small, so the reported 95 % interval covers less (about 91 % when a point needs ~30 trajectories);
one standard deviation of margin and min_seeds ≥ 8 bring it to 94-95 %. D itself is not biased: per-trajectory
D values of a diffusing system scale with D, so r hardly depends on the mean. Both are checked on replicas of
adaptive runs over analytic random walks (tests/workflows/test_adaptive.py; numbers in bench/RESULTS.md).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Iterable, Mapping, Sequence

#: Statuses of a point. Running points get seeds; the others are final.
RUNNING, TARGET_REACHED, MAX_SEEDS, FAILED = "running", "target reached", "max_seeds reached", "failed"
STOPPED = (TARGET_REACHED, MAX_SEEDS)
#: Most a point's planned seeds grow at one look.
GROWTH = 2

Key = tuple  # (label, T_K)


@dataclasses.dataclass(frozen=True)
class Settings:
    """target_rel_err: relative standard error of D to reach per point (0.01 = 1 %). min_seeds: pilot size
    and fewest trajectories a point stops with. max_seeds: most trajectories per point. batch: fewest seeds
    added to a point at a look."""

    target_rel_err: float
    min_seeds: int = 8
    max_seeds: int = 300
    batch: int = 4

    def __post_init__(self):
        if not (0 < self.target_rel_err < 1):
            raise ValueError(f"target_rel_err={self.target_rel_err!r} must be a fraction in (0, 1), e.g. 0.01 for 1 %")
        if int(self.min_seeds) != self.min_seeds or self.min_seeds < 3:
            raise ValueError(f"min_seeds={self.min_seeds!r} must be an integer ≥ 3 (the error of D comes from the "
                             "spread between trajectories)")
        if int(self.max_seeds) != self.max_seeds or self.max_seeds < self.min_seeds:
            raise ValueError(f"max_seeds={self.max_seeds!r} must be an integer ≥ min_seeds={self.min_seeds}")
        if int(self.batch) != self.batch or self.batch < 1:
            raise ValueError(f"batch={self.batch!r} must be a positive integer (seeds added per look)")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Decision:
    """What the rule says at a look: stop, or have seeds 1..planned finished before the next look."""

    stop: bool
    reason: str
    planned: int
    rel_err_bound: float  # r⁺ (NaN before the pilot)
    projected: int | None  # n*, the projected seeds for the target (None when not projected)


def inflated_rel_err(rel_err: float, n: int) -> float:
    """r⁺ = r · (1 + 1/√(2(n − 1))): the relative error plus one standard deviation of its sampling noise."""
    if n < 2 or not math.isfinite(rel_err):
        return math.inf
    return rel_err * (1.0 + 1.0 / math.sqrt(2.0 * (n - 1)))


def decide(n: int, rel_err: float, settings: Settings) -> Decision:
    """The stopping rule (module docstring) for a point with n finished trajectories and relative error
    rel_err of its combined D (NaN/inf when unknown, e.g. before the pilot or for D ≤ 0)."""
    s = settings
    if n < s.min_seeds:
        return Decision(False, "pilot", s.min_seeds, math.nan, None)
    bound = inflated_rel_err(rel_err, n)
    if bound <= s.target_rel_err:
        return Decision(True, TARGET_REACHED, n, bound, n)
    if n >= s.max_seeds:
        return Decision(True, MAX_SEEDS, n, bound, None)
    if math.isfinite(bound):
        projected = math.ceil(n * (bound / s.target_rel_err) ** 2 - 1e-9)
        reason = "projected"
    else:  # no usable error (D ≤ 0 or NaN): grow as fast as allowed
        projected, reason = GROWTH * n, "error undefined"
    planned = min(s.max_seeds, max(n + s.batch, min(projected, GROWTH * n)))
    return Decision(False, reason, planned, bound, projected)


@dataclasses.dataclass
class PointState:
    """One (label, T) point of an adaptive sweep."""

    label: str
    T_K: float
    planned: int = 0
    finished: set = dataclasses.field(default_factory=set)
    in_flight: set = dataclasses.field(default_factory=set)
    looks: list = dataclasses.field(default_factory=list)
    status: str = RUNNING
    error: str | None = None

    @property
    def key(self) -> Key:
        return (self.label, self.T_K)

    @property
    def n(self) -> int:
        return len(self.finished)

    def pending(self) -> list[int]:
        """Planned seeds neither finished nor running."""
        return [s for s in range(1, self.planned + 1) if s not in self.finished and s not in self.in_flight]

    def stage_complete(self) -> bool:
        return self.planned > 0 and all(s in self.finished for s in range(1, self.planned + 1))

    @property
    def last(self) -> dict | None:
        return self.looks[-1] if self.looks else None

    def to_json(self) -> dict:
        return {"label": self.label, "T_K": self.T_K, "planned": self.planned, "status": self.status,
                "error": self.error, "looks": self.looks}


class AdaptivePlan:
    """The state of every point of an adaptive sweep: which seeds to run next, looks, decisions and the log.

    It does no I/O and runs nothing: a driver asks `take(k)` for up to k (key, seed) pairs to start, reports
    `finished(key, seed)` / `failed(key, seed, error)`, and for every key in `looks_due()` computes the point's
    combined D and calls `look(key, D, D_sem)`. `to_json()` is the record to store; `resume` rebuilds a plan
    from it and the seeds found finished on disk.
    """

    def __init__(self, keys: Sequence[Key], settings: Settings):
        if len(set(keys)) != len(keys):
            raise ValueError(f"points must be distinct, got {list(keys)}")
        self.settings = settings
        self.points: dict[Key, PointState] = {}
        for label, T in keys:
            p = PointState(str(label), float(T))
            p.planned = decide(0, math.nan, settings).planned
            self.points[p.key] = p

    # -- resumption ---------------------------------------------------------------------------------
    @classmethod
    def resume(cls, keys: Sequence[Key], settings: Settings, saved: Mapping | None,
               finished: Mapping[Key, Iterable[int]]) -> "AdaptivePlan":
        """A plan continuing `saved` (an earlier `to_json()`, or None) with the seeds already finished on disk.

        Every finished seed is kept; a point's plan covers at least its highest finished seed, so holes left
        by an interrupted stage are run before its next look. A point stopped under the same settings stays
        stopped; under changed settings it is decided again at its next look.
        """
        plan = cls(keys, settings)
        same = bool(saved) and saved.get("settings") == settings.to_json()
        old = {(p["label"], float(p["T_K"])): p for p in (saved or {}).get("points", [])}
        for key, p in plan.points.items():
            p.finished = set(int(s) for s in finished.get(key, ()))
            prev = old.get(key)
            if prev is not None:
                p.looks = list(prev.get("looks", []))
                p.planned = max(p.planned, int(prev.get("planned", 0)))
            p.planned = max(p.planned, max(p.finished, default=0))
            if prev is not None and same and prev.get("status") in STOPPED and p.stage_complete():
                p.status = prev["status"]
        return plan

    # -- scheduling ---------------------------------------------------------------------------------
    def priority(self, p: PointState) -> float:
        """How far a point is from the target (r⁺ / target); a point without a look yet comes first."""
        last = p.last
        if last is None or not math.isfinite(last.get("rel_err_bound", math.inf)):
            return math.inf
        return last["rel_err_bound"] / self.settings.target_rel_err

    def take(self, k: int) -> list[tuple[Key, int]]:
        """Up to k (key, seed) pairs to start now, furthest points first; they count as in flight."""
        out = []
        order = list(self.points.values())
        while len(out) < k:
            ready = [p for p in order if p.status == RUNNING and p.pending()]
            if not ready:
                break
            best = max(ready, key=self.priority)  # max keeps the first of equals: stable point order
            seed = best.pending()[0]
            best.in_flight.add(seed)
            out.append((best.key, seed))
        return out

    def finished(self, key: Key, seed: int) -> None:
        p = self.points[key]
        p.in_flight.discard(seed)
        p.finished.add(int(seed))

    def failed(self, key: Key, seed: int, error: str) -> None:
        """A run of the point failed: the point stops getting seeds (its stage cannot complete)."""
        p = self.points[key]
        p.in_flight.discard(seed)
        p.status, p.error = FAILED, f"seed {seed}: {error}"

    def looks_due(self) -> list[Key]:
        """Running points whose planned seeds have all finished."""
        return [k for k, p in self.points.items() if p.status == RUNNING and p.stage_complete()]

    def look(self, key: Key, D: float, D_sem: float) -> Decision:
        """Decide on a point from its combined D ± D_sem over seeds 1..n (all finished), and log it."""
        p = self.points[key]
        if not p.stage_complete():
            raise RuntimeError(f"{key}: look before seeds 1..{p.planned} finished ({sorted(p.finished)})")
        rel = D_sem / abs(D) if D and math.isfinite(D) and math.isfinite(D_sem) and D > 0 else math.nan
        d = decide(p.n, rel, self.settings)
        p.looks.append({"n": p.n, "D_cm2_s": float(D), "D_sem_cm2_s": float(D_sem), "rel_err": rel,
                        "rel_err_bound": d.rel_err_bound, "decision": d.reason, "projected": d.projected,
                        "planned": d.planned, "target_rel_err": self.settings.target_rel_err})
        if d.stop:
            p.status = d.reason
        else:
            p.planned = max(p.planned, d.planned)
        return d

    # -- state --------------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return all(p.status != RUNNING and not p.in_flight for p in self.points.values())

    def n_planned(self) -> int:
        """Runs planned so far (finished, running or queued) over running and stopped points."""
        return sum(max(p.planned, p.n) if p.status != FAILED else p.n + len(p.in_flight)
                   for p in self.points.values())

    def n_projected(self) -> int:
        """Runs the rule projects in total (the planned ones plus what the 1/√n projection still needs)."""
        total = 0
        for p in self.points.values():
            proj = (p.last or {}).get("projected") if p.status == RUNNING else None
            total += max(p.planned, p.n, min(proj or 0, self.settings.max_seeds))
        return total

    def to_json(self) -> dict:
        return {"settings": self.settings.to_json(), "points": [p.to_json() for p in self.points.values()]}

    def table(self) -> list[dict]:
        """Per point: seeds used, the error reached and the decision (adaptive.csv)."""
        rows = []
        for p in self.points.values():
            last = p.last or {}
            rows.append({"label": p.label, "T_K": p.T_K, "n_seeds": p.n, "D_cm2_s": last.get("D_cm2_s", math.nan),
                         "D_sem_cm2_s": last.get("D_sem_cm2_s", math.nan), "rel_err": last.get("rel_err", math.nan),
                         "rel_err_bound": last.get("rel_err_bound", math.nan),
                         "target_rel_err": self.settings.target_rel_err, "status": p.status,
                         "n_looks": len(p.looks), "min_seeds": self.settings.min_seeds,
                         "max_seeds": self.settings.max_seeds, "error": p.error or ""})
        return rows

    def looks_table(self) -> list[dict]:
        """Every look of every point, in order (adaptive_looks.csv)."""
        return [{"label": p.label, "T_K": p.T_K, "look": i + 1, **lk}
                for p in self.points.values() for i, lk in enumerate(p.looks)]


def run_serial(plan: AdaptivePlan, run_one: Callable[[Key, int], object],
               estimate: Callable[[Key, list], tuple[float, float]]) -> dict[Key, list]:
    """Drive a plan to the end one run at a time (for analytic runs: tests, benchmarks). run_one(key, seed)
    returns a run's result; estimate(key, results of seeds 1..n in seed order) returns (D, D_sem).
    Returns {key: results in seed order}."""
    results: dict[Key, dict[int, object]] = {k: {} for k in plan.points}
    while not plan.done:
        for key in plan.looks_due():
            r = results[key]
            D, sem = estimate(key, [r[s] for s in sorted(r)])
            plan.look(key, D, sem)
        for key, seed in plan.take(1):
            results[key][seed] = run_one(key, seed)
            plan.finished(key, seed)
    return {k: [r[s] for s in sorted(r)] for k, r in results.items()}
