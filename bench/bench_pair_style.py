"""Speed of the lmpflow pair styles, and their overhead over the bare compiled model.

For each model (NequIP and Allegro) and cell size (52, 416, 1404 atoms of Li6PS5Cl) this runs NVT MD
in LAMMPS and reads the 'Pair' time from LAMMPS's own timer, then calls the same compiled
`.nequip.pt2` directly from Python (torch._inductor.aoti_load_package) on the same graph (same edges,
same nodes). Printed: ms/step, µs/atom-step, and overhead = pair time / bare model time - 1, all
measured in this one run on this machine.

    python bench/bench_pair_style.py [--steps 50] [--sizes 1 2 3] [--threads 1]
"""
from __future__ import annotations

import argparse
import platform
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ase.neighborlist import primitive_neighbor_list

from lmpflow import models
from lmpflow._lammps import lammps_class
from lmpflow.structures import SPECIES, li6ps5cl


def lammps_ms_per_step(atoms, pt2: Path, style: str, steps: int, workdir: Path) -> tuple[float, float]:
    """(pair ms/step, whole-step ms/step) of NVT MD, after a 10-step warm-up, from LAMMPS's timer."""
    log = workdir / f"log.{style.replace('/', '_')}.{len(atoms)}"
    lmp = lammps_class()(cmdargs=["-screen", "none", "-log", str(log)])
    cell = atoms.cell.array
    lmp.commands_string(f"""
        units metal
        atom_style atomic
        region cell prism 0 {cell[0, 0]} 0 {cell[1, 1]} 0 {cell[2, 2]} 0 0 0 units box
        create_box 4 cell
        mass 1 6.94
        mass 2 30.97
        mass 3 32.06
        mass 4 35.45
    """)
    types = [SPECIES.index(s) + 1 for s in atoms.get_chemical_symbols()]
    lmp.create_atoms(len(atoms), list(range(1, len(atoms) + 1)), types, atoms.positions.ravel().tolist())
    lmp.commands_string(f"""
        pair_style {style}
        pair_coeff * * {pt2} {' '.join(SPECIES)}
        velocity all create 600 1 mom yes rot yes
        fix md all nvt temp 600 600 0.1
        timestep 0.001
        run 10
        run {steps}
    """)
    lmp.close()
    text = log.read_text()
    last = text[text.rindex("Loop time of"):]
    loop_s = float(re.search(r"Loop time of (\S+)", last).group(1))
    pair_s = float(re.search(r"^Pair\s*\|\s*\S+\s*\|\s*(\S+)", last, re.M).group(1))  # avg over ranks
    return pair_s / steps * 1e3, loop_s / steps * 1e3


def bare_graph(atoms, info: dict):
    """The graph the pair style builds, made independently in Python: inputs in the model's order."""
    r_max = info["r_max"]
    i, j, shift = primitive_neighbor_list("ijS", atoms.pbc, atoms.cell.array, atoms.positions, r_max)
    names = info["type_names"]
    types = np.array([names.index(s) for s in atoms.get_chemical_symbols()], dtype=np.int64)
    cut = info.get("cutoff_matrix")
    if cut is not None:  # per-edge-type cutoffs: keep only pairs inside their own cutoff
        d = np.linalg.norm(atoms.positions[j] + shift @ atoms.cell.array - atoms.positions[i], axis=1)
        keep = d < np.asarray(cut)[types[i], types[j]]
        i, j, shift = i[keep], j[keep], shift[keep]
    pos = atoms.positions.copy()
    if info["target"] == "nequip":
        tensors = {"pos": pos, "edge_index": np.stack([i, j]), "atom_types": types,
                   "cell": atoms.cell.array[None], "edge_cell_shift": shift.astype(float)}
    else:  # Allegro: one ghost node per distinct periodic image, as LAMMPS ghost atoms are
        outside = np.abs(shift).sum(1) != 0
        keys, ghost_of_edge = np.unique(np.column_stack([j[outside], shift[outside]]), axis=0, return_inverse=True)
        ghost_pos = atoms.positions[keys[:, 0]] + keys[:, 1:] @ atoms.cell.array
        j = j.copy()
        j[outside] = len(atoms) + ghost_of_edge.ravel()
        tensors = {"pos": np.vstack([pos, ghost_pos]), "edge_index": np.stack([i, j]),
                   "atom_types": np.concatenate([types, types[keys[:, 0]]])}
    return [torch.as_tensor(tensors[name]) for name in info["inputs"]], len(i)


def bare_ms_per_call(pt2: Path, inputs, calls: int) -> float:
    runner = torch._inductor.aoti_load_package(str(pt2))
    for _ in range(5):  # warm-up, as LAMMPS gets
        runner(*inputs)
    start = time.perf_counter()
    for _ in range(calls):
        runner(*inputs)
    return (time.perf_counter() - start) / calls * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 3], help="supercell n (n x n x n of 52 atoms)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both sides")
    parser.add_argument("--models", nargs="+", default=None, help="shipped model labels (default: one per arch)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    specs = models.shipped_models()
    if args.models:
        specs = [s for s in specs if s.label in args.models]
    else:  # one model per architecture
        specs = list({s.arch: s for s in specs}.values())
    print(f"# lmpflow pair-style benchmark on {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {args.threads} thread(s), CPU")
    print(f"{'model':<26}{'atoms':>6}{'edges':>8}{'pair ms/step':>14}{'step ms':>10}"
          f"{'us/atom-step':>14}{'bare ms':>10}{'overhead':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs:
            pt2 = models.compile_model(spec.path)
            info = models.model_info(pt2)
            for n in args.sizes:
                atoms = li6ps5cl((n, n, n))
                atoms.rattle(0.02, seed=1)
                pair_ms, step_ms = lammps_ms_per_step(atoms, pt2, info["pair_style"], args.steps, Path(tmp))
                inputs, n_edges = bare_graph(atoms, info)
                bare_ms = bare_ms_per_call(pt2, inputs, args.steps)
                print(f"{spec.label:<26}{len(atoms):>6}{n_edges:>8}{pair_ms:>14.2f}{step_ms:>10.2f}"
                      f"{step_ms * 1e3 / len(atoms):>14.1f}{bare_ms:>10.2f}{pair_ms / bare_ms - 1:>+10.1%}")


if __name__ == "__main__":
    main()
