"""Pictures of LAMMPS dumps with OVITO (headless): snapshots with Li highlighted and Li density maps.

OVITO (the `ovito` Python module) reads `dump custom` files directly. An `element` column becomes named
particle types (OVITO numbers them by first appearance, not by LAMMPS type); a dump with only `type` gets
its types named from `species` (LAMMPS type order, default Li, P, S, Cl) so colours and radii follow
the elements either way.

Rendering needs an OpenGL/Vulkan driver; on a headless Debian machine install the CPU driver once:
`apt-get install -y libvulkan1 mesa-vulkan-drivers` (lavapipe). The Tachyon renderer (CPU ray tracer,
built into OVITO) needs no driver and is the default here. `render_li_density` falls back to a matplotlib
2-D histogram when OVITO cannot render.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

#: Colour (RGB 0..1) of highlighted atoms; the rest are drawn grey, small and semi-transparent.
HIGHLIGHT_COLOR = (0.90, 0.12, 0.10)
OTHER_COLOR = (0.62, 0.62, 0.66)
RENDERERS = ("tachyon", "opengl")

__all__ = ["HIGHLIGHT_COLOR", "load_dump", "render_snapshot", "li_positions", "render_li_density"]


def _ovito():
    os.environ.setdefault("OVITO_GUI_MODE", "0")  # never try to open a window
    try:
        import ovito  # noqa: F401
    except ImportError as exc:  # pragma: no cover - ovito is a dependency
        raise ImportError("the `ovito` Python module is needed for rendering: pip install ovito") from exc
    import ovito.io
    import ovito.vis

    return ovito


def _species_default(species):
    if species is None:
        from lmpflow.system.structures import SPECIES
        species = SPECIES
    return tuple(species)


def load_dump(dump: str | Path, species: Sequence[str] | None = None):
    """OVITO pipeline over a LAMMPS dump, with particle types named by element (see module docstring)."""
    ovito = _ovito()
    dump = Path(dump)
    if not dump.is_file():
        raise FileNotFoundError(f"dump file {dump} does not exist")
    species = _species_default(species)
    pipeline = ovito.io.import_file(str(dump), multiple_frames=True)

    def name_types(frame, data):
        # numeric LAMMPS types without names get element names from the type order
        types = data.particles_.particle_types_
        for t in types.types_:
            if not t.name:
                if not 1 <= t.id <= len(species):
                    raise ValueError(f"{dump}: atom type {t.id} but only species {species} were given; pass "
                                     "species= in LAMMPS type order")
                t.name = species[t.id - 1]
                t.load_defaults()

    pipeline.modifiers.append(name_types)
    return pipeline


def _resolve_frame(pipeline, frame: int) -> int:
    n = pipeline.num_frames
    f = frame + n if frame < 0 else frame
    if not 0 <= f < n:
        raise IndexError(f"frame {frame} out of range: the dump has {n} frames")
    return f


def _renderer(name: str):
    import ovito.vis as vis

    if name == "tachyon":
        return vis.TachyonRenderer(antialiasing_samples=4, ambient_occlusion=False)
    if name == "opengl":
        return vis.OpenGLRenderer()
    raise ValueError(f"renderer {name!r} unknown; choose one of {RENDERERS}")


def _viewport(pipeline_or_none, size):
    import ovito.vis as vis

    vp = vis.Viewport(type=vis.Viewport.Type.Perspective, camera_dir=(-1.0, -0.6, -0.45), fov=np.radians(30))
    vp.zoom_all(size)
    return vp


def render_snapshot(dump: str | Path, png: str | Path, frame: int = -1, highlight: str | None = "Li",
                    species: Sequence[str] | None = None, size: tuple[int, int] = (800, 600),
                    renderer: str = "tachyon") -> Path:
    """Render one dump frame (default the last) to a PNG; atoms of element `highlight` drawn large in
    HIGHLIGHT_COLOR, the others small, grey and semi-transparent (highlight=None: element colours)."""
    _ovito()
    pipeline = load_dump(dump, species)
    if highlight is not None:
        def style(frame_, data):
            ptypes = data.particles.particle_types
            ids = {t.name: t.id for t in ptypes.types}
            hl = np.asarray(ptypes) == ids.get(highlight, -1)
            n = data.particles.count
            color = np.tile(OTHER_COLOR, (n, 1))
            color[hl] = HIGHLIGHT_COLOR
            data.particles_.create_property("Color", data=color)
            data.particles_.create_property("Radius", data=np.where(hl, 0.75, 0.35))
            data.particles_.create_property("Transparency", data=np.where(hl, 0.0, 0.6))

        # all modifiers go in before the first evaluation: changing a pipeline that OVITO has started to
        # evaluate cancels the evaluation ("Operation has been canceled by the user")
        pipeline.modifiers.append(style)
    f = _resolve_frame(pipeline, frame)
    names = {t.name for t in pipeline.compute(f).particles.particle_types.types}
    if highlight is not None and highlight not in names:
        raise ValueError(f"{dump} has no {highlight!r} atoms (types: {sorted(names)})")
    return _render(pipeline, png, f, size, renderer)


def _render(pipeline, png, frame, size, renderer):
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    pipeline.add_to_scene()
    try:
        vp = _viewport(pipeline, size)
        vp.render_image(size=size, frame=frame, filename=str(png), background=(1.0, 1.0, 1.0),
                        renderer=_renderer(renderer))
    finally:
        pipeline.remove_from_scene()
    if not png.is_file() or png.stat().st_size == 0:
        raise RuntimeError(f"OVITO wrote no image to {png}")
    return png


def li_positions(dump: str | Path, species: Sequence[str] | None = None, element: str = "Li",
                 stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Positions (A) of `element` in every `stride`-th frame, wrapped into the first frame's cell.

    Returns (positions (n_frames*n_li, 3), cell (3, 3) rows a, b, c).
    """
    _ovito()
    pipeline = load_dump(dump, species)
    chunks, cell0, origin = [], None, None
    for f in range(0, pipeline.num_frames, max(1, int(stride))):
        data = pipeline.compute(f)
        ptypes = data.particles.particle_types
        ids = {t.name: t.id for t in ptypes.types}
        if element not in ids:
            raise ValueError(f"{dump} has no {element!r} atoms (types: {sorted(ids)})")
        if cell0 is None:
            cell0 = np.array(data.cell[:3, :3]).T
            origin = np.array(data.cell[:3, 3])
        pos = np.asarray(data.particles.positions)[np.asarray(ptypes) == ids[element]] - origin
        frac = np.linalg.solve(cell0.T, pos.T).T % 1.0
        chunks.append(frac @ cell0 + origin)
    return np.concatenate(chunks), cell0


def render_li_density(dump: str | Path, png: str | Path, element: str = "Li",
                      species: Sequence[str] | None = None, method: str = "ovito", stride: int = 1,
                      size: tuple[int, int] = (800, 600), bins: int = 120, axis: str = "z",
                      renderer: str = "tachyon") -> Path:
    """Picture of where `element` (default Li) went during the run.

    method "ovito": every Li position of every `stride`-th frame overlaid as small points in the first
    frame's cell, together with the first frame's other atoms (grey, transparent), rendered by OVITO.
    method "histogram": 2-D histogram of Li positions projected along `axis` (x/y/z), log colour scale
    (matplotlib). "ovito" falls back to "histogram" with a warning if OVITO cannot render.
    """
    if method not in ("ovito", "histogram"):
        raise ValueError(f"method {method!r} unknown; use 'ovito' or 'histogram'")
    pos, cell = li_positions(dump, species, element, stride)
    if method == "ovito":
        try:
            return _render_overlay(dump, png, pos, species, size, renderer, element)
        except (RuntimeError, ImportError) as exc:
            warnings.warn(f"OVITO could not render ({exc}); drawing a matplotlib histogram instead")
    return _density_histogram(pos, cell, png, axis, bins, element)


def _render_overlay(dump, png, li_pos, species, size, renderer, element):
    from ovito.data import DataCollection
    from ovito.pipeline import StaticSource, Pipeline

    first = load_dump(dump, species).compute(0)
    ptypes = first.particles.particle_types
    ids = {t.name: t.id for t in ptypes.types}
    others = np.asarray(first.particles.positions)[np.asarray(ptypes) != ids[element]]
    data = DataCollection()
    data.create_cell(np.array(first.cell[...]), pbc=(True, True, True))
    n_li, n_o = len(li_pos), len(others)
    particles = data.create_particles(count=n_li + n_o)
    particles.create_property("Position", data=np.concatenate([li_pos, others]))
    hl = np.arange(n_li + n_o) < n_li
    color = np.tile(OTHER_COLOR, (n_li + n_o, 1))
    color[hl] = HIGHLIGHT_COLOR
    particles.create_property("Color", data=color)
    particles.create_property("Radius", data=np.where(hl, 0.18, 0.45))
    particles.create_property("Transparency", data=np.where(hl, 0.3, 0.75))
    pipeline = Pipeline(source=StaticSource(data=data))
    return _render(pipeline, png, 0, size, renderer)


def _density_histogram(pos, cell, png, axis, bins, element):
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    from .plots import save_figure

    k = "xyz".index(axis) if axis in ("x", "y", "z") else None
    if k is None:
        raise ValueError(f"axis must be 'x', 'y' or 'z', got {axis!r}")
    i, j = [d for d in range(3) if d != k]
    lengths = np.linalg.norm(cell, axis=1)
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    h = ax.hist2d(pos[:, i], pos[:, j], bins=bins, cmap="magma", norm=LogNorm(),
                  range=[[pos[:, i].min(), pos[:, i].min() + lengths[i]],
                         [pos[:, j].min(), pos[:, j].min() + lengths[j]]])
    fig.colorbar(h[3], ax=ax, label=f"{element} visits per bin")
    ax.set_xlabel(f"{'xyz'[i]} (Å)")
    ax.set_ylabel(f"{'xyz'[j]} (Å)")
    ax.set_aspect("equal")
    ax.set_title(f"{element} density projected along {axis}")
    fig.tight_layout()
    return save_figure(fig, png)
