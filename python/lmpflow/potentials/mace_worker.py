"""What lmpflow asks of mace-torch, run by the MACE environment's Python (never imported by lmpflow).

mace-torch pins e3nn 0.4.4 and nequip needs e3nn 0.6, so MACE lives in its own environment
(`lmpflow.potentials.mace_env`); lmpflow runs this file there as a script. It imports only mace, torch, ase
and numpy. Commands:

    export MODEL OUT [--dtype float64|float32]   the LAMMPS export (TorchScript LAMMPS_MACE) of a trained model
    reference MODEL FRAMES.npz OUT.npz           energies (eV), forces (eV/A), stresses (eV/A^3, Voigt xx yy zz
                                                 yz xz xy) of MACE's own ASE calculator on the frames (n_frames,
                                                 numbers_k, cell_k, positions_k: exact, unlike text formats)
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _replace(tmp: Path, out: Path) -> None:
    os.replace(tmp, out)  # same folder: the finished file appears whole or not at all


def export(model_path: str, out: str, dtype: str) -> None:
    import torch
    from e3nn.util import jit
    from mace.calculators import LAMMPS_MACE

    model = torch.load(model_path, map_location="cpu", weights_only=False)
    model = model.double() if dtype == "float64" else model.float()
    compiled = jit.compile(LAMMPS_MACE(model.to("cpu")))
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    compiled.save(str(tmp))
    _replace(tmp, out)


def reference(model_path: str, frames_path: str, out: str, dtype: str) -> None:
    import numpy as np
    from ase import Atoms
    from mace.calculators import MACECalculator

    calc = MACECalculator(model_paths=model_path, device="cpu", default_dtype=dtype)
    frames = np.load(frames_path)
    energies, forces, stresses = [], [], []
    for k in range(int(frames["n_frames"])):
        atoms = Atoms(numbers=frames[f"numbers_{k}"], positions=frames[f"positions_{k}"], cell=frames[f"cell_{k}"],
                      pbc=True)
        atoms.calc = calc
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
        stresses.append(atoms.get_stress(voigt=True))
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, energy_eV=np.array(energies), stress_eV_A3=np.array(stresses),
             **{f"forces_eV_A_{k}": f for k, f in enumerate(forces)})
    _replace(tmp, out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export")
    e.add_argument("model")
    e.add_argument("out")
    e.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    r = sub.add_parser("reference")
    r.add_argument("model")
    r.add_argument("frames")
    r.add_argument("out")
    r.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    args = ap.parse_args(argv)
    if args.command == "export":
        export(args.model, args.out, args.dtype)
    else:
        reference(args.model, args.frames, args.out, args.dtype)


if __name__ == "__main__":
    sys.exit(main())
