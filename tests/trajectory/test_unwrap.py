"""Unwrapping: minimum-image crossings, LAMMPS' NPT convention and the toroidal scheme."""

import numpy as np
import pytest

from dump_cases import npt_walk, walk
from lmpflow.trajectory import read_dump, write_dump


def test_unwrap_many_crossings_without_image_flags(tmp_path):
    # Fast walkers in a small box cross it hundreds of times; the minimum-image
    # increments must count every crossing.
    truth = walk(n_frames=2000, step=0.8, seed=3, n_atoms=4)
    cell = np.diag([8.0, 8.0, 8.0])
    crossings = np.abs(np.diff(np.floor(truth / 8.0), axis=0)).sum()
    assert crossings > 500
    p = write_dump(tmp_path / "d.gz", truth, cell, elements=["Li"] * 4, style="wrapped")
    tr = read_dump(p, cache=False, block_bytes=4096)  # many chunks: state carried across
    np.testing.assert_allclose(tr.positions - tr.positions[0], truth - truth[0], atol=1e-8)


def test_npt_box_per_frame_and_lammps_unwrap(tmp_path):
    frac, cells, _ = npt_walk(200)
    lammps_unwrapped = np.einsum("fai,fij->faj", frac, cells)  # x + ix·L(t) convention
    p = write_dump(tmp_path / "npt", lammps_unwrapped, cells, elements=["Li"] * 8,
                   style="wrapped", image_flags=True)
    tr = read_dump(p, cache=False, npt_unwrap="lammps")
    np.testing.assert_allclose(tr.cells, cells, atol=1e-9)
    np.testing.assert_allclose(tr.positions, lammps_unwrapped, atol=1e-8)


@pytest.mark.parametrize("images", [True, False])
def test_npt_toroidal_unwrap_removes_box_fluctuation_artifact(tmp_path, images):
    # Truth: fractional random walk; its Cartesian diffusion coefficient in the
    # mean box is D = L0² s² / (2 dt).  LAMMPS' x + ix·L(t) adds ix·ΔL(t) jumps
    # that grow with the distance travelled; the toroidal scheme does not.
    frac, cells, L0 = npt_walk()
    p = write_dump(tmp_path / "npt", np.einsum("fai,fij->faj", frac, cells), cells,
                   elements=["Li"] * 8, style="wrapped", image_flags=images)
    lag = 20
    true_msd = np.mean(np.sum(((frac[lag:] - frac[:-lag]) * L0) ** 2, axis=-1))

    def msd_at_lag(pos):
        return np.mean(np.sum((pos[lag:] - pos[:-lag]) ** 2, axis=-1))

    tor = msd_at_lag(read_dump(p, cache=False).positions)
    assert tor == pytest.approx(true_msd, rel=0.02)
    if images:
        lam = msd_at_lag(read_dump(p, cache=False, npt_unwrap="lammps").positions)
        assert lam > 1.04 * true_msd  # about +7 % here
