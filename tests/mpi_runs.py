"""`mpirun -np N lmp` on a structure with an lmpflow pair style, and comparisons of what comes back."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import write

from lmpflow._host import executable
from lmpflow.lammps.runtime import plugin_env
from lmpflow.system.structures import SPECIES

EV_A3_TO_BAR = 1.6021765e6  # LAMMPS metal units nktv2p (its own value of eV/Å³ in bar)


def run_lammps(tmp: Path, atoms: Atoms, pt2: Path, ranks: int, *, style_args: str = "", pre: str = "",
               after_read: str = "", md_steps: int = 0, check: bool = True, style: str = "lmpflow/nequip") -> dict:
    """`mpirun -np ranks lmp` on `atoms`: energy, pressure (xx yy zz yz xz xy, bar), and per atom (sorted by
    id) positions, forces and energy; or, with check=False, the process's output."""
    tag = f"np{ranks}-{abs(hash((style, str(pt2), style_args, pre, after_read, md_steps))) % 10**8}"
    work = tmp / tag
    work.mkdir(parents=True, exist_ok=True)
    write(work / "data.lmp", atoms, format="lammps-data", specorder=list(SPECIES), masses=True)
    md = (f"velocity all create 600 4928459 mom yes rot yes dist gaussian loop geom\n"
          f"fix nve all nve\ntimestep 0.001\nrun {md_steps}\n") if md_steps else ""
    (work / "in.lmp").write_text(f"""
units metal
atom_style atomic
{pre}
read_data data.lmp
{after_read}
pair_style {style} {style_args}
pair_coeff * * {pt2} {' '.join(SPECIES)}
compute pa all pe/atom
thermo_style custom step pe pxx pyy pzz pyz pxz pxy
{md}
run 0
print "$(pe:%.17g) $(pxx:%.17g) $(pyy:%.17g) $(pzz:%.17g) $(pyz:%.17g) $(pxz:%.17g) $(pxy:%.17g)" file thermo.txt
write_dump all custom atoms.txt id x y z fx fy fz c_pa modify sort id format float %.17g
""")
    env = plugin_env() | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.run([executable("mpirun"), "-np", str(ranks), executable("lmp"), "-in", "in.lmp", "-log", "log"],
                          cwd=work, capture_output=True, text=True, env=env, timeout=900)
    if not check:
        return {"returncode": proc.returncode, "output": proc.stdout + proc.stderr}
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-3000:] + proc.stderr[-3000:])
    thermo = np.loadtxt(work / "thermo.txt")
    per_atom = np.loadtxt(work / "atoms.txt", skiprows=9)
    return {"energy": thermo[0], "press": thermo[1:], "id": per_atom[:, 0].astype(int), "x": per_atom[:, 1:4],
            "f": per_atom[:, 4:7], "pe": per_atom[:, 7], "log": (work / "log").read_text()}


#: bar; the round-off of a virial sum does not shrink as a cell nears zero pressure, so pressures are compared
#: relative to at least this (1 GPa)
PRESSURE_SCALE_BAR = 1e4


def rel(a, b, floor: float = 0.0) -> float:
    """max |a - b| over max(max |b|, floor)."""
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / max(np.abs(np.asarray(b)).max(), floor))


def assert_same(got: dict, ref: dict, tol: float, what: str):
    diffs = {k: rel(got[k], ref[k], PRESSURE_SCALE_BAR if k == "press" else 0.0)
             for k in ("energy", "f", "press", "pe")}
    print(f"{what}: max rel. diff " + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))
    assert all(v <= tol for v in diffs.values()), (what, diffs)
