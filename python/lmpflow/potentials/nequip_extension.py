"""lmpflow's nequip extension: the compile target of `pair_style lmpflow/nequip` on any number of MPI ranks.

nequip imports this module on every ``import nequip`` (entry point ``nequip.extension: init_always`` in
pyproject.toml), MD processes included, so it imports nothing but nequip's data keys and its compile-target table.

Target ``lmpflow_nequip``: the inputs of nequip's ``pair_nequip`` plus ``lmpflow_owned_mask`` (bool, per node),
outputs ``atomic_energy``, ``forces``, ``virial``. The model sums the atomic energies of masked-in (owned) nodes
only, so its forces are -dE_owned/dr on every node and its virial -dE_owned/d(strain). One file then runs in two
graph layouts:

- ``periodic`` (one rank): owned atoms with integer image shifts, every node owned;
- ``deep_ghost`` (any rank count): owned atoms plus ghosts out to ``lmpflow_num_layers`` x r_max with zero
  shifts, only owned nodes in the mask; ghost forces go back to their owners through LAMMPS.

The mask must act inside the model, before autograd, which a nequip compile target cannot arrange: files of this
target come from `lmpflow compile` (`lmpflow.potentials.nequip_compile`), and ``nequip-compile --target
lmpflow_nequip`` stops with a pointer to it.
"""
from __future__ import annotations

import contextlib
import contextvars

import torch
from nequip.data import register_fields
from nequip.scripts._compile_utils import (
    LMP_OUTPUTS,
    PAIR_NEQUIP_INPUTS,
    register_compile_targets,
    single_frame_batch_map_settings,
    single_frame_data_settings,
)

from lmpflow.potentials.backends import TARGET_LAYOUTS
from lmpflow.potentials.nequip import LAYOUTS_KEY, LMPFLOW_TARGET, NUM_LAYERS_KEY, OWNED_MASK_KEY  # noqa: F401

TARGET = LMPFLOW_TARGET
LAYOUTS = TARGET_LAYOUTS[TARGET]

_masked_model = contextvars.ContextVar("lmpflow_masked_model", default=False)


@contextlib.contextmanager
def masked_model():
    """Marks the model being compiled as lmpflow's owned-energy model (the target refuses any other)."""
    token = _masked_model.set(True)
    try:
        yield
    finally:
        _masked_model.reset(token)


def _data_settings(data):
    if not _masked_model.get():
        raise RuntimeError(f"nequip-compile cannot make `--target {TARGET}` files: they need lmpflow's owned-atom "
                           f"energy inside the model. Run `lmpflow compile MODEL.nequip.zip` instead")
    data = single_frame_data_settings(data)
    # mask out a quarter of the nodes, so that nequip's compile check compares masked outputs
    n = data["pos"].shape[0]
    data[OWNED_MASK_KEY] = torch.arange(n, device=data["pos"].device) < n - n // 4
    return data


register_fields(node_fields=[OWNED_MASK_KEY])
register_compile_targets({TARGET: {
    "input": [*PAIR_NEQUIP_INPUTS, OWNED_MASK_KEY],
    "output": list(LMP_OUTPUTS),
    "batch_map_settings": single_frame_batch_map_settings,
    "data_settings": _data_settings,
}})
