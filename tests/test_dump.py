"""Reader tests against known unwrapped trajectories written with write_dump."""

import gzip

import numpy as np
import pytest

import lmpflow.dump as dump_mod
from lmpflow.dump import DumpFormatError, Trajectory, native_parser_path, read_dump, write_dump

ELEMENTS = ["Li"] * 6 + ["P"] * 2 + ["S"] * 3 + ["Cl"] * 1
ORTHO = np.diag([10.0, 11.0, 12.0])
TRICLINIC = np.array([[10.0, 0, 0], [2.5, 9.0, 0], [-1.5, 1.2, 11.0]])


@pytest.fixture(autouse=True, params=["native", "pandas"])
def tokenizer(request, monkeypatch):
    """Every test runs with the compiled tokenizer and with the pandas fallback."""
    if request.param == "pandas":
        monkeypatch.setattr(dump_mod, "_NATIVE_ENABLED", False)
        assert native_parser_path() is None
    else:
        monkeypatch.setattr(dump_mod, "_NATIVE_ENABLED", True)
        if native_parser_path() is None:
            from lmpflow.lammps.runtime import plugin_path
            plugin = plugin_path()
            # An installed (compiled) lmpflow must ship the tokenizer next to the plugin.
            assert plugin is None, f"{plugin} is installed but liblmpflow_dump.so is not"
            pytest.skip("liblmpflow_dump.so not built (cmake --build build --target lmpflow_dump)")
    return request.param


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


# --------------------------------------------------------------------------- #
# Compiled tokenizer versus pandas (each test below runs once, comparing both)
# --------------------------------------------------------------------------- #

def _read_both(monkeypatch, path, **kw):
    monkeypatch.setattr(dump_mod, "_NATIVE_ENABLED", True)
    assert native_parser_path() is not None
    native = read_dump(path, cache=False, **kw)
    monkeypatch.setattr(dump_mod, "_NATIVE_ENABLED", False)
    fallback = read_dump(path, cache=False, **kw)
    return native, fallback


VARIANTS = {
    f"{cname}-{style}-{'img' if img else 'noimg'}": dict(cell=cell, style=style, image_flags=img)
    for cname, cell in [("ortho", ORTHO), ("triclinic", TRICLINIC)]
    for style, img in [("unwrapped", False), ("scaled_unwrapped", False), ("wrapped", True),
                       ("wrapped", False), ("scaled", True), ("scaled", False)]
}
VARIANTS["gz"] = dict(cell=TRICLINIC, style="wrapped", image_flags=True, suffix=".gz")
VARIANTS["padded-17digits"] = dict(cell=ORTHO, style="unwrapped", float_format="%24.17g")
VARIANTS["no-type-column"] = dict(cell=ORTHO, style="wrapped", type_column=False)
VARIANTS["npt"] = dict(npt=True, style="wrapped", image_flags=True)
VARIANTS["npt-noimg"] = dict(npt=True, style="scaled", image_flags=False)


@pytest.mark.parametrize("tokenizer", ["native"], indirect=True)
@pytest.mark.parametrize("variant", list(VARIANTS), ids=list(VARIANTS))
def test_native_and_pandas_tokenizers_agree(tmp_path, monkeypatch, tokenizer, variant):
    v = dict(VARIANTS[variant])
    # Without image flags wrapped positions fix the start only modulo a lattice vector.
    start_known = v.get("image_flags", False) or v["style"].endswith("unwrapped")
    npt = v.get("npt", False)  # toroidal unwrapping: checked against physics elsewhere
    if v.pop("npt", False):
        frac, cells, _ = npt_walk(150)
        truth, cell, elements = np.einsum("fai,fij->faj", frac, cells), cells, ["Li"] * 8
    else:
        truth, cell, elements = walk(n_frames=150), v.pop("cell"), ELEMENTS
    p = write_dump(tmp_path / ("d" + v.pop("suffix", "")), truth, cell, origins=[-1.0, 0.5, 2.0],
                   elements=elements, shuffle=True, timesteps=np.arange(150) * 20, **v)
    # Small blocks: many chunks, parsed in the background threads.
    native, fallback = _read_both(monkeypatch, p, block_bytes=4096)
    for field in ("positions", "cells", "origins", "timesteps", "ids", "elements", "types"):
        np.testing.assert_array_equal(getattr(native, field), getattr(fallback, field),
                                      err_msg=field)
    if npt:
        np.testing.assert_allclose(native.cells, cell, atol=1e-9)
    elif start_known:
        np.testing.assert_allclose(native.positions, truth, atol=1e-8)
    else:
        np.testing.assert_allclose(native.positions - native.positions[0],
                                   truth - truth[0], atol=1e-8)


def _one_frame_dump(path, lines, n_atoms=None, columns="id type xu yu zu", newline="\n"):
    n = len(lines) if n_atoms is None else n_atoms
    head = ["ITEM: TIMESTEP", "0", "ITEM: NUMBER OF ATOMS", str(n), "ITEM: BOX BOUNDS pp pp pp",
            "0 10", "0 10", "0 10", f"ITEM: ATOMS {columns}"]
    path.write_bytes(newline.join(head + lines).encode() + newline.encode())
    return path


@pytest.mark.parametrize("tokenizer", ["native"], indirect=True)
def test_native_tokenizer_is_exact(tmp_path, monkeypatch, tokenizer):
    # Correctly rounded conversion (like strtod / Python's float) for the fast path
    # (short decimals: LAMMPS' %g) and the general one (17+ digits, extreme exponents).
    rng = np.random.default_rng(5)
    vals = rng.normal(0, 1, 3000) * 10.0 ** rng.integers(-30, 30, 3000)
    fmts = ["%g", "%.17g", "%.3e", "%.25g", "%.10f", "%+.8g", "%E"]
    tokens = [fmts[i % len(fmts)] % x for i, x in enumerate(vals)]
    tokens += ["0", "-0", "0.1", "1e-22", "1e22", "1e23", "9007199254740993", "4.9e-324",
               "1.7976931348623157e308", "2.2250738585072011e-308", "123456789012345678901",
               "5.", ".5", "-.5e1", "1E+02", "0.000000000000000000000000000001"]
    tokens += ["1"] * (-len(tokens) % 3)
    lines = [f"{i + 1} 1 " + " ".join(tokens[3 * i:3 * i + 3]) for i in range(len(tokens) // 3)]
    p = _one_frame_dump(tmp_path / "d", lines)
    native, fallback = _read_both(monkeypatch, p)
    expect = np.array([float(t) for t in tokens]).reshape(-1, 3)
    np.testing.assert_array_equal(native.positions[0], expect)
    assert np.signbit(native.positions[0].ravel()[len(vals) + 1])  # "-0" keeps its sign
    np.testing.assert_array_equal(fallback.positions[0], expect)


@pytest.mark.parametrize("tokenizer", ["native"], indirect=True)
def test_native_tokenizer_whitespace_and_line_ends(tmp_path, monkeypatch, tokenizer):
    # Tabs, runs of blanks, blanks before the line end, CRLF (a dump edited on Windows).
    # (pandas' fallback needs the first line to show that separators vary).
    lines = ["1 1  1.5 2 3 ", "2\t2\t  4.25   -5e-1\t6", "   3 1 7 8 9\t "]
    p = _one_frame_dump(tmp_path / "d", lines, newline="\r\n")
    native, fallback = _read_both(monkeypatch, p)
    np.testing.assert_array_equal(native.positions[0], [[1.5, 2, 3], [4.25, -0.5, 6], [7, 8, 9]])
    np.testing.assert_array_equal(native.types, [1, 2, 1])
    np.testing.assert_array_equal(native.positions, fallback.positions)


@pytest.mark.parametrize("tokenizer", ["native"], indirect=True)
@pytest.mark.parametrize("bad_line,message", [
    ("2 1 4.0 5.0x 6", r"frame 0 \(atom line 2 .*column 'yu' is '5\.0x' \(not a number\)"),
    ("2 1 4.0 1e999 6", r"bad atom line.*column 'yu' is '1e999'"),
    ("2 1 nan 5 6", r"bad atom line.*column 'xu' is 'nan'"),
    ("2 1 4 5 6 7", r"atom line 2 .*6 fields, but ITEM: ATOMS names 5 columns"),
    ("2 1 4 5", r"atom line 2 .*4 fields, but ITEM: ATOMS names 5 columns"),
    ("two 1 4 5 6", r"column 'id' is 'two'"),
])
def test_native_tokenizer_errors_name_line_and_column(tmp_path, tokenizer, bad_line, message):
    p = _one_frame_dump(tmp_path / "d", ["1 1 1 2 3", bad_line, "3 1 7 8 9"])
    with pytest.raises(DumpFormatError, match=message):
        read_dump(p, cache=False)


@pytest.mark.parametrize("tokenizer", ["native"], indirect=True)
def test_native_tokenizer_counts_lines_per_frame(tmp_path, tokenizer):
    # A middle frame with one line too many (and the next one short): the frame is named.
    truth = walk(n_frames=4)
    p = write_dump(tmp_path / "d", truth, ORTHO, elements=ELEMENTS)
    frames = p.read_text().split("ITEM: TIMESTEP")
    lines = frames[3].split("\n")
    frames[2] = frames[2] + lines[-2] + "\n"  # frame 1 gets frame 2's last line too
    frames[3] = "\n".join(lines[:-2]) + "\n"
    p.write_text("ITEM: TIMESTEP".join(frames))
    with pytest.raises(DumpFormatError,
                       match="frame 1 has 13 atom lines but NUMBER OF ATOMS is 12"):
        read_dump(p, cache=False)


@pytest.mark.parametrize("tokenizer", ["native"], indirect=True)
def test_native_library_location(tmp_path, monkeypatch, tokenizer):
    found = native_parser_path()
    assert found.name == "liblmpflow_dump.so"
    truth = walk(n_frames=5)
    p = write_dump(tmp_path / "d", truth, ORTHO, elements=ELEMENTS)
    monkeypatch.setattr(dump_mod, "_native_state", {})
    monkeypatch.setenv("LMPFLOW_DUMP_LIB", str(found))
    assert native_parser_path() == found
    # A wrong LMPFLOW_DUMP_LIB is reported, and reading still works (pandas).
    monkeypatch.setattr(dump_mod, "_native_state", {})
    monkeypatch.setenv("LMPFLOW_DUMP_LIB", str(tmp_path / "missing.so"))
    with pytest.warns(UserWarning, match="LMPFLOW_DUMP_LIB.*not a file"):
        assert native_parser_path() is None
    np.testing.assert_allclose(read_dump(p, cache=False).positions, truth, atol=1e-8)
