"""Random walks with analytic answers (Gaussian steps, known D), generated in memory for the analysis tests."""

import numpy as np

from lmpflow.analysis import combine_msd, msd
from lmpflow.trajectory import Trajectory

DT_PS = 0.1
STEP_A = 0.3  # Gaussian step per axis per frame, Å  ->  D = s²/(2 dt) per axis
D_TRUE_CM2_S = STEP_A ** 2 / (2 * DT_PS) * 1e-4
BOX = 20.0


def make_traj(pos, elements=None, step=10):
    T, N, _ = pos.shape
    return Trajectory(pos, np.tile(np.eye(3) * BOX, (T, 1, 1)), np.zeros((T, 3)),
                      np.arange(T) * step, np.arange(1, N + 1),
                      np.array(elements if elements is not None else ["Li"] * N))


def random_walk(rng, n=64, T=2000, step=STEP_A, pairs=False):
    steps = rng.normal(0, step, (T, n, 3))
    if pairs:  # ions moving in lock-step pairs: collective MSD doubled, H_R = 1/2
        steps[:, 1::2] = steps[:, 0::2]
    return np.cumsum(steps, axis=0)


def framework_traj(rng, drift_per_frame, T=1500, n_li=64, n_fw=64):
    li = random_walk(rng, n=n_li, T=T)
    fw = rng.uniform(0, BOX, (n_fw, 3)) + rng.normal(0, 0.1, (T, n_fw, 3))
    drift = np.arange(T)[:, None, None] * drift_per_frame  # the whole cell moves
    pos = np.concatenate([li, fw], axis=1) + drift
    return make_traj(pos, ["Li"] * n_li + ["S"] * n_fw)


def replicas(rng, k, pairs=False, n=32, T=1000):
    return [msd(make_traj(random_walk(rng, n=n, T=T, pairs=pairs)), "Li", dt_ps=DT_PS,
                drift_correction=False) for _ in range(k)]


def msd_replicas(rng, k, *, n=16, T=400, runs=1, step=STEP_A):
    """k MSDs of independent random walks (``runs`` > 1: each the combined MSD of that many runs)."""
    out = []
    for _ in range(k):
        rs = [msd(make_traj(random_walk(rng, n=n, T=T, step=step)), "Li", dt_ps=DT_PS, drift_correction=False)
              for _ in range(runs)]
        out.append(rs[0] if runs == 1 else combine_msd(rs))
    return out


def cage_walk(rng, n, T, s2_A2, a2_A2, tau_frames):
    """Random walk (step variance s2 per axis per frame) plus an Ornstein–Uhlenbeck cage coordinate.

    MSD per axis = 2Dt + 2a²(1 − e^{−t/τ}): steeper at short lags than at long ones while β stays
    close to 1 throughout when 2Dτ ≳ 2a² — the case a local-exponent window rule cannot see.
    """
    from scipy.signal import lfilter

    w = np.cumsum(rng.normal(0, np.sqrt(s2_A2), (T, n, 3)), axis=0)
    phi = np.exp(-1.0 / tau_frames)
    xi = rng.normal(0, np.sqrt(a2_A2 * (1 - phi ** 2)), (T, n, 3))
    xi[0] = rng.normal(0, np.sqrt(a2_A2), (n, 3))
    return w + lfilter([1.0], [1.0, -phi], xi, axis=0)
