"""NequIP across MPI ranks with `pair_style lmpflow/nequip`: speed of the deep_ghost graph and its ghost share.

The default shipped model (nequip-chgnet-pbe: NequIP, float32, 3 message-passing layers x 5 Å) is compiled for
lmpflow's target `lmpflow_nequip` (one file: periodic graph on one rank, deep_ghost on more) and, as the
reference, for nequip's own `pair_nequip` (periodic, one rank). For each Li6PS5Cl cell (n x n x n cells of 52
atoms) this times, in one run, NVE MD with `mpirun -np R lmp`, 1 torch thread per rank, best of --repeats blocks
after a warm-up:

  * 1 rank, periodic graph, lmpflow_nequip file and pair_nequip file;
  * 1 rank, deep_ghost graph (`layout deep_ghost`): what the deep shell costs over the periodic graph;
  * 2 ranks, deep_ghost graph; with --threads2 also 1 rank x 2 threads, periodic.

Two times per step: wall (LAMMPS loop time) and CPU per rank (loop time x LAMMPS's "% CPU use", the process's
own CPU time). On a machine shared with other jobs the wall time measures the load as much as the code; the CPU
time is what each rank computes, so CPU(1 rank) / CPU(per rank, 2 ranks) is the speed-up 2 dedicated cores give.

--shares: graph nodes and edges per owned atom of the deep_ghost graph on one rank for cubic domains of n cells
(a rank's cubic domain has the same shell as a periodic cell of that size), against the periodic graph's edges,
and the shell formula ((D + 2s)^3 - D^3) / D^3 with s = layers x r_max.

    python bench/bench_multirank.py --sizes 4 6 --shares 1 2 3 4 6
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import tempfile
from pathlib import Path

import torch
from ase.io import write

from lmpflow._host import executable
from lmpflow.lammps.runtime import plugin_env
from lmpflow.lammps.session import QUIET, LammpsSession
from lmpflow.potentials import nequip as nequip_files
from lmpflow.potentials import registry
from lmpflow.system.structures import SPECIES, li6ps5cl

SCRIPT = """
units metal
atom_style atomic
read_data ${data}
pair_style lmpflow/nequip threads ${threads} layout ${layout}
pair_coeff * * ${model} Li P S Cl
velocity all create 600 1 mom yes rot yes loop geom
fix md all nve
timestep 0.001
thermo 1000
run ${warm}
"""


def ms_per_step(work: Path, data: Path, model: Path, ranks: int, threads: int, layout: str, steps: int,
                repeats: int, warm: int) -> tuple[float, float]:
    """(wall, CPU per rank) ms per step, each the least over the timed blocks."""
    script = work / "in.bench"
    script.write_text(SCRIPT + f"run {steps}\n" * repeats)
    log = work / f"log.{model.stem}.{ranks}.{threads}.{layout}.{data.stem}"
    cmd = [executable("mpirun"), "-np", str(ranks), executable("lmp"), "-in", str(script), "-log", str(log),
           "-screen", "none", "-var", "data", str(data), "-var", "model", str(model), "-var", "threads",
           str(threads), "-var", "layout", layout, "-var", "warm", str(warm)]
    env = plugin_env() | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-2000:] + log.read_text()[-2000:])
    text = log.read_text()
    loops = [float(t) for t in re.findall(r"^Loop time of (\S+) on", text, re.M)][1:]
    cpu = [float(c) / 100 for c in re.findall(r"^(\S+)% CPU use", text, re.M)][1:]
    return min(loops) / steps * 1e3, min(t * c for t, c in zip(loops, cpu)) / steps * 1e3


def graph_share(atoms, model: Path) -> dict:
    """Graph sizes on one rank: deep_ghost (nodes, edges) and periodic (edges), per owned atom."""
    sizes = {}
    for layout in ("deep_ghost", "periodic"):
        session = LammpsSession(atoms, cmdargs=list(QUIET))
        lmp = session.lmp
        lmp.commands_string(f"pair_style lmpflow/nequip layout {layout}\n"
                            f"pair_coeff * * {model} {' '.join(SPECIES)}\nrun 0 post no")
        sizes[layout] = [lmp.extract_pair(k) for k in ("graph_owned", "graph_nodes", "graph_edges")]
        lmp.close()
    owned, nodes, edges = sizes["deep_ghost"]
    return {"nodes": nodes / owned, "edges": edges / owned, "periodic_edges": sizes["periodic"][2] / owned}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[4, 6], help="supercells n to time (n^3 x 52 atoms)")
    parser.add_argument("--shares", type=int, nargs="*", default=[1, 2, 3, 4, 6], help="supercells n for the ghost share")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--warm", type=int, default=2)
    parser.add_argument("--threads2", action="store_true", help="also 1 rank x 2 threads (needs idle cores)")
    args = parser.parse_args()

    pkg = registry.find_model(registry.DEFAULT_MODEL_LABEL).path
    lmpflow_file = nequip_files.compile_model(pkg, target="lmpflow_nequip")
    nequip_file = nequip_files.compile_model(pkg, target="pair_nequip")
    info = nequip_files.model_info(lmpflow_file)
    shell = info["ghost_shell_A"]
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}; "
          f"{registry.DEFAULT_MODEL_LABEL}: {info['num_layers']} layers x {info['r_max']} Å, shell {shell} Å; "
          f"load average {os.getloadavg()[0]:.1f}")

    if args.sizes:
        print("\nms/step, wall / CPU per rank")
        print("\n| atoms | 1 rank periodic | same, pair_nequip file | 1 rank deep_ghost | deep/periodic (CPU) "
              "| 2 ranks deep_ghost | 2 ranks vs 1 (CPU) | 2 ranks vs 1 (wall) |" + (" 1 rank × 2 threads |" if args.threads2 else ""))
        print("|---|---|---|---|---|---|---|---|" + ("---|" if args.threads2 else ""))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in args.sizes:
            atoms = li6ps5cl((n, n, n))
            atoms.rattle(0.02, seed=1)
            data = work / f"data{n}.lmp"
            write(data, atoms, format="lammps-data", specorder=list(SPECIES), masses=True)
            t = {}
            run = dict(work=work, data=data, steps=args.steps, repeats=args.repeats, warm=args.warm)
            t["p1"] = ms_per_step(model=lmpflow_file, ranks=1, threads=1, layout="periodic", **run)
            t["n1"] = ms_per_step(model=nequip_file, ranks=1, threads=1, layout="periodic", **run)
            t["d1"] = ms_per_step(model=lmpflow_file, ranks=1, threads=1, layout="deep_ghost", **run)
            t["r2"] = ms_per_step(model=lmpflow_file, ranks=2, threads=1, layout="deep_ghost", **run)
            if args.threads2:
                t["p2"] = ms_per_step(model=lmpflow_file, ranks=1, threads=2, layout="periodic", **run)
            cell = lambda k: f"{t[k][0]:.0f} / {t[k][1]:.0f}"  # noqa: E731
            print(f"| {len(atoms)} | {cell('p1')} | {cell('n1')} | {cell('d1')} | {t['d1'][1] / t['p1'][1]:.2f}× "
                  f"| {cell('r2')} | {t['p1'][1] / t['r2'][1]:.2f}× | {t['p1'][0] / t['r2'][0]:.2f}× |"
                  + (f" {cell('p2')} |" if args.threads2 else ""), flush=True)

    if args.shares:
        print("\n| domain (cubic, Å) | owned atoms | deep_ghost nodes / owned | formula ((D+2s)³−D³)/D³ + 1 "
              "| deep_ghost edges / owned | periodic edges / owned | edge ratio |")
        print("|---|---|---|---|---|---|---|")
        for n in args.shares:
            atoms = li6ps5cl((n, n, n))
            atoms.rattle(0.02, seed=1)
            d = atoms.cell.lengths()[0]
            s = graph_share(atoms, lmpflow_file)
            formula = ((d + 2 * shell) ** 3) / d**3
            print(f"| {d:.1f} | {len(atoms)} | {s['nodes']:.2f} | {formula:.2f} | {s['edges']:.1f} "
                  f"| {s['periodic_edges']:.1f} | {s['edges'] / s['periodic_edges']:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
