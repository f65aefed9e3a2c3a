"""Nernst–Einstein units, charge-MSD conductivity and the Haven ratio against random walks with known answers."""

import math
import warnings

import numpy as np
import pytest

from lmpflow.analysis import combine_msd, conductivity_from_msd, conductivity_nernst_einstein, haven_ratio

from .walks import BOX, D_TRUE_CM2_S, replicas


def test_nernst_einstein_units():
    # 1 ion per cm³ (1e24 Å³), D = 1 cm²/s, 300 K:  σ = e²/(k_B·300 K) S/cm.
    e, kb = 1.602176634e-19, 1.380649e-23
    assert conductivity_nernst_einstein(1.0, 1, 1e24, 300.0) == pytest.approx(e ** 2 / (kb * 300) * 1e3)
    # Li6PS5Cl: 24 Li in (9.86 Å)³; D = 2e-8 cm²/s at 300 K gives ~3 mS/cm, the
    # measured room-temperature order of magnitude.
    s = conductivity_nernst_einstein(2e-8, 24, 9.86 ** 3, 300.0)
    assert s == pytest.approx(24 / (9.86e-8) ** 3 * e ** 2 * 2e-8 / (kb * 300) * 1e3)
    assert 2.5 < s < 3.7
    assert conductivity_nernst_einstein(2e-8, 24, 9.86 ** 3, 300.0, charge=2) == pytest.approx(4 * s)


@pytest.mark.parametrize("pairs,expected", [(False, 1.0), (True, 0.5)])
def test_haven_ratio_and_conductivity_over_trajectories(pairs, expected):
    rng = np.random.default_rng(6)
    comb = combine_msd(replicas(rng, 20, pairs=pairs))
    assert comb.n_blocks == 20 and comb.independent_blocks
    h = haven_ratio(comb, (0.5, 20.0))
    assert abs(h.H_R - expected) < 3 * h.err
    assert h.err < 0.2 * expected
    c = conductivity_from_msd(comb, 300.0, (0.5, 20.0))
    # Independent ions: charge-MSD σ equals Nernst–Einstein; pairs: twice it.
    assert c.sigma_mS_cm == pytest.approx(c.nernst_einstein_mS_cm / expected, rel=3 * c.err_mS_cm / c.sigma_mS_cm)
    ne = conductivity_nernst_einstein(D_TRUE_CM2_S, 32, BOX ** 3, 300.0)
    assert c.nernst_einstein_mS_cm == pytest.approx(ne, rel=0.05)


def test_single_trajectory_haven_error_is_calibrated_and_warns():
    rng = np.random.default_rng(7)
    H, err = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for res in replicas(rng, 24, n=32, T=600):
            h = haven_ratio(res)
            H.append(h.H_R)
            err.append(h.err)
    assert 1 / 1.5 < math.sqrt(np.mean(np.square(err))) / np.std(H, ddof=1) < 1.5
    assert abs(np.mean(H) - 1) < 3 * np.std(H, ddof=1) / math.sqrt(24)
    with pytest.warns(UserWarning, match="not settled.*more independent trajectories"):
        h = haven_ratio(res, max_rel_err=0.02)
    assert not h.settled
