"""The MACE environment: a virtual environment of its own for mace-torch, made by lmpflow on demand.

mace-torch 0.3.16 pins e3nn 0.4.4 while nequip needs e3nn 0.6, so the two cannot share one environment.
Running a MACE model needs neither (the LAMMPS plugin loads its TorchScript export with libtorch); training,
exporting and MACE's own ASE calculator do, and lmpflow runs them in this environment as subprocesses
(`lmpflow.potentials.mace_worker`). It lives in $LMPFLOW_MACE_ENV, else beside lmpflow's own virtual
environment (``.venv`` -> ``.venv-mace``), else in ~/.cache/lmpflow/venv-mace. `ensure()` creates it (a few
minutes, once) with the torch release lmpflow runs and the pinned mace-torch; `scripts/install.sh --with-mace`
and `lmpflow mace-env` call it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from lmpflow._host import atomic_write_text, file_lock, run_tool, say

MACE_TORCH = "mace-torch==0.3.16"
# written last: an environment without it is half made and is made again
_MARKER = "lmpflow-mace-env.json"


def location() -> Path:
    """Where the MACE environment lives (it may not exist yet)."""
    if os.environ.get("LMPFLOW_MACE_ENV"):
        return Path(os.environ["LMPFLOW_MACE_ENV"])
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix + "-mace")
    return Path.home() / ".cache" / "lmpflow" / "venv-mace"


def torch_requirement() -> str:
    """The torch of this environment as a pin ("torch==2.13.0"): the export must load in the plugin's libtorch,
    and a bare "torch" would pull a multi-GB CUDA build on a CPU machine."""
    import torch

    return "torch==" + torch.__version__.split("+")[0]


def python() -> Path:
    """The MACE environment's Python, creating the environment first if it is missing."""
    env = location()
    exe = env / "bin" / "python"
    return exe if (env / _MARKER).is_file() and exe.is_file() else ensure()


def ensure() -> Path:
    """Create the MACE environment if it is missing (guarded by a lock: concurrent callers make it once);
    returns its Python."""
    env = location()
    exe = env / "bin" / "python"
    env.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(env.with_name(env.name + ".lock"), f"another process is creating {env}; waiting for it"):
        if (env / _MARKER).is_file() and exe.is_file():
            return exe
        shutil.rmtree(env, ignore_errors=True)
        requirements = [torch_requirement(), MACE_TORCH]
        say(f"lmpflow: creating the MACE environment {env} ({' '.join(requirements)}); this takes a few "
            "minutes, once")
        log = env.with_name(env.name + "-install.log")
        for cmd in ([sys.executable, "-m", "venv", str(env)],
                    # torch first and pinned, so mace-torch's bare "torch" requirement is already met
                    [str(exe), "-m", "pip", "install", "-q", requirements[0]],
                    [str(exe), "-m", "pip", "install", "-q", *requirements[1:]]):
            run_tool(cmd, log, f"creating the MACE environment (`{' '.join(cmd)}`)")
        versions = subprocess.run([str(exe), "-c", "import json, torch, e3nn, mace; print(json.dumps({'torch': "
                                   "torch.__version__, 'e3nn': e3nn.__version__, 'mace': mace.__version__}))"],
                                  capture_output=True, text=True, check=True).stdout
        atomic_write_text(env / _MARKER, json.dumps({"requirements": requirements, **json.loads(versions)}) + "\n")
        say(f"lmpflow: MACE environment ready in {env}")
    return exe


def versions() -> dict:
    """torch, e3nn and mace versions of the MACE environment (for sidecars), {} if it does not exist."""
    marker = location() / _MARKER
    return json.loads(marker.read_text()) if marker.is_file() else {}


def run(args: list[str], log: Path, what: str, timeout: float | None = None) -> None:
    """Run `python <args>` in the MACE environment (created if missing), output in `log`. Isolated (-I): no
    PYTHON* variables, user site or script folder (lmpflow's mace.py there would hide mace-torch's package)."""
    run_tool([str(python()), "-I", *args], log, what, timeout=timeout, env={"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"})


def worker(args: list[str], log: Path, what: str, timeout: float | None = None) -> None:
    """Run a command of `lmpflow.potentials.mace_worker` in the MACE environment."""
    run([str(Path(__file__).with_name("mace_worker.py")), *args], log, what, timeout=timeout)
