"""Compiled tokenizer versus pandas: same numbers, exact conversion, located errors."""

import numpy as np
import pytest

import lmpflow.trajectory.tokenizer as tokenizer_mod
from trajectory.dump_cases import ELEMENTS, ORTHO, TRICLINIC, npt_walk, walk
from lmpflow.trajectory import DumpFormatError, native_parser_path, read_dump, write_dump


# --------------------------------------------------------------------------- #
# Compiled tokenizer versus pandas (each test below runs once, comparing both)
# --------------------------------------------------------------------------- #

def _read_both(monkeypatch, path, **kw):
    monkeypatch.setattr(tokenizer_mod, "_NATIVE_ENABLED", True)
    assert native_parser_path() is not None
    native = read_dump(path, cache=False, **kw)
    monkeypatch.setattr(tokenizer_mod, "_NATIVE_ENABLED", False)
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
    monkeypatch.setattr(tokenizer_mod, "_native_state", {})
    monkeypatch.setenv("LMPFLOW_DUMP_LIB", str(found))
    assert native_parser_path() == found
    # A wrong LMPFLOW_DUMP_LIB is reported, and reading still works (pandas).
    monkeypatch.setattr(tokenizer_mod, "_native_state", {})
    monkeypatch.setenv("LMPFLOW_DUMP_LIB", str(tmp_path / "missing.so"))
    with pytest.warns(UserWarning, match="LMPFLOW_DUMP_LIB.*not a file"):
        assert native_parser_path() is None
    np.testing.assert_allclose(read_dump(p, cache=False).positions, truth, atol=1e-8)
