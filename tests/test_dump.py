"""Reader tests against known unwrapped trajectories written with write_dump."""

import gzip
import warnings

import numpy as np
import pytest

from lmpflow.dump import DumpFormatError, Trajectory, read_dump, write_dump

ELEMENTS = ["Li"] * 6 + ["P"] * 2 + ["S"] * 3 + ["Cl"] * 1
ORTHO = np.diag([10.0, 11.0, 12.0])
TRICLINIC = np.array([[10.0, 0, 0], [2.5, 9.0, 0], [-1.5, 1.2, 11.0]])


def walk(n_frames=300, step=0.6, seed=0, n_atoms=len(ELEMENTS)):
    """Unwrapped Gaussian random walk starting inside the box, Å."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(0, 9, (n_atoms, 3))
    return start + np.cumsum(rng.normal(0, step, (n_frames, n_atoms, 3)), axis=0)


@pytest.mark.parametrize("cell", [ORTHO, TRICLINIC], ids=["ortho", "triclinic"])
@pytest.mark.parametrize("style,images", [
    ("unwrapped", False), ("scaled_unwrapped", False), ("wrapped", True), ("wrapped", False),
    ("scaled", True), ("scaled", False),
])
def test_roundtrip_matches_truth(tmp_path, cell, style, images):
    truth = walk()
    p = write_dump(tmp_path / "d.lammpstrj", truth, cell, origins=[-1.0, 0.5, 2.0],
                   elements=ELEMENTS, style=style, image_flags=images, shuffle=True,
                   timesteps=np.arange(300) * 50)
    tr = read_dump(p, cache=False)
    assert tr.positions.shape == truth.shape
    if style in ("wrapped", "scaled") and not images:
        # Without image flags the start is only known modulo a lattice vector:
        # displacements must be exact, and frame 0 a lattice translate of the truth.
        np.testing.assert_allclose(tr.positions - tr.positions[0], truth - truth[0], atol=1e-8)
        n = (tr.positions[0] - truth[0]) @ np.linalg.inv(cell)
        np.testing.assert_allclose(n, np.round(n), atol=1e-8)
    else:
        np.testing.assert_allclose(tr.positions, truth, atol=1e-8)
    np.testing.assert_allclose(tr.cells[0], cell, atol=1e-10)
    np.testing.assert_array_equal(tr.ids, np.arange(1, len(ELEMENTS) + 1))
    assert tr.elements.tolist() == ELEMENTS
    assert tr.frame_interval_steps() == 50


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


def test_types_without_element_column(tmp_path):
    truth = walk(n_frames=20)
    p = write_dump(tmp_path / "d", truth, ORTHO, elements=ELEMENTS, element_column=False)
    tr = read_dump(p, cache=False, type_to_element={1: "Li", 2: "P", 3: "S", 4: "Cl"})
    assert tr.elements.tolist() == ELEMENTS
    np.testing.assert_array_equal(tr.types, [1] * 6 + [2] * 2 + [3] * 3 + [4])
    assert read_dump(p, cache=False).species == ["1", "2", "3", "4"]


def test_padded_columns_parse(tmp_path):
    truth = walk(n_frames=10)
    p = write_dump(tmp_path / "d", truth, ORTHO, elements=ELEMENTS, float_format="%22.15g")
    np.testing.assert_allclose(read_dump(p, cache=False).positions, truth, atol=1e-10)


def npt_walk(n_frames=3000, seed=7):
    """Random walk in *fractional* coordinates inside a breathing box (NPT-like)."""
    rng = np.random.default_rng(seed)
    L0 = 10.0
    scale = 1 + 0.03 * np.sin(np.arange(n_frames) / 7.0) + 0.01 * rng.normal(size=n_frames)
    cells = L0 * scale[:, None, None] * np.eye(3)
    frac = rng.uniform(0, 1, (8, 3)) + np.cumsum(rng.normal(0, 0.1, (n_frames, 8, 3)), axis=0)
    return frac, cells, L0


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


def test_truncated_file(tmp_path):
    truth = walk(n_frames=5)
    p = write_dump(tmp_path / "d", truth, ORTHO, elements=ELEMENTS)
    data = p.read_bytes()
    p.write_bytes(data[:-25])  # cut inside the last atom line
    with pytest.raises(DumpFormatError, match="truncated"):
        read_dump(p, cache=False)
    with pytest.warns(UserWarning, match="truncated"):
        tr = read_dump(p, cache=False, on_truncated="drop")
    assert tr.n_frames == 4
    np.testing.assert_allclose(tr.positions, truth[:4], atol=1e-8)
    # A cut inside the header of the last frame is a truncation too.
    cut = data.rfind(b"ITEM: NUMBER OF ATOMS")
    p.write_bytes(data[:cut + 5])
    with pytest.raises(DumpFormatError, match="truncated"):
        read_dump(p, cache=False)


def test_missing_columns(tmp_path):
    truth = walk(n_frames=3)
    p = write_dump(tmp_path / "d", truth, ORTHO, elements=ELEMENTS)
    text = p.read_text()
    p.write_text(text.replace("ITEM: ATOMS id type element xu yu zu",
                              "ITEM: ATOMS id type element xu yu q"))
    with pytest.raises(DumpFormatError, match="position columns"):
        read_dump(p, cache=False)
    p.write_text(text.replace("ITEM: ATOMS id ", "ITEM: ATOMS mol "))
    with pytest.raises(DumpFormatError, match="'id'"):
        read_dump(p, cache=False)


def test_atoms_appearing_or_disappearing(tmp_path):
    truth = walk(n_frames=4)
    p = write_dump(tmp_path / "d", truth, ORTHO, elements=ELEMENTS)
    frames = p.read_text().split("ITEM: TIMESTEP")
    # Frame 2 loses its last atom (NUMBER OF ATOMS updated accordingly).
    f2 = frames[3].replace("NUMBER OF ATOMS\n12", "NUMBER OF ATOMS\n11").rstrip("\n").split("\n")
    frames[3] = "\n".join(f2[:-1]) + "\n"
    p.write_text("ITEM: TIMESTEP".join(frames))
    with pytest.raises(DumpFormatError, match="NUMBER OF ATOMS"):
        read_dump(p, cache=False)
    # Same count, but one id replaced by a new atom.
    p2 = write_dump(tmp_path / "e", truth, ORTHO, elements=ELEMENTS)
    frames = p2.read_text().split("ITEM: TIMESTEP")
    frames[3] = frames[3].replace("\n12 4 Cl", "\n99 4 Cl")
    p2.write_text("ITEM: TIMESTEP".join(frames))
    with pytest.raises(DumpFormatError, match="frame 2.*new: \\[99\\].*missing: \\[12\\]"):
        read_dump(p2, cache=False)


def test_wrong_atom_line_count_is_located(tmp_path):
    truth = walk(n_frames=4)
    p = write_dump(tmp_path / "d", truth, ORTHO, elements=ELEMENTS)
    frames = p.read_text().split("ITEM: TIMESTEP")
    lines = frames[2].split("\n")
    frames[2] = "\n".join(lines[:-2]) + "\n"  # frame 1 is one line short
    p.write_text("ITEM: TIMESTEP".join(frames))
    with pytest.raises(DumpFormatError, match="frame 1"):
        read_dump(p, cache=False)


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


def test_parallel_workers_match_sequential_and_report_errors(tmp_path):
    truth = walk(n_frames=400)
    p = write_dump(tmp_path / "d", truth, TRICLINIC, elements=ELEMENTS, style="wrapped",
                   shuffle=True)
    seq = read_dump(p, cache=False, workers=1, block_bytes=8192)
    par = read_dump(p, cache=False, workers=2, block_bytes=8192)
    np.testing.assert_array_equal(par.positions, seq.positions)
    np.testing.assert_array_equal(par.timesteps, seq.timesteps)
    np.testing.assert_allclose(par.positions - par.positions[0], truth - truth[0], atol=1e-8)
    text = p.read_text().split("ITEM: TIMESTEP")
    text[300] = text[300].replace(" Li ", " Li abc ", 1)  # a bad number in frame 299
    p.write_text("ITEM: TIMESTEP".join(text))
    with pytest.raises(DumpFormatError, match="bad atom line"):
        read_dump(p, cache=False, workers=2, block_bytes=8192)
