"""The demo: a short sweep on the shipped default model that prints D(T), Eₐ and σ(300 K) with intervals."""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from lmpflow.lammps.runtime import plugin_path
from lmpflow.potentials.registry import DEFAULT_MODEL_LABEL, find_model
from lmpflow.system.structures import li6ps5cl
from lmpflow.workflows.sweep import run_sweep
from lmpflow.workflows.tables import format_results


def run_demo(out_dir: str | os.PathLike = "demo_out", *, temperatures: Sequence[float] = (600, 750, 900),
             seeds: int | Sequence[int] = 3, supercell: int | Sequence[int] = 1, production_ps: float = 6.0,
             eq_ps: float = 1.0, timestep_ps: float = 0.002, frame_ps: float = 0.02, workers: int = 2,
             model=None, progress: bool = True) -> dict:
    """A short sweep (temperatures in K × seeds, `production_ps` ps each, on a Li6PS5Cl supercell) that
    prints D(T) with errors, Ea ± error and σ(300 K) with its 95 % interval, and writes tables and plots.

    model: anything `run_sweep` accepts (an ML model, or a classical `Potential` to run without the
    plugin); default: the shipped default model, compiled on first use. Sizes are parameters so a tiny
    version runs in tests.
    """
    if model is None:
        model = _default_demo_model()
    steps, dump_every = round(production_ps / timestep_ps), max(1, round(frame_ps / timestep_ps))
    steps -= steps % dump_every
    cells = (supercell,) * 3 if isinstance(supercell, (int, np.integer)) else tuple(supercell)
    result = run_sweep([model], temperatures, seeds, out_dir, li6ps5cl(cells), steps=steps,
                       eq_steps=round(eq_ps / timestep_ps), timestep_ps=timestep_ps, dump_every=dump_every,
                       workers=workers, progress=progress)
    if progress:
        print(format_results(result["tables"]["summary"], result["tables"]["arrhenius"]))
    return result


def _default_demo_model():
    """The shipped default model (compiled on first use); needs the lmpflow LAMMPS plugin to run."""
    if plugin_path() is None:
        raise FileNotFoundError("the lmpflow LAMMPS plugin (lmpflowplugin.so) is not built, so the ML model "
                                "cannot run: build/install lmpflow with its plugin, or set LMPFLOW_PLUGIN")
    return find_model(DEFAULT_MODEL_LABEL)  # its spec: tables say "nequip-chgnet-pbe", not the cache file
