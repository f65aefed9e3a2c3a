"""Benchmark: precision and calibration of D on random walks — lmpflow's old and new estimator, and kinisi.

    python bench/bench_diffusion.py [--replicas 50] [--lengths 30 100 300] [--runs 1 2 4 8] [--no-kinisi]

Data (generated in memory, no dump file): Gaussian random walks of 64 Li (+8 static framework atoms),
frame interval 0.1 ps, step σ = 0.3 Å per axis per frame, so D = 4.5e-5 cm²/s exactly.  For every
setting the same replicas go to every estimator:

* lmpflow new: ``diffusion_coefficient(res)`` — GLS with the random-walk MSD covariance on the
  physics window (start after the caged regime, end at 10 × the start), errors from 5 time blocks
  (one run) or from the spread of the runs (several runs, ``combine_msd``);
* lmpflow old: ``diffusion_coefficient(res, estimator="ols", span=None)`` — OLS to half a block;
* kinisi (``DiffusionAnalyzer.from_ase``, Bayesian GLS, ``start_dt`` = lmpflow's window start,
  128 log-spaced time intervals up to half the run, 1000 MCMC samples), in its own venv
  (``/tmp/kinisi-venv``, ``pip install kinisi ase``) created here: not a project dependency.

Columns: mean D / D_true, scatter = std of D over replicas / D_true, the rms of the reported σ_D /
D_true, coverage of the 68 % and 95 % intervals (lmpflow: Student-t; kinisi: central credible
interval of the posterior).  ``--json`` writes every number.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))

DT_PS, STEP_A, N_LI, N_FW, BOX_A = 0.1, 0.3, 64, 8, 100.0
D_TRUE_CM2_S = STEP_A ** 2 / (2 * DT_PS) * 1e-4
KINISI_VENV = Path("/tmp/kinisi-venv")

KINISI_WORKER = r'''
import json, sys, warnings
import numpy as np, scipp as sc
from ase import Atoms
from kinisi.analyze import DiffusionAnalyzer
warnings.simplefilter("ignore")
data = np.load(sys.argv[1])
pos, dt_ps, start_ps, box = data["positions"], float(data["dt_ps"]), float(data["start_ps"]), float(data["box"])
symbols = ["Li"] * int(data["n_li"]) + ["S"] * (pos.shape[2] - int(data["n_li"]))
out = []
for k, walk in enumerate(pos):
    T = walk.shape[0]
    frames = [Atoms(symbols, positions=p, cell=[box] * 3, pbc=True) for p in walk]
    lags = np.unique(np.round(np.geomspace(1, T // 2, 128)).astype(int))
    dt = sc.array(dims=["time interval"], values=lags * dt_ps, unit="ps")
    da = DiffusionAnalyzer.from_ase(frames, specie="Li", time_step=sc.scalar(dt_ps, unit="ps"),
                                    step_skip=sc.scalar(1), dt=dt, progress=False)
    da.diffusion(start_dt=sc.scalar(start_ps, unit="ps"), progress=False,
                 random_state=np.random.RandomState(k))
    d = sc.to_unit(da.D, "cm^2/s").values
    out.append({"mean": float(np.mean(d)), "std": float(np.std(d)),
                "q": [float(x) for x in np.percentile(d, [2.5, 16, 84, 97.5])]})
json.dump(out, open(sys.argv[2], "w"))
'''


def walks(rng, n_frames: int) -> np.ndarray:
    """(n_frames, N_LI + N_FW, 3) positions, Å: Li random walks, framework atoms at rest."""
    li = BOX_A / 2 + np.cumsum(rng.normal(0, STEP_A, (n_frames, N_LI, 3)), axis=0)
    fw = np.broadcast_to(rng.uniform(0, BOX_A, (1, N_FW, 3)), (n_frames, N_FW, 3))
    return np.concatenate([li, fw], axis=1)


def _msd(pos):
    from lmpflow.analysis import msd
    from lmpflow.trajectory import Trajectory

    T, N, _ = pos.shape
    el = np.array(["Li"] * N_LI + ["S"] * N_FW)
    tr = Trajectory(pos, np.tile(np.eye(3) * BOX_A, (T, 1, 1)), np.zeros((T, 3)), np.arange(T),
                    np.arange(1, N + 1), el)
    return msd(tr, "Li", dt_ps=DT_PS, drift_correction=False)


def lmpflow_estimates(replicas: list[list[np.ndarray]]) -> dict:
    """{estimator: list of (D, sigma, ci68, ci95)} and the fit windows of the new estimator."""
    from lmpflow.analysis import combine_msd, diffusion_coefficient

    out = {"new": [], "old": []}
    windows = []
    for runs in replicas:
        res = [_msd(p) for p in runs]
        r = res[0] if len(res) == 1 else combine_msd(res)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, kw in (("new", {}), ("old", {"estimator": "ols", "span": None})):
                d = diffusion_coefficient(r, **kw)
                out[name].append((d.D_cm2_s, d.sigma_D_cm2_s, d.ci(0.68), d.ci(0.95)))
                if name == "new":
                    windows.append(d.fit_window_ps)
    return {**out, "windows": windows}


def summarise(rows) -> dict:
    D = np.array([r[0] for r in rows])
    return {"mean_over_true": float(D.mean() / D_TRUE_CM2_S),
            "scatter_rel": float(D.std(ddof=1) / D_TRUE_CM2_S),
            "reported_rel": float(np.sqrt(np.mean([r[1] ** 2 for r in rows])) / D_TRUE_CM2_S),
            "cover68": float(np.mean([lo < D_TRUE_CM2_S < hi for lo, hi in (r[2] for r in rows)])),
            "cover95": float(np.mean([lo < D_TRUE_CM2_S < hi for lo, hi in (r[3] for r in rows)]))}


def kinisi_python() -> Path | None:
    """The kinisi venv's python, created on first use; None if kinisi cannot be installed."""
    py = KINISI_VENV / "bin" / "python"
    ok = py.exists() and subprocess.run([str(py), "-c", "import kinisi, ase"], capture_output=True).returncode == 0
    if not ok:
        try:
            subprocess.run([sys.executable, "-m", "venv", str(KINISI_VENV)], check=True)
            subprocess.run([str(py), "-m", "pip", "install", "-q", "kinisi", "ase"], check=True)
        except (subprocess.CalledProcessError, OSError) as exc:
            print(f"kinisi column skipped: cannot install kinisi ({exc})")
            return None
    return py


def kinisi_estimates(py: Path, replicas: list[list[np.ndarray]], start_ps: float) -> list:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "worker.py").write_text(KINISI_WORKER)
        np.savez(tmp / "in.npz", positions=np.stack([runs[0] for runs in replicas]), dt_ps=DT_PS,
                 start_ps=start_ps, box=BOX_A, n_li=N_LI)
        subprocess.run([str(py), str(tmp / "worker.py"), str(tmp / "in.npz"), str(tmp / "out.json")], check=True)
        post = json.loads((tmp / "out.json").read_text())
    return [(p["mean"], p["std"], (p["q"][1], p["q"][2]), (p["q"][0], p["q"][3])) for p in post]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replicas", type=int, default=50)
    ap.add_argument("--lengths", type=float, nargs="+", default=[30.0, 100.0, 300.0], help="run lengths, ps")
    ap.add_argument("--runs", type=int, nargs="+", default=[1, 2, 4, 8], help="runs of the shortest length")
    ap.add_argument("--no-kinisi", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    rng = np.random.default_rng(2024)
    settings = [(L, 1) for L in a.lengths] + [(min(a.lengths), k) for k in a.runs if k > 1]
    py = None if a.no_kinisi else kinisi_python()
    results = []
    print("| run length | runs | estimator | mean D/D_true | scatter of D | reported σ_D | 68 % covers | 95 % covers | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for L, k in settings:
        n_frames = int(round(L / DT_PS)) + 1
        replicas = [[walks(rng, n_frames) for _ in range(k)] for _ in range(a.replicas)]
        t = time.time()
        est = lmpflow_estimates(replicas)
        cols = {"lmpflow new": est["new"], "lmpflow old": est["old"]}
        secs = {"lmpflow new": time.time() - t, "lmpflow old": float("nan")}
        if py is not None and k == 1:
            t = time.time()
            cols["kinisi"] = kinisi_estimates(py, replicas, float(np.median([w[0] for w in est["windows"]])))
            secs["kinisi"] = time.time() - t
        for name, rows in cols.items():
            s = summarise(rows)
            results.append({"length_ps": L, "runs": k, "estimator": name, "seconds": secs[name], **s,
                            "window_ps": est["windows"][0] if name == "lmpflow new" else None})
            print(f"| {L:g} ps | {k} | {name} | {s['mean_over_true']:.4f} | {100 * s['scatter_rel']:.2f} % | "
                  f"{100 * s['reported_rel']:.2f} % | {100 * s['cover68']:.0f} % | {100 * s['cover95']:.0f} % | "
                  f"{secs[name]:.0f} |", flush=True)
    if a.json:
        a.json.write_text(json.dumps({"D_true_cm2_s": D_TRUE_CM2_S, "replicas": a.replicas, "rows": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
