"""Analytic random-walk "runs" for the statistics of sweeps: Li random walks with a known D, turned into the
per-run MSDs lmpflow's estimators take, many at once (one FFT over a batch), so that thousands of replicas
of an adaptive sweep run in seconds."""
from __future__ import annotations

import numpy as np

from lmpflow.analysis import MSDResult

DT_PS = 0.02  # time between frames, ps
D_A2_PS = 0.5  # true tracer D, Å²/ps
D_CM2_S = D_A2_PS * 1e-4


def _msd_time_last(x: np.ndarray) -> np.ndarray:
    """MSD over all time origins of series with time last: (Σ x_k² + x_{k+m}² − 2 Σ x_k x_{k+m}) / (T − m)."""
    T = x.shape[-1]
    nfft = 1 << (2 * T - 1).bit_length()
    f = np.fft.rfft(x, nfft, axis=-1)
    acf = np.fft.irfft(f.real ** 2 + f.imag ** 2, nfft, axis=-1)[..., :T]
    csum = np.cumsum(x * x, axis=-1)
    tail = csum[..., -1:] - np.concatenate([np.zeros_like(csum[..., :1]), csum[..., :-1]], axis=-1)
    return (csum[..., ::-1] + tail - 2.0 * acf) / np.arange(T, 0, -1)


def random_walk_msds(rng: np.random.Generator, n_runs: int, *, n_li: int = 8, frames: int = 101,
                     d_A2_ps: float = D_A2_PS) -> list[MSDResult]:
    """n_runs independent runs of n_li free random walkers (per-axis step variance 2·D·dt), as MSDResults."""
    steps = rng.normal(0.0, np.sqrt(2 * d_A2_ps * DT_PS), (n_runs, n_li, 3, frames))
    steps[..., 0] = 0.0
    x = np.cumsum(steps, axis=-1)
    x -= x.mean(axis=-1, keepdims=True)
    tracer = _msd_time_last(x).sum(axis=1) / n_li  # (runs, 3, T)
    charge = _msd_time_last(x.sum(axis=1))  # (runs, 3, T)
    t = np.arange(frames) * DT_PS
    out = []
    for k in range(n_runs):
        m, c = tracer[k].T, charge[k].T
        out.append(MSDResult(t_ps=t, msd_A2=m, charge_msd_A2=c, block_msd_A2=m[None], block_charge_msd_A2=c[None],
                             block_length_frames=frames, independent_blocks=False, n_particles=n_li,
                             charge_sq_sum=float(n_li), volume_A3=1000.0, n_frames=frames, dt_ps=DT_PS,
                             species="Li", drift_corrected=False))
    return out
