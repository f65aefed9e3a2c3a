"""Benchmark: read + MSD of a generated ~1 GB LAMMPS dump, lmpflow versus OVITO,
MDAnalysis (EinsteinMSD, fft) and freud (MSD, given float64 positions).

    python bench/bench_analysis.py [--frames 20000] [--atoms 1300] [--dir /tmp/lmpflow_bench]

Each tool runs in its own subprocess so that peak memory (ru_maxrss of that
process) is its own.  Tools that are not installed are reported as skipped.
Ratios are printed from this one run.  The dump is a Li6PS5Cl-like cell
(Li:P:S:Cl = 6:1:5:1) with Li random walks and vibrating framework atoms, in one of two formats
(``--format``): ``xu`` = ``dump custom id type element xu yu zu`` in LAMMPS' default ``%g`` (what
lmpflow's in.liPSCl writes), ``image`` = ``id type x y z ix iy iz`` with 5 decimals (wrapped
coordinates and image flags, a common hand-written dump).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))


def generate(path: Path, n_frames: int, n_atoms: int, fmt: str = "xu", seed: int = 0) -> None:
    """Write the benchmark dump quickly (one printf template per frame) in format `fmt` ("xu" or "image")."""
    rng = np.random.default_rng(seed)
    n_li = n_atoms * 6 // 13
    rest = n_atoms - n_li
    n_p = rest // 7
    n_cl = rest // 7
    n_s = rest - n_p - n_cl
    el = ["Li"] * n_li + ["P"] * n_p + ["S"] * n_s + ["Cl"] * n_cl
    types = {"Li": 1, "P": 2, "S": 3, "Cl": 4}
    L = 10.0 * (n_atoms / 52) ** (1 / 3)  # ~ Li6PS5Cl density
    base = rng.uniform(0, L, (n_atoms, 3))
    li = np.zeros((n_li, 3))
    if fmt == "xu":
        tmpl = "".join(f"%d {types[e]} {e} %g %g %g \n" for e in el)
        columns = "id type element xu yu zu"
    else:
        tmpl = "".join(f"%d {types[e]} %.5f %.5f %.5f %d %d %d\n" for e in el)
        columns = "id type x y z ix iy iz"
    ids = np.arange(1, n_atoms + 1)
    head = ("ITEM: TIMESTEP\n{}\nITEM: NUMBER OF ATOMS\n%d\nITEM: BOX BOUNDS pp pp pp\n"
            "0 %g\n0 %g\n0 %g\nITEM: ATOMS %s\n") % (n_atoms, L, L, L, columns)
    with open(path, "w") as fh:
        for k in range(n_frames):
            li += rng.normal(0, 0.05, li.shape)
            pos = base + rng.normal(0, 0.1, base.shape)
            pos[:n_li] += li
            if fmt == "xu":
                rows = [ids, pos]
            else:
                image = np.floor(pos / L)
                rows = [ids, pos - image * L, image]
            vals = np.column_stack(rows).ravel().tolist()
            width = 4 if fmt == "xu" else 7
            for i in range(len(vals)):
                if i % width == 0 or i % width >= 4:
                    vals[i] = int(vals[i])
            fh.write(head.format(k * 10))
            fh.write(tmpl % tuple(vals))


# --------------------------------------------------------------------------- #
# One tool per subprocess
# --------------------------------------------------------------------------- #

def _cpu_s() -> float:
    """CPU seconds (user + system, all threads) used by this process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


TYPE_TO_ELEMENT = {1: "Li", 2: "P", 3: "S", 4: "Cl"}  # the image format has no element column


def _read(path: str):
    from lmpflow.trajectory import read_dump
    return read_dump(path, type_to_element=TYPE_TO_ELEMENT if "_image." in path else None)


def run_lmpflow(path: str) -> dict:
    from lmpflow.analysis import msd
    import shutil
    shutil.rmtree(path + ".lmpflow", ignore_errors=True)  # cold: parse, do not load cache
    c0, t0 = _cpu_s(), time.perf_counter()
    tr = _read(path)
    t1 = time.perf_counter()
    read_cpu = _cpu_s() - c0
    read_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    m = msd(tr, "Li", dt_ps=0.01, drift_correction=False, n_blocks=2)
    t2 = time.perf_counter()
    msd(tr, "Li", dt_ps=0.01, drift_correction=True, n_blocks=5)
    t3 = time.perf_counter()
    return {"read_s": t1 - t0, "read_cpu_s": read_cpu, "read_peak_rss_MB": read_rss,
            "msd_s": t2 - t1,
            "msd_full_s": t3 - t2,
            "msd_last": float(m.total_A2[len(m.total_A2) // 10]),
            "n_frames": tr.n_frames, "n_li": m.n_particles}


def run_ovito(path: str) -> dict:
    from ovito.io import import_file
    c0, t0 = _cpu_s(), time.perf_counter()
    pipe = import_file(path)
    n = pipe.source.num_frames
    out = None
    for k in range(n):
        data = pipe.source.compute(k)
        pos = np.asarray(data.particles.positions)
        if out is None:
            out = np.empty((n,) + pos.shape)
        out[k] = pos
    t1 = time.perf_counter()
    return {"read_s": t1 - t0, "read_cpu_s": _cpu_s() - c0, "n_frames": n}


def run_mdanalysis(path: str, n_li: int) -> dict:
    import MDAnalysis as mda
    from MDAnalysis.analysis.msd import EinsteinMSD
    t0 = time.perf_counter()
    u = mda.Universe(path, format="LAMMPSDUMP", atom_style="id type x y z",
                     lammps_coordinate_convention="unwrapped")
    t1 = time.perf_counter()
    ag = u.atoms[:n_li]
    e = EinsteinMSD(ag, msd_type="xyz", fft=True)
    e.run()
    t2 = time.perf_counter()
    return {"read_s": t1 - t0, "msd_s": t2 - t1, "note": "MSD time includes reading frames"}


def run_freud(path: str, n_li: int) -> dict:
    import freud
    tr = _read(path)  # from the cache written by the lmpflow run
    pos = np.ascontiguousarray(tr.positions[:, :n_li], dtype=np.float64)
    box = freud.box.Box.cube(float(tr.cells[0, 0, 0]))
    t0 = time.perf_counter()
    m = freud.msd.MSD(box, mode="window").compute(pos).msd
    t1 = time.perf_counter()
    return {"msd_s": t1 - t0, "msd_last": float(m[len(m) // 10])}


def child(tool: str, path: str, n_li: int) -> None:
    fn = {"lmpflow": lambda: run_lmpflow(path), "ovito": lambda: run_ovito(path),
          "mdanalysis": lambda: run_mdanalysis(path, n_li),
          "freud": lambda: run_freud(path, n_li)}[tool]
    try:
        res = fn()
    except ImportError as exc:
        res = {"skipped": f"not installed ({exc.name or exc})"}
    res["peak_rss_MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--atoms", type=int, default=1300)
    ap.add_argument("--dir", default="/tmp/lmpflow_bench")
    ap.add_argument("--tools", default="lmpflow,ovito,mdanalysis,freud")
    ap.add_argument("--format", choices=["xu", "image"], default="xu",
                    help="xu: id type element xu yu zu (%%g); image: id type x y z ix iy iz (5 decimals)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], a.child[1], int(a.child[2]))
        return
    d = Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"bench_{a.atoms}x{a.frames}_{a.format}.lammpstrj"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        t = time.perf_counter()
        generate(path.with_suffix(".tmp"), a.frames, a.atoms, a.format)
        os.replace(path.with_suffix(".tmp"), path)
        print(f"  {time.perf_counter() - t:.0f} s", flush=True)
    size_mb = path.stat().st_size / 1e6
    print(f"dump: {path} ({size_mb:.0f} MB, {a.atoms} atoms, {a.frames} frames, format {a.format})")
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm page cache
    n_li = a.atoms * 6 // 13
    results = {}
    for tool in a.tools.split(","):
        proc = subprocess.run([sys.executable, __file__, "--child", tool, str(path), str(n_li)],
                              capture_output=True, text=True)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not line:
            results[tool] = {"skipped": "failed: " + proc.stderr.strip().splitlines()[-1]
                             if proc.stderr.strip() else "failed"}
        else:
            results[tool] = json.loads(line[0][7:])
        print(f"{tool:11s} {results[tool]}", flush=True)
    lm = results.get("lmpflow", {})
    print("\nratios (other / lmpflow; > 1 means lmpflow is faster or smaller):")
    for tool in ("ovito", "mdanalysis", "freud"):
        r = results.get(tool, {})
        if "skipped" in r or not r:
            print(f"  {tool}: skipped ({r.get('skipped', 'not run')})")
            continue
        parts = []
        if "read_s" in r and "read_s" in lm:
            parts.append(f"read time {r['read_s'] / lm['read_s']:.2f}x")
        if "read_cpu_s" in r and "read_cpu_s" in lm:
            parts.append(f"read CPU {r['read_cpu_s'] / lm['read_cpu_s']:.2f}x")
        if "msd_s" in r and "msd_s" in lm:
            parts.append(f"MSD time {r['msd_s'] / lm['msd_s']:.2f}x")
        if tool == "ovito" and "read_peak_rss_MB" in lm:
            parts.append(f"read peak RSS {r['peak_rss_MB'] / lm['read_peak_rss_MB']:.2f}x")
        elif "peak_rss_MB" in r and "peak_rss_MB" in lm and tool != "freud":
            parts.append(f"peak RSS (read+MSD) {r['peak_rss_MB'] / lm['peak_rss_MB']:.2f}x")
        print(f"  {tool}: " + ", ".join(parts))
    if "read_s" in lm:
        print(f"  lmpflow read peak RSS {lm['read_peak_rss_MB']:.0f} MB (read+MSD "
              f"{lm['peak_rss_MB']:.0f} MB, memmapped cache pages included) vs dump text "
              f"{size_mb:.0f} MB")


if __name__ == "__main__":
    main()
