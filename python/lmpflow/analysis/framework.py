"""Is the framework still a solid? The MSD of the host species (P, S, Cl in Li6PS5Cl) over a run.

Li diffusion coefficients mean something only in an intact host lattice. In a solid the framework atoms
vibrate: their MSD reaches a plateau within a picosecond and stays there. In a molten or amorphising
framework (a soft model at high temperature) it grows linearly with the lag, like the Li MSD, and D then
describes a liquid. The test compares the all-origins MSD at a quarter and at half of the run (lags with many
origins): a plateau gives a ratio near 1, diffusion a ratio near 2.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .diffusion import A2_PER_PS_TO_CM2_PER_S
from .msd import msd

#: a framework species is mobile when its MSD grows by more than this between a quarter and half of the run
#: (Å²: above vibrational noise; P–S bonds are 2.05 Å) ...
MOBILE_GROWTH_A2 = 0.5
#: ... and by more than this factor (a plateau stays near 1, diffusion gives 2)
MOBILE_RATIO = 1.4


@dataclass(frozen=True)
class FrameworkMobility:
    """MSD of each framework species (drift-corrected to the framework's centre) at a quarter and at half of
    the run, the diffusion coefficient the growth between them implies, and which species are mobile."""

    species: tuple[str, ...]
    t_ps: tuple[float, float]           # the two lags (ps)
    msd_A2: dict                        # species -> (MSD at t_ps[0], MSD at t_ps[1]) in Å²
    D_cm2_s: dict                       # species -> growth / (6 Δt), cm²/s
    mobile: tuple[str, ...]

    def warning(self) -> str | None:
        """The message for a run record, or None when the framework holds."""
        if not self.mobile:
            return None
        growth = ", ".join(f"{s} {self.msd_A2[s][0]:.2f} -> {self.msd_A2[s][1]:.2f} A^2" for s in self.mobile)
        cause = ("PS4 units may rotate freely or S diffuses" if self.mobile == ("S",) else
                 "the framework is molten or amorphising")
        return (f"framework MSD grows linearly between {self.t_ps[0]:g} and {self.t_ps[1]:g} ps ({growth}): "
                f"{cause}, so D describes a liquid, not ion hopping in a solid. Check the model against its "
                f"reference at this temperature, or run cooler")

    def to_json(self) -> dict:
        return {"species": list(self.species), "t_ps": list(self.t_ps), "msd_A2": {s: list(v) for s, v in self.msd_A2.items()},
                "D_cm2_s": dict(self.D_cm2_s), "mobile": list(self.mobile)}


def framework_mobility(traj, framework: Sequence[str], *, timestep_ps: float | None = None,
                       dt_ps: float | None = None) -> FrameworkMobility:
    """Mobility of the `framework` species present in `traj` (timestep_ps: MD step, or dt_ps: frame interval)."""
    present = tuple(s for s in framework if s in traj.species)
    if not present:
        raise ValueError(f"none of the framework species {list(framework)} is in the trajectory "
                         f"(it holds {traj.species})")
    msds, Ds, mobile = {}, {}, []
    t = None
    for s in present:
        res = msd(traj, s, dt_ps=dt_ps, timestep_ps=timestep_ps, framework=present)
        q, h = res.n_frames // 4, res.n_frames // 2
        t = (float(res.t_ps[q]), float(res.t_ps[h]))
        a, b = float(res.total_A2[q]), float(res.total_A2[h])
        msds[s] = (a, b)
        Ds[s] = (b - a) / (6.0 * (t[1] - t[0])) * A2_PER_PS_TO_CM2_PER_S
        if b - a > MOBILE_GROWTH_A2 and b > MOBILE_RATIO * max(a, np.finfo(float).tiny):
            mobile.append(s)
    return FrameworkMobility(species=present, t_ps=t, msd_A2=msds, D_cm2_s=Ds, mobile=tuple(mobile))
