"""Compile a NequIP package or checkpoint for nequip's ``lmpflow_nequip`` target (see `nequip_extension`).

    python -m lmpflow.potentials.nequip_compile model.nequip.zip model.nequip.pt2 --device cpu

Same steps as ``nequip-compile --mode aotinductor`` (eager model, metadata with nequip's global state, AOTInductor
export checked against the eager model), with one change to the model: its total energy is summed over the
nodes in ``lmpflow_owned_mask`` only. Run it in its own process: it sets nequip's compile-time global state.
"""
from __future__ import annotations

import argparse

import torch

from lmpflow.potentials import nequip_extension as ext

# nequip-compile's fixed seed and export bounds (at least 2 nodes and 2 edges)
_SEED = 1
_MIN_NODES = _MIN_EDGES = 2


class _OwnedEnergy(torch.nn.Module):
    """The energy model with the atomic energies of nodes outside the owned mask set to zero before its own
    total-energy reduction is applied again; the force/stress module around it differentiates that total."""

    def __init__(self, func: torch.nn.Module, reduce: torch.nn.Module):
        super().__init__()
        self.func = func
        self.reduce = reduce  # the model's AtomwiseReduce atomic_energy -> total_energy (a shared submodule)

    def forward(self, data):
        data = self.func(data)
        energy = data["atomic_energy"]
        owned = data[ext.OWNED_MASK_KEY].view(-1, 1)
        data["atomic_energy"] = torch.where(owned, energy, torch.zeros_like(energy))
        return self.reduce(data)


def mask_ghost_energy(model: torch.nn.Module) -> int:
    """Make a loaded nequip GraphModel sum only owned atoms' energies; returns its message-passing layers."""
    # classes of packaged models live in a torch.package namespace: compare class names, not types
    by_class = {}
    for module in model.modules():
        by_class.setdefault(type(module).__name__, []).append(module)
    layers = len(by_class.get("InteractionBlock", []))
    if layers == 0:
        raise ValueError("not a message-passing nequip model (no InteractionBlock): a strictly local model such as "
                         "Allegro runs on any number of ranks with its pair_allegro target")
    reduces = [m for m in by_class.get("AtomwiseReduce", [])
               if m.field == "atomic_energy" and m.out_field == "total_energy"]
    outputs = by_class.get("ForceStressOutput", [])
    if len(reduces) != 1 or len(outputs) != 1 or not hasattr(model, "model_input_fields"):
        raise ValueError("unexpected nequip model structure: lmpflow needs one ForceStressOutput and one "
                         "atomic_energy -> total_energy AtomwiseReduce inside a GraphModel")
    outputs[0].func = _OwnedEnergy(outputs[0].func, reduces[0])
    # GraphModel passes on only the inputs it knows
    model.model_input_fields = [*model.model_input_fields, ext.OWNED_MASK_KEY]
    return layers


def compile_lmpflow_nequip(src: str, out: str, device: str = "cpu", tf32: bool = False) -> str:
    from nequip.data import AtomicDataDict
    from nequip.model.saved_models.load_utils import load_saved_model
    from nequip.model.utils import _EAGER_MODEL_KEY
    from nequip.scripts._compile_utils import COMPILE_TARGET_DICT
    from nequip.scripts._workflow_utils import set_workflow_state
    from nequip.train.lightning import _SOLE_MODEL_KEY
    from nequip.utils.aot import aot_export_model
    from nequip.utils.aoti_metadata import NEQUIP_AOTI_INPUTS_KEY, NEQUIP_AOTI_OUTPUTS_KEY, serialize_aoti_keys
    from nequip.utils.global_state import get_latest_global_state, set_global_state
    from nequip.utils.versions import check_pt2_compile_compatibility

    if not str(out).endswith(".nequip.pt2"):
        raise ValueError(f"output must end in .nequip.pt2, got {out}")
    check_pt2_compile_compatibility()
    set_workflow_state("compile")
    set_global_state(allow_tf32=tf32)
    model, data = load_saved_model(str(src), _EAGER_MODEL_KEY, _SOLE_MODEL_KEY, return_data_dict=True)
    layers = mask_ghost_energy(model)

    metadata = dict(model.metadata) | get_latest_global_state(only_metadata_related=True)
    if metadata.get("nequip_custom_ops_libs"):
        raise ValueError("model needs custom op libraries, which the lmpflow pair styles do not load")
    target = COMPILE_TARGET_DICT[ext.TARGET]
    metadata |= {ext.LAYOUTS_KEY: " ".join(ext.LAYOUTS), ext.NUM_LAYERS_KEY: str(layers),
                 NEQUIP_AOTI_INPUTS_KEY: serialize_aoti_keys(target["input"]),
                 NEQUIP_AOTI_OUTPUTS_KEY: serialize_aoti_keys(target["output"])}
    metadata = {k: str(int(v)) if isinstance(v, bool) else str(v) for k, v in metadata.items()}

    batch_map = target["batch_map_settings"]({
        "graph": torch.export.Dim("num_frames", min=2),
        "node": torch.export.Dim("num_nodes", min=_MIN_NODES),
        "edge": torch.export.Dim("num_edges", min=_MIN_EDGES),
    })
    with ext.masked_model():
        data = target["data_settings"](AtomicDataDict.to_(data, torch.device(device)))
    aot_export_model(model=model, device=torch.device(device), input_fields=target["input"],
                     output_fields=target["output"], data=data, batch_map=batch_map, output_path=str(out),
                     inductor_configs={"aot_inductor.metadata": metadata}, seed=_SEED)
    set_workflow_state(None)
    return str(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", help="NequIP .nequip.zip package or training checkpoint")
    parser.add_argument("out", help="output .nequip.pt2")
    parser.add_argument("--device", default="cpu", help="cpu, cuda (the device the file will run on)")
    parser.add_argument("--tf32", action=argparse.BooleanOptionalAction, default=False)
    args = parser.parse_args(argv)
    print(compile_lmpflow_nequip(args.src, args.out, args.device, args.tf32))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
