"""The Trajectory container."""

import numpy as np
import pytest

from trajectory.dump_cases import ELEMENTS, ORTHO, walk
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


def test_uneven_spacing_says_where_it_breaks():
    pos = walk(n_frames=6)
    cells, origins = np.tile(ORTHO, (6, 1, 1)), np.zeros((6, 3))
    tr = Trajectory(pos, cells, origins, np.array([0, 10, 20, 35, 45, 55]), np.arange(1, 13),
                    np.array(ELEMENTS))
    with pytest.raises(ValueError, match=r"evenly spaced.*frames 0\.\.2 are 10 steps apart, but "
                                         r"frame 3 \(timestep 35\) follows frame 2 \(timestep 20\) "
                                         r"after 15 steps"):
        tr.frame_interval_steps()
    tr.timesteps = np.array([100, 100, 110, 120, 130, 140])
    with pytest.raises(ValueError, match=r"frame 1 \(timestep 100\) follows frame 0 \(timestep "
                                         r"100\) after 0 steps"):
        tr.frame_interval_steps()


def test_type_only_dump_suggests_type_to_element(tmp_path):
    from lmpflow.trajectory import read_dump, write_dump
    from lmpflow.analysis import msd

    p = write_dump(tmp_path / "d", walk(n_frames=20), ORTHO, elements=ELEMENTS,
                   element_column=False)
    tr = read_dump(p, cache=False)
    with pytest.raises(KeyError, match=r"no 'element' column.*type_to_element=\{1: '...', 2: "):
        tr.indices("Li")
    with pytest.raises(KeyError, match="type_to_element"):
        msd(tr, "Li", timestep_ps=0.002)
    with pytest.raises(KeyError) as info:  # a type number that is absent: no such hint
        tr.indices("7")
    assert "type_to_element" not in str(info.value)


@pytest.mark.parametrize("bad", [0.0, -0.002, float("nan"), float("inf")])
def test_frame_interval_must_be_a_positive_time(bad):
    from lmpflow.analysis import msd

    tr = Trajectory(walk(n_frames=40), np.tile(ORTHO, (40, 1, 1)), np.zeros((40, 3)),
                    np.arange(40) * 10, np.arange(1, 13), np.array(ELEMENTS))
    with pytest.raises(ValueError, match="dt_ps must be a positive, finite number of ps"):
        msd(tr, "Li", dt_ps=bad)
    with pytest.raises(ValueError, match="timestep_ps must be a positive, finite number of ps"):
        msd(tr, "Li", timestep_ps=bad)
