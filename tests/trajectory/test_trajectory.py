"""The Trajectory container."""

import numpy as np
import pytest

from dump_cases import ELEMENTS, ORTHO, walk
from lmpflow.trajectory import Trajectory


def test_trajectory_helpers():
    pos = walk(n_frames=5)
    tr = Trajectory(pos, np.tile(ORTHO, (5, 1, 1)), np.zeros((5, 3)), np.arange(5) * 10,
                    np.arange(1, 13), np.array(ELEMENTS))
    np.testing.assert_array_equal(tr.indices("P"), [6, 7])
    np.testing.assert_array_equal(tr.indices(["S", "Cl"]), [8, 9, 10, 11])
    np.testing.assert_allclose(tr.volumes_A3, 1320.0)
    assert tr.slice_frames(1, 3).n_frames == 2
    with pytest.raises(KeyError):
        tr.indices("Na")
    bad = Trajectory(pos, tr.cells, tr.origins, np.array([0, 10, 20, 35, 40]), tr.ids, tr.elements)
    with pytest.raises(ValueError, match="evenly"):
        bad.frame_interval_steps()
