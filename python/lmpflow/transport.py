"""Mean-squared displacements, diffusion coefficients, ionic conductivity and Haven ratio.

Units: positions in Å, times in ps, MSD in Å², D in cm²/s, volumes in Å³,
temperatures in K, charges in units of e, conductivity in mS/cm.

Uncertainty model.  The MSD at different lags is strongly correlated, so the
standard error of an ordinary least-squares slope is *not* an uncertainty of
D (it understates it by orders of magnitude).  Instead:

* one trajectory: the trajectory is cut into ``n_blocks`` contiguous,
  independent time blocks; D is fitted in each block over the same lag window
  as the full-trajectory fit, and the spread of the block values gives the
  error of the full estimate.  Blocks include every correlation (between ions,
  in time), so the same scheme works for the collective (charge) MSD.  The
  full-trajectory estimate uses also the time origins that straddle block
  borders, so its variance is smaller than the block mean's by about
  ``(T - M·m)/(T - m)`` (T: trajectory length, M: blocks, m: lag; follows
  from the variance of a time-averaged MSD of a random walk,
  Var ∝ m/(T - m), Qian et al. Biophys. J. 60, 910 (1991)); that factor is
  applied.  ``tests/test_transport.py`` checks the calibration against the
  spread of independent random-walk replicas.
* several independent trajectories (``combine_msd``): each trajectory is a
  block, no correction needed; this is the method of choice.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Mapping, Sequence

import numpy as np
from scipy import fft as sp_fft
from scipy import stats

from .trajectory import Trajectory

__all__ = [
    "A2_PER_PS_TO_CM2_PER_S",
    "MSDResult",
    "DiffusionResult",
    "ConductivityResult",
    "HavenResult",
    "CombinedEstimate",
    "ConvergenceCurve",
    "msd",
    "combine_msd",
    "fit_window",
    "diffusion_coefficient",
    "conductivity_nernst_einstein",
    "conductivity_from_msd",
    "haven_ratio",
    "combine_trajectories",
    "convergence_vs_trajectories",
    "convergence_vs_length",
    "trajectories_needed",
]

A2_PER_PS_TO_CM2_PER_S = 1e-4  # 1 Å²/ps = 1e-16 cm² / 1e-12 s
_E_C = 1.602176634e-19  # elementary charge, C
_KB_J_K = 1.380649e-23  # Boltzmann constant, J/K


# --------------------------------------------------------------------------- #
# MSD
# --------------------------------------------------------------------------- #

@dataclasses.dataclass
class MSDResult:
    """MSD of one species, averaged over particles and all time origins.

    t_ps : (n_lags,) lag times, ps (lag 0 included).
    msd_A2 : (n_lags, 3) per-axis MSD averaged over particles, Å².
    charge_msd_A2 : (n_lags, 3) per-axis MSD of the total charge displacement
        ``<|Σ_i q_i Δr_i(t)|²>`` (e²·Å²), not divided by the number of ions.
    block_msd_A2, block_charge_msd_A2 : (n_blocks, n_block_lags, 3) the same
        quantities in each independent block (time blocks of one trajectory,
        or whole trajectories after ``combine_msd``); block lags are
        ``t_ps[:n_block_lags]``.
    block_length_frames : frames per block (the error correction needs it).
    independent_blocks : True when blocks are whole independent trajectories.
    per_particle_A2 : (n_lags, n_particles, 3) or None.
    n_particles, charge_sq_sum (Σ q_i² of the mobile ions, e²), volume_A3
    (mean cell volume), n_frames, dt_ps (frame interval), species,
    drift_corrected.
    """

    t_ps: np.ndarray
    msd_A2: np.ndarray
    charge_msd_A2: np.ndarray
    block_msd_A2: np.ndarray
    block_charge_msd_A2: np.ndarray
    block_length_frames: int
    independent_blocks: bool
    n_particles: int
    charge_sq_sum: float
    volume_A3: float
    n_frames: int
    dt_ps: float
    species: str
    drift_corrected: bool
    per_particle_A2: np.ndarray | None = None

    @property
    def total_A2(self) -> np.ndarray:
        """Total (x+y+z) MSD per lag, Å²."""
        return self.msd_A2.sum(axis=-1)

    @property
    def charge_total(self) -> np.ndarray:
        return self.charge_msd_A2.sum(axis=-1)

    @property
    def n_blocks(self) -> int:
        return int(self.block_msd_A2.shape[0])


def _msd_time_last(x: np.ndarray, nfft: int, sum_axis: int | None) -> np.ndarray:
    """MSD over all time origins of series with time as the last axis.

    MSD(m) = [Σ_k x_k² + x_{k+m}² - 2 Σ_k x_k x_{k+m}] / (T - m); the second sum
    is an autocorrelation done by FFT with zero padding (nfft ≥ 2T).
    ``sum_axis``: sum the *numerators* over this axis (particles) before the
    inverse FFT, which halves the FFT work when per-particle output is not needed.
    """
    T = x.shape[-1]
    spec = sp_fft.rfft(x, n=nfft, axis=-1, workers=-1)
    power = spec.real ** 2 + spec.imag ** 2
    sq = x * x
    if sum_axis is not None:
        power = power.sum(axis=sum_axis)
        sq = sq.sum(axis=sum_axis)
    acf = sp_fft.irfft(power, n=nfft, axis=-1, workers=-1)[..., :T]
    csum = np.cumsum(sq, axis=-1)
    total = csum[..., -1:]
    # Σ_{k=0}^{T-1-m} x_k² = csum[T-1-m];  Σ_{k=m}^{T-1} x_k² = total - csum[m-1]
    head = csum[..., ::-1]
    tail = total - np.concatenate([np.zeros_like(total), csum[..., :-1]], axis=-1)
    counts = np.arange(T, 0, -1, dtype=np.float64)
    return (head + tail - 2.0 * acf) / counts


def _frame_interval_ps(traj: Trajectory, dt_ps: float | None, timestep_ps: float | None) -> float:
    if (dt_ps is None) == (timestep_ps is None):
        raise ValueError("give exactly one of dt_ps (time between frames, ps) or "
                         "timestep_ps (MD integration step, ps)")
    name, value = ("dt_ps", dt_ps) if dt_ps is not None else ("timestep_ps", timestep_ps)
    if not (math.isfinite(float(value)) and float(value) > 0):  # NaN would poison every D silently
        raise ValueError(f"{name} must be a positive, finite number of ps, got {value!r}")
    if dt_ps is not None:
        if traj.n_frames > 1:
            traj.frame_interval_steps()  # still require an even spacing
        return float(dt_ps)
    return traj.frame_interval_steps() * float(timestep_ps)


def _framework_drift(traj: Trajectory, fw: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Displacement of the framework centre (unweighted mean), (n_frames, 3), Å."""
    com = np.empty((traj.n_frames, 3))
    for s in range(0, traj.n_frames, chunk):
        com[s:s + chunk] = np.asarray(traj.positions[s:s + chunk, fw]).mean(axis=1)
    return com - com[0]


def msd(
    traj: Trajectory,
    species: str = "Li",
    *,
    dt_ps: float | None = None,
    timestep_ps: float | None = None,
    drift_correction: bool = True,
    framework: str | Sequence[str] | None = None,
    charges: Mapping[str, float] | None = None,
    per_particle: bool = False,
    n_blocks: int = 5,
    particle_block: int = 64,
) -> MSDResult:
    """MSD of ``species`` by FFT over all time origins, float64, per axis.

    Parameters
    ----------
    traj : unwrapped trajectory (``read_dump``).
    species : mobile species (element name or type label).
    dt_ps / timestep_ps : time between frames in ps, or the MD step in ps
        (then multiplied by the TIMESTEP spacing of the frames).  One is required.
    drift_correction : subtract the displacement of the framework's centre
        (all atoms not of ``species`` unless ``framework`` names species) from
        every atom.  Thermostats let the whole cell drift; ions move relative
        to the framework, and conductivity is defined in that frame.
    charges : charges (e) per species for the collective (charge) MSD.  Default
        ``{species: 1}``: only the mobile ion carries charge.  Species other
        than ``species`` that are listed contribute to the charge
        displacement (drift-corrected) but not to the tracer MSD.
    per_particle : keep the per-particle MSD (n_lags × n_particles × 3 floats).
    n_blocks : independent time blocks kept for error estimates (≥ 2).
    particle_block : particles per FFT batch (bounds memory).
    """
    if n_blocks < 2:
        raise ValueError("n_blocks must be at least 2 (errors come from the block spread)")
    dt = _frame_interval_ps(traj, dt_ps, timestep_ps)
    T = traj.n_frames
    if T < 4 * n_blocks:
        raise ValueError(f"{T} frames are too few for {n_blocks} blocks")
    mob = traj.indices(species)
    charges = {species: 1.0} if charges is None else dict(charges)
    q_all = np.array([charges.get(e, 0.0) for e in traj.elements], dtype=np.float64)
    drift = np.zeros((T, 3))
    if drift_correction:
        fw = traj.indices(framework) if framework is not None else np.setdiff1d(
            np.arange(traj.n_atoms), mob)
        if fw.size == 0:
            raise ValueError("drift_correction needs framework atoms; the trajectory has only "
                             f"{species!r} (pass drift_correction=False)")
        drift = _framework_drift(traj, fw)
    Tb = T // n_blocks
    nfft = sp_fft.next_fast_len(2 * T, real=True)
    nfft_b = sp_fft.next_fast_len(2 * Tb, real=True)

    total = np.zeros((3, T))
    blocks = np.zeros((n_blocks, 3, Tb))
    per_part = np.empty((T, mob.size, 3)) if per_particle else None
    qdisp = np.zeros((T, 3))  # Σ q_i r_i(t), drift-corrected
    for s in range(0, mob.size, particle_block):
        idx = mob[s:s + particle_block]
        x = np.asarray(traj.positions[:, idx], dtype=np.float64) - drift[:, None]
        x -= x.mean(axis=0)  # MSD is shift-invariant; centring limits round-off
        qdisp += np.einsum("tai,a->ti", x, q_all[idx])
        xt = np.ascontiguousarray(x.transpose(1, 2, 0))  # (B, 3, T)
        if per_particle:
            m = _msd_time_last(xt, nfft, None)
            per_part[:, s:s + idx.size] = m.transpose(2, 0, 1)
            total += m.sum(axis=0)
        else:
            total += _msd_time_last(xt, nfft, 0)
        xb = xt[:, :, :n_blocks * Tb].reshape(idx.size, 3, n_blocks, Tb).transpose(2, 0, 1, 3)
        blocks += _msd_time_last(np.ascontiguousarray(xb), nfft_b, 1)
    # Other charged species (if the caller listed any) add to the charge displacement.
    others = np.flatnonzero((q_all != 0) & ~np.isin(np.arange(traj.n_atoms), mob))
    for s in range(0, others.size, particle_block):
        idx = others[s:s + particle_block]
        x = np.asarray(traj.positions[:, idx], dtype=np.float64) - drift[:, None]
        qdisp += np.einsum("tai,a->ti", x - x.mean(axis=0), q_all[idx])
    qt = qdisp.T
    charge = _msd_time_last(qt, nfft, None)
    qb = np.ascontiguousarray(qt[:, :n_blocks * Tb].reshape(3, n_blocks, Tb).transpose(1, 0, 2))
    charge_b = _msd_time_last(qb, nfft_b, None)
    n = mob.size
    return MSDResult(
        t_ps=np.arange(T) * dt,
        msd_A2=total.T / n,
        charge_msd_A2=charge.T,
        block_msd_A2=blocks.transpose(0, 2, 1) / n,
        block_charge_msd_A2=charge_b.transpose(0, 2, 1),
        block_length_frames=Tb,
        independent_blocks=False,
        n_particles=n,
        charge_sq_sum=float(np.sum(q_all[mob] ** 2)),
        volume_A3=float(traj.volumes_A3.mean()),
        n_frames=T,
        dt_ps=dt,
        species=species,
        drift_corrected=drift_correction,
        per_particle_A2=per_part,
    )


def combine_msd(results: Sequence[MSDResult]) -> MSDResult:
    """Average MSDs of independent trajectories; each trajectory becomes one block.

    Trajectories must share the frame interval; they are cut to the shortest.
    Errors from ``diffusion_coefficient`` etc. then come from the spread
    between trajectories (no correction factor needed).
    """
    if len(results) < 2:
        raise ValueError("combine_msd needs at least two trajectories")
    dt = results[0].dt_ps
    if any(not math.isclose(r.dt_ps, dt, rel_tol=1e-9) for r in results):
        raise ValueError("trajectories have different frame intervals")
    if len({r.species for r in results}) != 1:
        raise ValueError("trajectories are of different species")
    T = min(r.n_frames for r in results)
    w = np.array([r.n_particles for r in results], float)
    msds = np.stack([r.msd_A2[:T] for r in results])
    charge = np.stack([r.charge_msd_A2[:T] for r in results])
    # Charge MSD is extensive in the number of ions: average it per ion, then rescale.
    cmean = np.tensordot(w / w.sum(), charge / w[:, None, None], axes=1) * w.mean()
    return MSDResult(
        t_ps=results[0].t_ps[:T],
        msd_A2=np.tensordot(w / w.sum(), msds, axes=1),
        charge_msd_A2=cmean,
        block_msd_A2=msds,
        block_charge_msd_A2=charge * (w.mean() / w)[:, None, None],
        block_length_frames=T,
        independent_blocks=True,
        n_particles=int(round(w.mean())),
        charge_sq_sum=float(np.mean([r.charge_sq_sum for r in results])),
        volume_A3=float(np.mean([r.volume_A3 for r in results])),
        n_frames=T,
        dt_ps=dt,
        species=results[0].species,
        drift_corrected=all(r.drift_corrected for r in results),
    )


# --------------------------------------------------------------------------- #
# Fit window and slopes
# --------------------------------------------------------------------------- #

def _max_window_frames(res: MSDResult, max_lag_fraction: float) -> int:
    """Longest lag usable by both the full and the block fits, frames."""
    if res.independent_blocks:
        return max(2, int(max_lag_fraction * res.n_frames))
    return max(2, int(max_lag_fraction * res.block_length_frames))


def fit_window(
    res: MSDResult,
    *,
    tolerance: float = 0.15,
    max_lag_fraction: float = 0.5,
    charge: bool = False,
) -> tuple[float, float]:
    """Automatic fit window (t_start_ps, t_end_ps) in the diffusive regime.

    The window ends at ``max_lag_fraction`` of a block (of the trajectory for
    independent trajectories): longer lags have few independent origins.  It
    starts where the local exponent β = d ln MSD / d ln t (on log-spaced lags,
    after the ballistic and caged regimes) stays within 1 ± ``tolerance`` up
    to the window end.  If no such lag exists (sub-diffusive data) a warning
    is issued and the last half of the window is used.
    """
    end = _max_window_frames(res, max_lag_fraction)
    y = res.charge_total if charge else res.total_A2
    lags = np.unique(np.round(np.geomspace(1, end, 40)).astype(int))
    lags = lags[y[lags] > 0]
    if lags.size < 4:
        raise ValueError("too few lags with positive MSD for a fit window")
    ly = np.log(y[lags])
    lt = np.log(lags * res.dt_ps)
    beta = np.gradient(ly, lt)
    # Smooth over neighbours so that noise at single lags does not break the regime.
    beta = np.convolve(np.pad(beta, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    ok = np.abs(beta - 1.0) <= tolerance
    start = None
    for i in range(lags.size - 1, -1, -1):  # walk back from the end while diffusive
        if not ok[i]:
            break
        start = lags[i]
    if start is None or start > end // 2:
        warnings.warn(
            f"no diffusive regime (|β-1| ≤ {tolerance}) found up to {end * res.dt_ps:.3g} ps "
            f"(β at window end {beta[-1]:.2f}); fitting the last half of the window — "
            "the result is not a converged diffusion coefficient", stacklevel=2)
        start = max(1, end // 2)
    return float(start * res.dt_ps), float(end * res.dt_ps)


def _slopes(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """OLS slopes of y (…, n) against t (n,) — a point estimator only."""
    tc = t - t.mean()
    return (y - y.mean(axis=-1, keepdims=True)) @ tc / (tc @ tc)


def _window_indices(res: MSDResult, window: tuple[float, float]) -> np.ndarray:
    t0, t1 = window
    i0 = int(round(t0 / res.dt_ps))
    i1 = int(round(t1 / res.dt_ps))
    if i0 < 0 or i1 <= i0 + 1:
        raise ValueError(f"fit window {window} ps spans fewer than 3 lags")
    limit = res.n_frames - 1 if res.independent_blocks else res.block_length_frames - 1
    if i1 > limit:
        raise ValueError(
            f"fit window ends at {t1} ps, beyond the {limit * res.dt_ps:.4g} ps usable in each "
            "block; use a shorter window or recompute the MSD with fewer n_blocks")
    return np.arange(i0, i1 + 1)


def _block_variance_factor(res: MSDResult, idx: np.ndarray) -> float:
    """Var(full estimate) / Var(mean of block estimates); see module docstring."""
    if res.independent_blocks:
        return 1.0
    T = res.n_frames
    M = res.n_blocks
    m = 0.5 * (idx[0] + idx[-1])  # effective lag of the slope
    f = (T - M * m) / (T - m)
    if idx[-1] > 0.5 * res.block_length_frames:
        warnings.warn("fit window longer than half a block: block error correction is rough",
                      stacklevel=3)
    return float(min(1.0, max(f, 0.1)))


@dataclasses.dataclass
class _SlopeEstimate:
    value: float  # full-data slope, Å²/ps
    sigma: float  # calibrated standard error, Å²/ps
    blocks: np.ndarray  # per-block slopes
    dof: int
    factor: float


def _slope_with_error(res: MSDResult, y_full: np.ndarray, y_blocks: np.ndarray,
                      window: tuple[float, float]) -> tuple[_SlopeEstimate, np.ndarray]:
    idx = _window_indices(res, window)
    t = res.t_ps[idx]
    full = float(_slopes(t, y_full[idx]))
    blocks = _slopes(t, y_blocks[:, idx])
    M = blocks.size
    f = _block_variance_factor(res, idx)
    sigma = float(np.sqrt(f * blocks.var(ddof=1) / M))
    return _SlopeEstimate(full, sigma, blocks, M - 1, f), idx


# --------------------------------------------------------------------------- #
# Diffusion coefficient
# --------------------------------------------------------------------------- #

@dataclasses.dataclass
class DiffusionResult:
    """Tracer diffusion coefficient of one species.

    D_cm2_s ± sigma_D_cm2_s (one standard error, from independent blocks, see
    module docstring; ``dof`` = blocks − 1 for t-intervals), per-axis
    values D_axes_cm2_s, the fit window in ps, the per-block estimates, and
    the intercept of the fit (Å²; vibrational amplitude).
    """

    D_cm2_s: float
    sigma_D_cm2_s: float
    D_axes_cm2_s: np.ndarray
    sigma_D_axes_cm2_s: np.ndarray
    fit_window_ps: tuple[float, float]
    block_D_cm2_s: np.ndarray
    dof: int
    intercept_A2: float
    species: str
    method: str

    @property
    def rel_err(self) -> float:
        return self.sigma_D_cm2_s / abs(self.D_cm2_s)

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        """Two-sided Student-t confidence interval of D, cm²/s."""
        q = stats.t.ppf(0.5 + level / 2, self.dof)
        return self.D_cm2_s - q * self.sigma_D_cm2_s, self.D_cm2_s + q * self.sigma_D_cm2_s


def _method(res: MSDResult) -> str:
    if res.independent_blocks:
        return f"spread of {res.n_blocks} independent trajectories"
    return f"{res.n_blocks} independent time blocks (overlap-corrected)"


def diffusion_coefficient(
    res: MSDResult,
    fit_window_ps: tuple[float, float] | None = None,
    **window_kwargs,
) -> DiffusionResult:
    """Tracer D (cm²/s) = slope of the total MSD / 6 over the fit window.

    ``fit_window_ps`` defaults to ``fit_window(res, **window_kwargs)``; the
    window used is reported.  Per-axis D = slope of that axis / 2.
    """
    window = fit_window_ps if fit_window_ps is not None else fit_window(res, **window_kwargs)
    tot, idx = _slope_with_error(res, res.total_A2, res.block_msd_A2.sum(-1), window)
    axes = [_slope_with_error(res, res.msd_A2[:, a], res.block_msd_A2[:, :, a], window)[0]
            for a in range(3)]
    t = res.t_ps[idx]
    y = res.total_A2[idx]
    intercept = float(y.mean() - tot.value * t.mean())
    c = A2_PER_PS_TO_CM2_PER_S
    return DiffusionResult(
        D_cm2_s=tot.value / 6 * c,
        sigma_D_cm2_s=tot.sigma / 6 * c,
        D_axes_cm2_s=np.array([a.value / 2 * c for a in axes]),
        sigma_D_axes_cm2_s=np.array([a.sigma / 2 * c for a in axes]),
        fit_window_ps=(float(t[0]), float(t[-1])),
        block_D_cm2_s=tot.blocks / 6 * c,
        dof=tot.dof,
        intercept_A2=intercept,
        species=res.species,
        method=_method(res),
    )


# --------------------------------------------------------------------------- #
# Conductivity and Haven ratio
# --------------------------------------------------------------------------- #

def conductivity_nernst_einstein(
    D_cm2_s, n_ions: float, volume_A3: float, T_K: float, charge: float = 1.0
):
    """Nernst–Einstein conductivity σ = n z² e² D / (k_B T), in mS/cm.

    ``n_ions / volume_A3`` is the number density of the mobile ion (Å⁻³);
    ``charge`` its charge in e.  Linear in D, so an error of D maps with the
    same call.  Works element-wise on arrays.
    """
    n_cm3 = n_ions / (volume_A3 * 1e-24)
    sigma_S_cm = n_cm3 * (charge * _E_C) ** 2 * np.asarray(D_cm2_s) / (_KB_J_K * T_K)
    return sigma_S_cm * 1e3


def _charge_slope_to_mS_cm(slope_A2_ps: float, volume_A3: float, T_K: float) -> float:
    """σ = e² / (6 V k_B T) · d<|Σ q Δr|²>/dt, mS/cm."""
    d = slope_A2_ps * 1e-16 / 1e-12  # e²·cm²/s
    return d * _E_C ** 2 / (6 * volume_A3 * 1e-24 * _KB_J_K * T_K) * 1e3


@dataclasses.dataclass
class ConductivityResult:
    """Ionic conductivity from the charge (collective) MSD, mS/cm."""

    sigma_mS_cm: float
    err_mS_cm: float
    block_sigma_mS_cm: np.ndarray
    dof: int
    fit_window_ps: tuple[float, float]
    nernst_einstein_mS_cm: float
    nernst_einstein_err_mS_cm: float
    T_K: float
    method: str


def conductivity_from_msd(
    res: MSDResult,
    T_K: float,
    fit_window_ps: tuple[float, float] | None = None,
    **window_kwargs,
) -> ConductivityResult:
    """σ from the slope of the charge MSD, with the Nernst–Einstein value beside it.

    The default window is the tracer window (``fit_window``), because the
    charge MSD of a single trajectory is too noisy to locate the diffusive
    regime by itself.
    """
    window = fit_window_ps if fit_window_ps is not None else fit_window(res, **window_kwargs)
    est, idx = _slope_with_error(res, res.charge_total, res.block_charge_msd_A2.sum(-1), window)
    tr = diffusion_coefficient(res, window)
    conv = lambda s: _charge_slope_to_mS_cm(s, res.volume_A3, T_K)  # noqa: E731
    # Σq² / N turns the per-ion NE formula into the sum over the ions of this species.
    z2 = res.charge_sq_sum / res.n_particles
    ne = conductivity_nernst_einstein(tr.D_cm2_s, res.n_particles, res.volume_A3, T_K) * z2
    ne_err = conductivity_nernst_einstein(tr.sigma_D_cm2_s, res.n_particles, res.volume_A3, T_K) * z2
    return ConductivityResult(
        sigma_mS_cm=conv(est.value),
        err_mS_cm=conv(est.sigma),
        block_sigma_mS_cm=np.array([conv(b) for b in est.blocks]),
        dof=est.dof,
        fit_window_ps=(float(res.t_ps[idx[0]]), float(res.t_ps[idx[-1]])),
        nernst_einstein_mS_cm=float(ne),
        nernst_einstein_err_mS_cm=float(ne_err),
        T_K=T_K,
        method=_method(res),
    )


@dataclasses.dataclass
class HavenResult:
    """Haven ratio H_R = D* / D_σ = σ_NE / σ with its jackknife standard error.

    ``settled`` is False when the error is too large to tell H_R from 1 and
    from typical correlated values (relative error > ``max_rel_err``).
    """

    H_R: float
    err: float
    D_tracer_cm2_s: float
    D_sigma_cm2_s: float
    n_blocks: int
    settled: bool
    fit_window_ps: tuple[float, float]
    method: str

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        q = stats.t.ppf(0.5 + level / 2, self.n_blocks - 1)
        return self.H_R - q * self.err, self.H_R + q * self.err


def haven_ratio(
    res: MSDResult,
    fit_window_ps: tuple[float, float] | None = None,
    *,
    max_rel_err: float = 0.25,
    **window_kwargs,
) -> HavenResult:
    """Haven ratio from the tracer and charge MSD of the same run(s).

    H_R = Σq² · slope(tracer MSD) / slope(charge MSD) — the ratio of Nernst–Einstein to
    collective conductivity; 1 for uncorrelated ions.  Its error is the
    delete-one-block jackknife of the ratio of block means (blocks are time
    blocks of one trajectory or whole trajectories after ``combine_msd``);
    the time-block jackknife is scaled by the same overlap factor as D.

    A single trajectory rarely settles H_R: the charge MSD is one collective
    coordinate.  A warning is issued when the relative error exceeds
    ``max_rel_err``, with the number of independent trajectories that would
    reach it.
    """
    window = fit_window_ps if fit_window_ps is not None else fit_window(res, **window_kwargs)
    tr, idx = _slope_with_error(res, res.total_A2, res.block_msd_A2.sum(-1), window)
    ch, _ = _slope_with_error(res, res.charge_total, res.block_charge_msd_A2.sum(-1), window)
    z2 = res.charge_sq_sum
    # Full estimate from the full-data slopes; jackknife on block slopes for the error.
    H = z2 * tr.value / ch.value
    M = tr.blocks.size
    jk = np.array([
        z2 * np.delete(tr.blocks, b).mean() / np.delete(ch.blocks, b).mean() for b in range(M)
    ])
    err = float(np.sqrt((M - 1) / M * np.sum((jk - jk.mean()) ** 2) * tr.factor))
    c = A2_PER_PS_TO_CM2_PER_S
    rel = err / abs(H) if H != 0 else np.inf
    settled = bool(np.isfinite(rel) and rel <= max_rel_err and ch.value > 0)
    if not settled:
        need = trajectories_needed(rel, M if res.independent_blocks else 1, max_rel_err) \
            if np.isfinite(rel) else None
        more = f"; about {need} more independent trajectories would reach ±{max_rel_err:.0%}" \
            if need is not None else ""
        warnings.warn(
            f"Haven ratio {H:.3g} ± {err:.2g} is not settled by this data "
            f"(relative error {rel:.0%} > {max_rel_err:.0%}): the charge MSD is a single "
            f"collective coordinate per trajectory{more}", stacklevel=2)
    return HavenResult(
        H_R=float(H), err=err,
        D_tracer_cm2_s=tr.value / 6 * c,
        D_sigma_cm2_s=ch.value / (6 * z2) * c if z2 else float("nan"),
        n_blocks=M, settled=settled,
        fit_window_ps=(float(res.t_ps[idx[0]]), float(res.t_ps[idx[-1]])),
        method=_method(res),
    )


# --------------------------------------------------------------------------- #
# Several trajectories, convergence
# --------------------------------------------------------------------------- #

@dataclasses.dataclass
class CombinedEstimate:
    """Mean of independent estimates with standard error and bootstrap interval."""

    mean: float
    sem: float
    std: float
    n: int
    ci_low: float
    ci_high: float
    ci_level: float

    @property
    def rel_err(self) -> float:
        return self.sem / abs(self.mean)


def _values(xs) -> np.ndarray:
    out = []
    for x in xs:
        if isinstance(x, DiffusionResult):
            out.append(x.D_cm2_s)
        elif isinstance(x, ConductivityResult):
            out.append(x.sigma_mS_cm)
        elif isinstance(x, HavenResult):
            out.append(x.H_R)
        else:
            out.append(float(x))
    return np.asarray(out, dtype=np.float64)


def combine_trajectories(
    estimates: Sequence, *, n_boot: int = 5000, ci: float = 0.95, seed: int | None = 0
) -> CombinedEstimate:
    """Mean, standard error and bootstrap percentile interval over independent runs.

    ``estimates``: numbers or ``DiffusionResult``/``ConductivityResult``/
    ``HavenResult`` objects (their D, σ or H_R is used), one per independent
    trajectory.
    """
    v = _values(estimates)
    n = v.size
    if n < 2:
        raise ValueError("need at least two independent estimates")
    rng = np.random.default_rng(seed)
    boot = v[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    lo, hi = np.quantile(boot, [0.5 - ci / 2, 0.5 + ci / 2])
    std = float(v.std(ddof=1))
    return CombinedEstimate(float(v.mean()), std / math.sqrt(n), std, n, float(lo), float(hi), ci)


def trajectories_needed(rel_err_now: float, n_now: int, target_rel_err: float) -> int:
    """How many *more* independent trajectories bring the relative error to the target.

    The standard error of a mean over independent runs falls as 1/√n, so the
    total needed is ⌈n_now · (rel_err_now / target)²⌉.
    """
    if target_rel_err <= 0 or rel_err_now < 0 or n_now < 1:
        raise ValueError("need target_rel_err > 0, rel_err_now ≥ 0, n_now ≥ 1")
    total = math.ceil(n_now * (rel_err_now / target_rel_err) ** 2 - 1e-9)
    return max(0, total - n_now)


@dataclasses.dataclass
class ConvergenceCurve:
    """Relative standard error of the mean (and the mean) versus a control variable."""

    x: np.ndarray  # number of trajectories, or trajectory length in ps
    rel_err: np.ndarray
    mean: np.ndarray
    label: str


def convergence_vs_trajectories(
    estimates: Sequence, n_values: Sequence[int] | None = None, *,
    n_resample: int = 2000, seed: int | None = 0,
) -> ConvergenceCurve:
    """Relative error of the mean versus the number of trajectories averaged.

    For each n, means of n runs drawn (with replacement) from the given ones
    are resampled; rel_err(n) = their spread / the grand mean.  Expect 1/√n.
    """
    v = _values(estimates)
    if n_values is None:
        n_values = np.unique(np.round(np.geomspace(1, max(v.size, 2), 12)).astype(int))
    rng = np.random.default_rng(seed)
    ns = np.asarray(n_values, int)
    rel, means = [], []
    for n in ns:
        m = v[rng.integers(0, v.size, size=(n_resample, n))].mean(axis=1)
        rel.append(m.std(ddof=1) / abs(v.mean()))
        means.append(m.mean())
    return ConvergenceCurve(ns, np.array(rel), np.array(means), "number of trajectories")


def convergence_vs_length(
    trajectories: Sequence[Trajectory], lengths_ps: Sequence[float], *,
    species: str = "Li", fit_window_ps: tuple[float, float] | None = None, **msd_kwargs,
) -> ConvergenceCurve:
    """Relative error of the mean D (over trajectories) versus trajectory length.

    Each trajectory is cut to every length in ``lengths_ps``; D is fitted per
    cut trajectory (same window if given) and the standard error of the mean
    across the independent trajectories is reported relative to the mean.
    """
    rel, means, xs = [], [], []
    for L in lengths_ps:
        Ds = []
        for tr in trajectories:
            dt = _frame_interval_ps(tr, msd_kwargs.get("dt_ps"), msd_kwargs.get("timestep_ps"))
            nf = int(round(L / dt)) + 1
            if nf > tr.n_frames:
                raise ValueError(f"length {L} ps exceeds a trajectory")
            r = msd(tr.slice_frames(0, nf), species, **msd_kwargs)
            Ds.append(diffusion_coefficient(r, fit_window_ps).D_cm2_s)
        Ds = np.array(Ds)
        means.append(Ds.mean())
        rel.append(Ds.std(ddof=1) / math.sqrt(Ds.size) / abs(Ds.mean()))
        xs.append(L)
    return ConvergenceCurve(np.array(xs), np.array(rel), np.array(means), "trajectory length (ps)")
