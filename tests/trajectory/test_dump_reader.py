"""Reader tests against known unwrapped trajectories written with write_dump."""

import numpy as np
import pytest

from trajectory.dump_cases import ELEMENTS, ORTHO, TRICLINIC, walk
from lmpflow.trajectory import DumpFormatError, read_dump, write_dump


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


def test_types_without_element_column(tmp_path):
    truth = walk(n_frames=20)
    p = write_dump(tmp_path / "d", truth, ORTHO, elements=ELEMENTS, element_column=False)
    tr = read_dump(p, cache=False, type_to_element={1: "Li", 2: "P", 3: "S", 4: "Cl"})
    assert tr.elements.tolist() == ELEMENTS
    np.testing.assert_array_equal(tr.types, [1] * 6 + [2] * 2 + [3] * 3 + [4])
    assert read_dump(p, cache=False).species == ["1", "2", "3", "4"]


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


def test_atom_changing_type_is_an_error(tmp_path):
    # Species come from the first frame: a later frame giving an atom another type
    # (e.g. fix atom/swap) must not pass silently.
    truth = walk(n_frames=4)
    p = write_dump(tmp_path / "d", truth, ORTHO, elements=ELEMENTS)
    frames = p.read_text().split("ITEM: TIMESTEP")
    frames[3] = frames[3].replace("\n12 4 Cl", "\n12 3 Cl")
    p.write_text("ITEM: TIMESTEP".join(frames))
    with pytest.raises(DumpFormatError, match="frame 2.*atom id 12 changed type from 4 to 3"):
        read_dump(p, cache=False)


def test_nan_positions_are_located(tmp_path):
    truth = walk(n_frames=6)
    p = write_dump(tmp_path / "d", truth, ORTHO, elements=ELEMENTS, float_format="%.6f")
    frames = p.read_text().split("ITEM: TIMESTEP")
    lines = frames[5].split("\n")
    parts = lines[-3].split(" ")
    parts[3] = "inf"  # LAMMPS prints inf/nan for a blown-up atom
    lines[-3] = " ".join(parts)
    frames[5] = "\n".join(lines)
    p.write_text("ITEM: TIMESTEP".join(frames))
    with pytest.raises(DumpFormatError, match="frame 4.*nan/inf"):
        read_dump(p, cache=False)
    p.write_text("ITEM: TIMESTEP".join(frames).replace(" inf ", " nan "))
    with pytest.raises(DumpFormatError, match="bad atom line"):
        read_dump(p, cache=False)


@pytest.mark.parametrize("block_bytes", [300, 5000, 1 << 20])
def test_block_sizes_and_background_parsing_agree(tmp_path, block_bytes):
    # Blocks smaller than one frame (buffer growth), a few frames per block (several
    # blocks parsed in background threads while later ones are read) and one block.
    truth = walk(n_frames=200)
    p = write_dump(tmp_path / "d", truth, TRICLINIC, elements=ELEMENTS, style="wrapped",
                   image_flags=True, shuffle=True)
    ref = read_dump(p, cache=False)
    tr = read_dump(p, block_bytes=block_bytes, cache_dir=tmp_path / f"c{block_bytes}")
    np.testing.assert_array_equal(tr.positions, ref.positions)
    np.testing.assert_array_equal(tr.timesteps, ref.timesteps)
    np.testing.assert_allclose(tr.positions, truth, atol=1e-8)
    assert tr.elements.tolist() == ELEMENTS


def test_restart_repeat_of_a_frame_is_dropped_with_a_warning(tmp_path):
    # A run continued from a restart file dumps its first step again: TIMESTEP 100 twice.
    truth = walk(n_frames=40)
    steps = np.arange(40) * 10
    dup = np.insert(np.arange(40), 11, 10)  # frame 10 (timestep 100) written twice
    p = write_dump(tmp_path / "d", truth[dup], ORTHO, elements=ELEMENTS, timesteps=steps[dup])
    with pytest.warns(UserWarning, match=r"dropped 1 frame.*frame 11 \(timestep 100\).*restart"):
        tr = read_dump(p, cache=False)
    np.testing.assert_array_equal(tr.timesteps, steps)
    np.testing.assert_allclose(tr.positions, truth, atol=1e-8)
    assert tr.frame_interval_steps() == 10
    # Later errors name the frame as counted in the file, repeats included.
    frames = p.read_text().split("ITEM: TIMESTEP")
    frames[21] = frames[21].replace("\n12 4 Cl", "\n12 3 Cl")  # file frame 20
    p.write_text("ITEM: TIMESTEP".join(frames))
    with pytest.raises(DumpFormatError, match="frame 20, timestep 190"):
        read_dump(p, cache=False)


@pytest.mark.parametrize("block_bytes", [300, 600, 1 << 20])
def test_many_restart_repeats_across_chunks(tmp_path, block_bytes):
    # Chunks that hold only a repeat (nothing to parse) while others are parsed in the
    # background: no read buffer may be refilled before its parse is done.
    truth = walk(n_frames=400)
    steps = np.arange(400) * 10
    dup = np.sort(np.concatenate([np.arange(400), np.arange(5, 400, 7)]))
    p = write_dump(tmp_path / "d", truth[dup], ORTHO, elements=ELEMENTS, timesteps=steps[dup],
                   shuffle=True)
    with pytest.warns(UserWarning, match=r"dropped 57 frame\(s\).*and 52 more"):
        tr = read_dump(p, cache=False, block_bytes=block_bytes)
    np.testing.assert_array_equal(tr.timesteps, steps)
    np.testing.assert_allclose(tr.positions, truth, atol=1e-8)
