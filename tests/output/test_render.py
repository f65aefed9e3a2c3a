"""OVITO rendering of small hand-written LAMMPS dumps: images exist, are not blank and show Li highlighted."""
import numpy as np
import pytest

pytest.importorskip("ovito")
import matplotlib.image as mpimg  # noqa: E402

from lmpflow.output.render import HIGHLIGHT_COLOR, li_positions, load_dump, render_li_density, render_snapshot  # noqa: E402
from lmpflow.system.structures import li6ps5cl  # noqa: E402

N_FRAMES = 4


def write_dump(path, column="element", li_shift=0.0):
    """Tiny LAMMPS dump (ITEM: ATOMS id element|type xu yu zu) of Li6PS5Cl with Li drifting along x."""
    atoms = li6ps5cl()
    rng = np.random.default_rng(0)
    length = atoms.cell[0, 0]
    symbols = atoms.get_chemical_symbols()
    type_of = {"Li": 1, "P": 2, "S": 3, "Cl": 4}
    with open(path, "w") as fh:
        for step in range(N_FRAMES):
            pos = atoms.positions + rng.normal(0.0, 0.2, atoms.positions.shape)
            pos[np.array(symbols) == "Li", 0] += li_shift * step
            fh.write(f"ITEM: TIMESTEP\n{100 * step}\nITEM: NUMBER OF ATOMS\n{len(atoms)}\n"
                     f"ITEM: BOX BOUNDS pp pp pp\n0 {length}\n0 {length}\n0 {length}\n"
                     f"ITEM: ATOMS id {column} xu yu zu\n")
            for i, (s, p) in enumerate(zip(symbols, pos)):
                label = s if column == "element" else type_of[s]
                fh.write(f"{i + 1} {label} {p[0]:.5f} {p[1]:.5f} {p[2]:.5f}\n")
    return path


def image_stats(png):
    img = mpimg.imread(png)[..., :3].astype(float)
    if img.max() > 1.0:
        img = img / 255.0
    flat = img.reshape(-1, 3)
    n_colours = len(np.unique(np.round(flat * 31).astype(int), axis=0))
    near_hl = np.linalg.norm(flat - np.array(HIGHLIGHT_COLOR), axis=1) < 0.25
    reddish = (flat[:, 0] > 0.35) & (flat[:, 0] > 2.5 * flat[:, 1]) & (flat[:, 0] > 2.5 * flat[:, 2])
    return img.std(), n_colours, near_hl.mean(), reddish.mean()


@pytest.mark.parametrize("renderer", ["tachyon", "opengl"])
def test_snapshot_is_rendered_with_li_highlighted(tmp_path, renderer):
    dump = write_dump(tmp_path / "dump.lammpstrj")
    png = render_snapshot(dump, tmp_path / f"snap_{renderer}.png", frame=-1, highlight="Li", size=(400, 300),
                          renderer=renderer)
    std, n_colours, hl_fraction, red_fraction = image_stats(png)
    assert std > 0.05 and n_colours > 20
    assert red_fraction > 0.02  # Li drawn in the highlight colour (shaded spheres: hue kept, value varies)
    assert hl_fraction > 0.005


def test_snapshot_without_highlight_has_no_highlight_colour(tmp_path):
    dump = write_dump(tmp_path / "dump.lammpstrj")
    png = render_snapshot(dump, tmp_path / "plain.png", highlight=None, size=(400, 300))
    std, n_colours, hl_fraction, red_fraction = image_stats(png)
    assert std > 0.05 and n_colours > 20
    assert red_fraction < 0.005  # element colours (Li violet, S yellow, ...) have no saturated red


def test_numeric_types_get_element_names(tmp_path):
    dump = write_dump(tmp_path / "typed.lammpstrj", column="type")
    data = load_dump(dump).compute(0)
    names = {t.id: t.name for t in data.particles.particle_types.types}
    assert names == {1: "Li", 2: "P", 3: "S", 4: "Cl"}
    with pytest.raises(ValueError, match="no 'Na'"):
        render_snapshot(dump, tmp_path / "x.png", highlight="Na")
    with pytest.raises(IndexError, match="out of range"):
        render_snapshot(dump, tmp_path / "x.png", frame=N_FRAMES)


def test_li_positions_cover_all_frames_wrapped(tmp_path):
    dump = write_dump(tmp_path / "dump.lammpstrj", li_shift=4.0)  # Li drift out of the box: must be wrapped
    pos, cell = li_positions(dump)
    assert pos.shape == (N_FRAMES * 24, 3)
    frac = np.linalg.solve(cell.T, pos.T).T
    assert frac.min() >= -1e-9 and frac.max() < 1.0 + 1e-9


@pytest.mark.parametrize("method", ["ovito", "histogram"])
def test_li_density_picture(tmp_path, method):
    dump = write_dump(tmp_path / "dump.lammpstrj")
    png = render_li_density(dump, tmp_path / f"density_{method}.png", method=method, size=(400, 300))
    std, n_colours, _, _ = image_stats(png)
    assert std > 0.05 and n_colours > 10
    with pytest.raises(ValueError, match="method"):
        render_li_density(dump, tmp_path / "y.png", method="voxels")


@pytest.mark.parametrize("extra", [[], ["--density", "--method", "histogram"]])
def test_render_command_line(tmp_path, extra):
    """`lmpflow render DUMP PNG` writes a non-blank picture (snapshot, or the Li density)."""
    from lmpflow.cli import main

    png = tmp_path / "out.png"
    assert main(["render", str(write_dump(tmp_path / "dump.lammpstrj", li_shift=0.3)), str(png), *extra]) == 0
    std, n_colours, _, _ = image_stats(png)
    assert std > 0.02 and n_colours > 5
