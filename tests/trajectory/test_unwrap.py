"""Unwrapping: minimum-image crossings, LAMMPS' NPT convention and the toroidal scheme."""

import numpy as np
import pytest

from trajectory.dump_cases import ELEMENTS, npt_walk, walk
from lmpflow.trajectory import DumpFormatError, read_dump, write_dump


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


@pytest.mark.parametrize("style", ["wrapped", "scaled"])
def test_fast_ions_without_image_flags_are_an_error(tmp_path, style):
    # 3 Å steps per axis in a 10 Å box: many true moves exceed half a box, the minimum image
    # takes them the other way and D would come out ~27 % low without any other sign.
    truth = walk(n_frames=300, step=3.0, seed=2)
    cell = np.diag([10.0, 10.0, 10.0])
    p = write_dump(tmp_path / "d", truth, cell, elements=ELEMENTS, style=style)
    columns = "x y z" if style == "wrapped" else "xs ys zs"
    with pytest.raises(DumpFormatError, match=(
            rf"{p}: .*wrapped positions \({columns}\) without image flags, and \d+ % of the "
            r"atom moves .*\(\d+ of 3588\).*ix iy iz.*xu yu zu.*dump more often")):
        read_dump(p, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache" / "d.lmpflow" / "positions.npy").exists()  # nothing cached
    # The same walk with image flags or unwrapped coordinates is exact.
    for kw in (dict(style=style, image_flags=True), dict(style="unwrapped")):
        q = write_dump(tmp_path / "ok", truth, cell, elements=ELEMENTS, **kw)
        np.testing.assert_allclose(read_dump(q, cache=False).positions, truth, atol=1e-8)


def test_fast_ions_in_a_changing_box_without_image_flags_are_an_error(tmp_path):
    frac, cells, _ = npt_walk(200)
    frac = frac[:1] + 3 * (frac - frac[:1])  # fractional steps of 0.3 per frame
    p = write_dump(tmp_path / "npt", np.einsum("fai,fij->faj", frac, cells), cells,
                   elements=["Li"] * 8, style="wrapped")
    with pytest.raises(DumpFormatError,
                       match=r"% of the atom moves between consecutive frames \(\d+ of 1592\)"):
        read_dump(p, cache=False)


def test_rare_near_half_moves_are_tolerated(tmp_path):
    # A fast but resolvable walk (step 0.1 of the box) has a few moves above 0.4 by chance.
    truth = walk(n_frames=3000, step=1.0, seed=4, n_atoms=4)
    cell = np.diag([10.0, 10.0, 10.0])
    frac_steps = np.abs(np.diff(truth, axis=0)) / 10.0
    assert 0 < np.count_nonzero((frac_steps > 0.4).any(axis=2)) < 3e-3 * 4 * 2999
    p = write_dump(tmp_path / "d", truth, cell, elements=["Li"] * 4, style="wrapped")
    tr = read_dump(p, cache=False)
    np.testing.assert_allclose(tr.positions - tr.positions[0], truth - truth[0], atol=1e-8)
