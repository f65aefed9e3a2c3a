"""Mean-squared displacements over all time origins (FFT), with drift correction and the charge MSD.

Units: positions in Å, times in ps, MSD in Å², charges in e (charge MSD in e²·Å²), volumes in Å³.

Besides the MSD of the whole trajectory, ``msd`` keeps the MSD of ``n_blocks`` contiguous time blocks:
the spread between blocks is what the error bars of D, σ and the Haven ratio come from
(``lmpflow.analysis.diffusion``).  ``combine_msd`` averages independent trajectories, each becoming one
block.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Sequence

import numpy as np
from scipy import fft as sp_fft

from lmpflow.trajectory import Trajectory

__all__ = ["MSDResult", "msd", "combine_msd"]


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


def frame_interval_ps(traj: Trajectory, dt_ps: float | None, timestep_ps: float | None) -> float:
    """Time between frames, ps: ``dt_ps`` itself, or ``timestep_ps`` × the TIMESTEP spacing of the frames."""
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


def _drift(traj: Trajectory, mob: np.ndarray, species: str, drift_correction: bool,
           framework: str | Sequence[str] | None) -> np.ndarray:
    """Framework-centre displacement to subtract from every atom (zeros without correction)."""
    if not drift_correction:
        return np.zeros((traj.n_frames, 3))
    fw = traj.indices(framework) if framework is not None else np.setdiff1d(np.arange(traj.n_atoms), mob)
    if fw.size == 0:
        raise ValueError("drift_correction needs framework atoms; the trajectory has only "
                         f"{species!r} (pass drift_correction=False)")
    return _framework_drift(traj, fw)


@dataclasses.dataclass
class _Sums:
    """Running sums over particle batches: total and block MSD numerators, charge displacement."""

    total: np.ndarray  # (3, T), Σ over particles
    blocks: np.ndarray  # (n_blocks, 3, Tb)
    qdisp: np.ndarray  # (T, 3), Σ q_i r_i(t), drift-corrected
    per_part: np.ndarray | None  # (T, n, 3)


def _mobile_sums(traj, mob, q_all, drift, n_blocks, per_particle, particle_block) -> _Sums:
    """Tracer MSD sums of the mobile ions, in particle batches (bounds memory), and their charge displacement."""
    T = traj.n_frames
    Tb = T // n_blocks
    nfft = sp_fft.next_fast_len(2 * T, real=True)
    nfft_b = sp_fft.next_fast_len(2 * Tb, real=True)
    acc = _Sums(np.zeros((3, T)), np.zeros((n_blocks, 3, Tb)), np.zeros((T, 3)),
                np.empty((T, mob.size, 3)) if per_particle else None)
    for s in range(0, mob.size, particle_block):
        idx = mob[s:s + particle_block]
        x = np.asarray(traj.positions[:, idx], dtype=np.float64) - drift[:, None]
        x -= x.mean(axis=0)  # MSD is shift-invariant; centring limits round-off
        acc.qdisp += np.einsum("tai,a->ti", x, q_all[idx])
        xt = np.ascontiguousarray(x.transpose(1, 2, 0))  # (B, 3, T)
        if per_particle:
            m = _msd_time_last(xt, nfft, None)
            acc.per_part[:, s:s + idx.size] = m.transpose(2, 0, 1)
            acc.total += m.sum(axis=0)
        else:
            acc.total += _msd_time_last(xt, nfft, 0)
        xb = xt[:, :, :n_blocks * Tb].reshape(idx.size, 3, n_blocks, Tb).transpose(2, 0, 1, 3)
        acc.blocks += _msd_time_last(np.ascontiguousarray(xb), nfft_b, 1)
    return acc


def _charge_msds(traj, mob, q_all, drift, qdisp, n_blocks, particle_block) -> tuple[np.ndarray, np.ndarray]:
    """Charge MSD (3, T) and per block (n_blocks, 3, Tb); other listed charged species join the displacement."""
    T = traj.n_frames
    Tb = T // n_blocks
    others = np.flatnonzero((q_all != 0) & ~np.isin(np.arange(traj.n_atoms), mob))
    for s in range(0, others.size, particle_block):
        idx = others[s:s + particle_block]
        x = np.asarray(traj.positions[:, idx], dtype=np.float64) - drift[:, None]
        qdisp = qdisp + np.einsum("tai,a->ti", x - x.mean(axis=0), q_all[idx])
    qt = qdisp.T
    charge = _msd_time_last(qt, sp_fft.next_fast_len(2 * T, real=True), None)
    qb = np.ascontiguousarray(qt[:, :n_blocks * Tb].reshape(3, n_blocks, Tb).transpose(1, 0, 2))
    return charge, _msd_time_last(qb, sp_fft.next_fast_len(2 * Tb, real=True), None)


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
    dt = frame_interval_ps(traj, dt_ps, timestep_ps)
    T = traj.n_frames
    if T < 4 * n_blocks:
        raise ValueError(f"{T} frames are too few for {n_blocks} blocks")
    mob = traj.indices(species)
    charges = {species: 1.0} if charges is None else dict(charges)
    q_all = np.array([charges.get(e, 0.0) for e in traj.elements], dtype=np.float64)
    drift = _drift(traj, mob, species, drift_correction, framework)
    acc = _mobile_sums(traj, mob, q_all, drift, n_blocks, per_particle, particle_block)
    charge, charge_b = _charge_msds(traj, mob, q_all, drift, acc.qdisp, n_blocks, particle_block)
    n = mob.size
    return MSDResult(
        t_ps=np.arange(T) * dt,
        msd_A2=acc.total.T / n,
        charge_msd_A2=charge.T,
        block_msd_A2=acc.blocks.transpose(0, 2, 1) / n,
        block_charge_msd_A2=charge_b.transpose(0, 2, 1),
        block_length_frames=T // n_blocks,
        independent_blocks=False,
        n_particles=n,
        charge_sq_sum=float(np.sum(q_all[mob] ** 2)),
        volume_A3=float(traj.volumes_A3.mean()),
        n_frames=T,
        dt_ps=dt,
        species=species,
        drift_corrected=drift_correction,
        per_particle_A2=acc.per_part,
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
