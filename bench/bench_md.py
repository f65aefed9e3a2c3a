"""MD speed with the lmpflow pair styles, against the bare compiled model and against ASE.

For each shipped model (one NequIP, one Allegro, one MACE) and Li6PS5Cl cell (n x n x n cubic cells of 52 atoms)
this measures, in one run on one machine:
  * LAMMPS NVT MD: ms/step and µs/atom-step (whole step) and the 'Pair' time from LAMMPS's own timer;
  * the pair style's own overhead: its time outside the model call / the model call, from its own timers
    over the same steps (`extract_pair("compute_seconds"/"model_seconds")`) -- immune to machine noise;
  * the bare model: the same compiled `.nequip.pt2` called from Python (torch._inductor.aoti_load_package),
    or the same MACE TorchScript export (torch.jit.load), on the same graph (same edges and nodes) -> pair
    time / bare time - 1, a cross-check across processes;
  * with --ase: velocity-Verlet MD driven by nequip's ASE calculator on the same model (compiled for the
    `ase` target) and cell -> speed-up of LAMMPS + lmpflow over it (nequip models only).

    python bench/bench_md.py                               # 52, 416, 1404 atoms, CPU
    python bench/bench_md.py --sizes 2 3 4 6 --ase         # 416 ... 11,232 atoms, with the ASE baseline
    python bench/bench_md.py --device cuda                 # on a GPU node (models compiled for cuda)
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

from lmpflow.lammps.session import LammpsSession
from lmpflow.potentials import backends, registry
from lmpflow.potentials import nequip as nequip_files
from lmpflow.system.structures import SPECIES, li6ps5cl

# Each timing is the best of REPEATS blocks of `steps` steps (or calls): the least-disturbed estimate on a
# shared machine, taken the same way for LAMMPS and for the bare model.
REPEATS = 3


def lammps_ms_per_step(atoms, pt2: Path, style: str, steps: int, workdir: Path, device: str, threads: int,
                       keywords: str = ""):
    """(pair ms/step, whole-step ms/step, own overhead) of NVT MD after a 10-step warm-up.

    `keywords`: more pair_style keywords (e.g. "edges gpu"). Times come from LAMMPS's timer. `own overhead` is the pair style's own work (graph building, copies,
    write-back) relative to the model call inside it, from the style's timers over the same steps.
    """
    log = workdir / f"log.{style.replace('/', '_')}{keywords.replace(' ', '_')}.{len(atoms)}"
    session = LammpsSession(atoms, cmdargs=["-screen", "none", "-log", str(log)])
    lmp = session.lmp
    lmp.commands_string(f"""
        pair_style {style} device {device} threads {threads} {keywords}
        pair_coeff * * {pt2} {' '.join(SPECIES)}
        velocity all create 600 1 mom yes rot yes
        fix md all nvt temp 600 600 0.1
        timestep 0.001
        run 10
    """)
    before = lmp.extract_pair("compute_seconds"), lmp.extract_pair("model_seconds")
    for _ in range(REPEATS):
        lmp.command(f"run {steps}")
    compute_s = lmp.extract_pair("compute_seconds") - before[0]
    model_s = lmp.extract_pair("model_seconds") - before[1]
    lmp.close()
    # each run's timer block: "Loop time of T ..." then "Pair | min | avg | ..." (avg over ranks)
    text = log.read_text().split("Loop time of")[2:]
    loop_s = min(float(block.split()[0]) for block in text)
    pair_s = min(float(re.search(r"^Pair\s*\|\s*\S+\s*\|\s*(\S+)", block, re.M).group(1)) for block in text)
    return pair_s / steps * 1e3, loop_s / steps * 1e3, compute_s / model_s - 1


def bare_graph(atoms, info: dict):
    """The graph the pair style builds, made independently in Python: inputs in the model's order."""
    r_max = info["r_max"]
    i, j, shift = primitive_neighbor_list("ijS", atoms.pbc, atoms.cell.array, atoms.positions, r_max)
    names = info["type_names"]
    types = np.array([names.index(s) for s in atoms.get_chemical_symbols()], dtype=np.int64)
    if info["per_edge_type_cutoff"]:  # keep only pairs inside their own (centre, neighbour) cutoff
        cut = np.array(info["per_edge_type_cutoff"].split(), float).reshape(len(names), len(names))
        d = np.linalg.norm(atoms.positions[j] + shift @ atoms.cell.array - atoms.positions[i], axis=1)
        keep = d < cut[types[i], types[j]]
        i, j, shift = i[keep], j[keep], shift[keep]
    pos = atoms.positions.copy()
    if info["target"] == "mace":  # MACE's own edge convention: sender i, receiver j at x_j + S . cell
        dtype = getattr(torch, info["model_dtype"])
        one_hot = np.eye(len(names))[types]
        data = {"positions": pos, "edge_index": np.stack([i, j]), "unit_shifts": shift.astype(float),
                "shifts": shift @ atoms.cell.array, "cell": atoms.cell.array, "node_attrs": one_hot,
                "batch": np.zeros(len(atoms), dtype=np.int64), "ptr": np.array([0, len(atoms)])}
        data = {k: torch.as_tensor(v).to(dtype) if v.dtype.kind == "f" else torch.as_tensor(v) for k, v in data.items()}
        return [data, torch.ones(len(atoms), dtype=dtype)], len(i)
    if info["target"] == "nequip":
        tensors = {"pos": pos, "edge_index": np.stack([i, j]), "atom_types": types,
                   "cell": atoms.cell.array[None], "edge_cell_shift": shift.astype(float),
                   "lmpflow_owned_mask": np.ones(len(atoms), dtype=bool)}  # lmpflow_nequip files: all owned
    else:  # Allegro: one ghost node per distinct periodic image, as LAMMPS ghost atoms are
        outside = np.abs(shift).sum(1) != 0
        keys, ghost_of_edge = np.unique(np.column_stack([j[outside], shift[outside]]), axis=0, return_inverse=True)
        ghost_pos = atoms.positions[keys[:, 0]] + keys[:, 1:] @ atoms.cell.array
        j = j.copy()
        j[outside] = len(atoms) + ghost_of_edge.ravel()
        tensors = {"pos": np.vstack([pos, ghost_pos]), "edge_index": np.stack([i, j]),
                   "atom_types": np.concatenate([types, types[keys[:, 0]]])}
    return [torch.as_tensor(tensors[name]) for name in info["inputs"]], len(i)


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bare_ms_per_call(pt2: Path, inputs, calls: int, device: str) -> float:
    if pt2.name.endswith(".mace.pt"):
        model = torch.jit.load(str(pt2), map_location=device)
        data, owned = inputs

        def runner(*_):  # the model changes its input dict: a fresh one per call, as the pair style passes
            return model({k: v.to(device) for k, v in data.items()}, owned.to(device), True)
    else:
        runner = torch._inductor.aoti_load_package(str(pt2))
        inputs = [t.to(device) for t in inputs]
    for _ in range(5):  # warm-up, as LAMMPS gets
        runner(*inputs)
    best = float("inf")
    for _ in range(REPEATS):
        _synchronize(device)
        start = time.perf_counter()
        for _ in range(calls):
            runner(*inputs)
        _synchronize(device)
        best = min(best, (time.perf_counter() - start) / calls * 1e3)
    return best


def ase_ms_per_step(atoms, ase_pt2: Path, steps: int, device: str) -> float:
    """Velocity-Verlet MD with nequip's ASE calculator (its own neighbour list every step)."""
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet
    from nequip.integrations.ase import NequIPCalculator

    atoms = atoms.copy()
    atoms.calc = NequIPCalculator.from_compiled_model(str(ase_pt2), device=device)
    MaxwellBoltzmannDistribution(atoms, temperature_K=600, rng=np.random.default_rng(1))
    md = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    md.run(5)
    start = time.perf_counter()
    md.run(steps)
    return (time.perf_counter() - start) / steps * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 3], help="supercell n (n x n x n of 52 atoms)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for every side")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--ase", action="store_true", help="also time MD driven by nequip's ASE calculator")
    parser.add_argument("--models", nargs="+", default=None,
                        help="shipped model labels, .nequip.zip packages or .mace.pt exports (default: one shipped "
                             "model per arch)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if args.models:
        specs = [registry.find_model(m) for m in args.models]
    else:  # one shipped model per architecture
        first = {}
        for spec in registry.shipped_models():
            first.setdefault(spec.arch, spec)
        specs = list(first.values())
    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else ""
    print(f"# lmpflow MD benchmark: {platform.machine()} {platform.processor()}, {gpu or 'CPU'}, "
          f"torch {torch.__version__}, {args.threads} torch thread(s), 1 MPI rank, {args.steps} steps")
    print(f"{'model':<24}{'atoms':>6}{'edges':>9}{'step ms':>10}{'us/atom-step':>13}{'pair ms':>9}"
          f"{'own ovh':>9}{'bare ms':>9}{'vs bare':>9}{'ASE ms':>9}{'speed-up':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs:
            pt2 = registry.compiled_model(spec.path, device=args.device)
            ase_pt2 = (nequip_files.compile_model(spec.path, target="ase", device=args.device)
                       if args.ase and spec.arch != "mace" else None)
            info = backends.model_info(pt2)
            for n in args.sizes:
                atoms = li6ps5cl((n, n, n))
                atoms.rattle(0.02, seed=1)
                pair_ms, step_ms, own = lammps_ms_per_step(atoms, pt2, info["pair_style"], args.steps, Path(tmp),
                                                           args.device, args.threads)
                inputs, n_edges = bare_graph(atoms, info)
                bare_ms = bare_ms_per_call(pt2, inputs, args.steps, args.device)
                ase = f"{ase_ms_per_step(atoms, ase_pt2, args.steps, args.device):>9.1f}" if ase_pt2 else f"{'-':>9}"
                speedup = f"{float(ase) / step_ms:>8.2f}x" if ase_pt2 else f"{'-':>9}"
                print(f"{spec.label:<24}{len(atoms):>6}{n_edges:>9}{step_ms:>10.2f}{step_ms * 1e3 / len(atoms):>13.1f}"
                      f"{pair_ms:>9.2f}{own:>+9.1%}{bare_ms:>9.2f}{pair_ms / bare_ms - 1:>+9.1%}{ase}{speedup}",
                      flush=True)


if __name__ == "__main__":
    main()
