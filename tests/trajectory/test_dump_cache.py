"""The memory-mapped cache: written on the first read, served while the dump is unchanged."""

import gzip

import numpy as np

from trajectory.dump_cases import ELEMENTS, ORTHO, walk
from lmpflow.trajectory import read_dump, write_dump


def test_gzip_and_cache(tmp_path):
    truth = walk()
    p = write_dump(tmp_path / "d.lammpstrj.gz", truth, ORTHO, elements=ELEMENTS,
                   style="wrapped", image_flags=True)
    with gzip.open(p, "rb") as fh:
        assert fh.read(14) == b"ITEM: TIMESTEP"
    tr = read_dump(p)
    assert isinstance(tr.positions, np.memmap)
    np.testing.assert_allclose(tr.positions, truth, atol=1e-8)
    assert (tmp_path / "d.lammpstrj.gz.lmpflow" / "positions.npy").exists()
    again = read_dump(p)  # served from the cache
    np.testing.assert_array_equal(again.positions, tr.positions)
    np.testing.assert_array_equal(again.elements, tr.elements)
    # A changed file must not be served from a stale cache.
    write_dump(p, truth[:100] + 1.0, ORTHO, elements=ELEMENTS, style="wrapped", image_flags=True)
    fresh = read_dump(p)
    assert fresh.n_frames == 100
    np.testing.assert_allclose(fresh.positions, truth[:100] + 1.0, atol=1e-8)
