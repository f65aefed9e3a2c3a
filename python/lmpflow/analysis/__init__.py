"""Transport analysis: MSD → D → σ and Haven ratio → replicas and convergence → Arrhenius fits.

One concept per module: ``msd`` (FFT MSD over all origins, drift correction, charge MSD), ``diffusion``
(fit window, D with errors), ``conductivity`` (Nernst–Einstein, charge-MSD σ, Haven ratio), ``replicas``
(independent trajectories, convergence) and ``arrhenius`` (D(T), σ(T) fits and extrapolation).
This package imports nothing from lmpflow's LAMMPS, potential, input, run or sweep modules.
"""

from .arrhenius import K_B_EV_K, ArrheniusFit, Prediction, TwoRegimeFit, fit_arrhenius
from .conductivity import (
    ConductivityResult,
    HavenResult,
    conductivity_from_msd,
    conductivity_nernst_einstein,
    haven_ratio,
)
from .diffusion import A2_PER_PS_TO_CM2_PER_S, DiffusionResult, diffusion_coefficient, fit_window
from .msd import MSDResult, combine_msd, msd
from .replicas import (
    CombinedEstimate,
    ConvergenceCurve,
    combine_trajectories,
    convergence_vs_length,
    convergence_vs_trajectories,
    length_needed_ps,
    trajectories_needed,
)

__all__ = [
    "A2_PER_PS_TO_CM2_PER_S", "K_B_EV_K",
    "MSDResult", "msd", "combine_msd",
    "DiffusionResult", "fit_window", "diffusion_coefficient",
    "ConductivityResult", "HavenResult", "conductivity_nernst_einstein", "conductivity_from_msd", "haven_ratio",
    "CombinedEstimate", "ConvergenceCurve", "combine_trajectories", "trajectories_needed", "length_needed_ps",
    "convergence_vs_trajectories", "convergence_vs_length",
    "ArrheniusFit", "TwoRegimeFit", "Prediction", "fit_arrhenius",
]
