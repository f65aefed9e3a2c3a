"""Reference labels for training, made offline: CHGNet weights shipped inside the `chgnet` wheel.

The study (Li, Gong, Xiao, Ren, arXiv:2512.11650) trains on PBE and HSE06 DFT. Running DFT is outside this
package, so the shipped models are trained on labels from the universal CHGNet potential instead:

* ``chgnet-pbe``    CHGNet 0.3.0, trained on Materials Project GGA/GGA+U (PBE family) -> stands in for PBE;
* ``chgnet-r2scan`` CHGNet r2scan, transfer-learned to r2SCAN meta-GGA -> stands in for the higher-level
                    functional (HSE06 in the study). r2SCAN is NOT HSE06: it only plays its role.

Real DFT data enter through `lmpflow.train_model(dataset_xyz, ...)`. Never imported at MD time.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from lmpflow._host import atomic_output
from lmpflow.system.structures import li6ps5cl


@dataclass(frozen=True)
class LabelSource:
    """A reference-label source: which CHGNet weights, and which DFT functional they stand in for."""

    name: str
    chgnet_model: str
    functional: str  # functional of the data CHGNet was trained on
    mimics: str  # role it plays in the PBE-vs-hybrid comparison of the study


LABEL_SOURCES = {
    "chgnet-pbe": LabelSource("chgnet-pbe", "0.3.0", "PBE (GGA/GGA+U, Materials Project)", "PBE"),
    "chgnet-r2scan": LabelSource("chgnet-r2scan", "r2scan", "r2SCAN meta-GGA", "HSE06 (stand-in: r2SCAN)"),
}


def _label_source(source: str) -> LabelSource:
    if source not in LABEL_SOURCES:
        raise ValueError(f"unknown label source {source!r}; choose one of {sorted(LABEL_SOURCES)}")
    return LABEL_SOURCES[source]


@contextlib.contextmanager
def _torch_float32_default():
    """CHGNet needs torch's default dtype float32; nequip switches it to float64 when it loads a model."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def label_note(source: str) -> str:
    """What a model's labels are, for its sidecar."""
    spec = _label_source(source)
    return f"labels from CHGNet '{spec.chgnet_model}' ({spec.functional}), standing in for {spec.mimics} DFT"


def chgnet_calculator(source: str = "chgnet-pbe"):
    """ASE calculator of the CHGNet weights behind `source` (loaded from the chgnet wheel, no download)."""
    import warnings

    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    class Float32CHGNetCalculator(CHGNetCalculator):
        """CHGNet evaluated under torch's float32 default, whatever else in the process (nequip) set."""

        def calculate(self, *args, **kwargs):
            with _torch_float32_default():
                return super().calculate(*args, **kwargs)

    spec = _label_source(source)
    with warnings.catch_warnings(), _torch_float32_default():
        warnings.simplefilter("ignore")
        model = CHGNet.load(model_name=spec.chgnet_model, use_device="cpu", verbose=False)
    return Float32CHGNetCalculator(model=model, use_device="cpu")


def label_frames(frames: Iterable, source: str = "chgnet-pbe") -> list:
    """Copies of `frames` carrying energy (eV), forces (eV/A) and stress (eV/A^3) from the CHGNet `source`.

    These labels stand in for DFT: "chgnet-pbe" for PBE, "chgnet-r2scan" (r2SCAN) for the study's HSE06.
    The source is recorded in each frame's info["label_source"].
    """
    from ase.calculators.singlepoint import SinglePointCalculator

    out = []
    with _torch_float32_default():
        calc = chgnet_calculator(source)
        for atoms in frames:
            atoms = atoms.copy()
            atoms.calc = calc
            energy = float(atoms.get_potential_energy())
            forces = atoms.get_forces().copy()
            stress = atoms.get_stress(voigt=True).copy()
            atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces, stress=stress)
            atoms.info["label_source"] = source
            out.append(atoms)
    return out


def _strip(atoms, kind: str):
    """A calculator-free copy with only positions/cell/species and its kind (what goes into a training file)."""
    from ase import Atoms

    clean = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=True)
    clean.info["kind"] = kind
    return clean


def training_configurations(n_rattle: int = 40, n_strain: int = 20, md_temperatures: Sequence[float] = (500, 700, 900),
                            md_steps: int = 300, md_every: int = 10, md_timestep_fs: float = 2.0, seed: int = 0,
                            md_source: str = "chgnet-pbe", rattle_sigma: tuple[float, float] = (0.03, 0.15),
                            max_strain: float = 0.02, volume_scales: Sequence[float] = (),
                            md_scales: Sequence[float] = (1.0,), n_contact: int = 0,
                            contact_scale: tuple[float, float] = (0.75, 0.95)) -> list:
    """Unlabelled Li6PS5Cl configurations (52 atoms) covering what MD at 500-900 K visits.

    * n_rattle ordered/site-exchanged cells with Gaussian displacements of rattle_sigma[0]..[1] A (large ones
      reach closer than MD does);
    * n_strain cells under random strains of up to +-max_strain (with small rattles) for the stress response;
    * for each of `volume_scales`, the 0/25/50 % exchanged cells with every lattice vector scaled by it (small
      rattle): the equation of state the model must reproduce;
    * snapshots every `md_every` steps of Langevin MD driven by CHGNet `md_source` at each temperature (K) and
      lattice scaling in `md_scales`, starting from cells with 0, 25 and 50 % Cl/S site exchange so Li hops and
      anion disorder are sampled;
    * n_contact cells (small rattle) in which one neighbouring pair is pushed together to contact_scale[0]..[1]
      times the sum of its covalent radii, cycling over the species pairs: the repulsion that hot MD meets and
      that no crystal or MD frame shows, which a model would otherwise extrapolate (into a well, for some).
      Pushed closer (0.6-0.9) the frames' large forces took over MACE's loss and cost it the equation of state.
    Each frame's info["kind"] says which of rattled / strained / volume / md / contact it is.
    """
    rng = np.random.default_rng(seed)
    starts = [li6ps5cl(site_exchange=x, seed=seed + k) for k, x in enumerate((0.0, 0.25, 0.5))]
    frames = []
    for k in range(n_rattle):
        atoms = starts[k % len(starts)].copy()
        sigma = rattle_sigma[0] + (rattle_sigma[1] - rattle_sigma[0]) * k / max(1, n_rattle - 1)
        atoms.positions += rng.normal(0.0, sigma, atoms.positions.shape)
        frames.append(_strip(atoms, "rattled"))
    for k in range(n_strain):
        atoms = starts[k % len(starts)].copy()
        strain = np.eye(3) + np.triu(rng.uniform(-max_strain, max_strain, (3, 3)))
        atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
        atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
        frames.append(_strip(atoms, "strained"))
    for scale in volume_scales:
        for atoms in starts:
            atoms = atoms.copy()
            atoms.set_cell(atoms.cell.array * scale, scale_atoms=True)
            atoms.positions += rng.normal(0.0, 0.03, atoms.positions.shape)
            frames.append(_strip(atoms, "volume"))
    if md_steps > 0 and md_temperatures:
        with _torch_float32_default():
            for scale in md_scales:
                scaled = [a.copy() for a in starts]
                for a in scaled:
                    a.set_cell(a.cell.array * scale, scale_atoms=True)
                frames += _chgnet_md_snapshots(scaled, md_source, md_temperatures, md_steps, md_every,
                                               md_timestep_fs, rng, seed)
    for k in range(n_contact):
        atoms = starts[k % len(starts)].copy()
        atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
        frames.append(_strip(_pushed_pair(atoms, k, contact_scale, rng), "contact"))
    return frames


def _pushed_pair(atoms, k: int, scale: tuple[float, float], rng):
    """`atoms` with a random atom and its nearest neighbour of one species pair moved together along their axis
    to scale[0]..[1] times the sum of their covalent radii; the k-th call takes the k-th species pair
    (cyclically) that meets within 4.5 A. Nearest neighbours, so the short push leaves the rest of the cell intact."""
    from ase.data import covalent_radii
    from ase.neighborlist import neighbor_list

    i, j, vec = neighbor_list("ijD", atoms, 4.5)
    d = np.linalg.norm(vec, axis=1)
    z = atoms.numbers
    kinds = sorted({(a, b) for a, b in zip(z[i], z[j]) if a <= b})
    za, zb = kinds[k % len(kinds)]
    of_kind = np.flatnonzero((z[i] == za) & (z[j] == zb))
    first = rng.choice(np.unique(i[of_kind]))
    mine = of_kind[i[of_kind] == first]
    m = mine[np.argmin(d[mine])]
    target = rng.uniform(*scale) * (covalent_radii[za] + covalent_radii[zb])
    shift = vec[m] / d[m] * (d[m] - target) / 2
    atoms.positions[i[m]] += shift
    atoms.positions[j[m]] -= shift
    return atoms


def _chgnet_md_snapshots(starts, md_source, md_temperatures, md_steps, md_every, md_timestep_fs, rng, seed):
    """Snapshots of Langevin MD (ASE; timestep in fs, temperatures in K) driven by CHGNet `md_source`."""
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    frames = []
    calc = chgnet_calculator(md_source)
    for t_index, temperature in enumerate(md_temperatures):
        atoms = starts[t_index % len(starts)].copy()
        atoms.calc = calc
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
        dyn = Langevin(atoms, md_timestep_fs * units.fs, temperature_K=temperature, friction=0.02,
                       rng=np.random.default_rng(seed + 100 + t_index))
        for _ in range(md_steps // md_every):
            dyn.run(md_every)
            frames.append(_strip(atoms, "md"))
    return frames


def make_training_set(out: str | Path, source: str = "chgnet-pbe", configurations: list | None = None,
                      seed: int = 0, max_force: float | None = None, **config_kwargs) -> Path:
    """Label Li6PS5Cl configurations with `source` and write them to extxyz `out` (atomic write).

    `configurations` defaults to `training_configurations(seed=seed, **config_kwargs)`; pass the same list for
    several sources so the PBE- and r2SCAN-labelled sets share their structures. Frames with any reference force
    above `max_force` (eV/A) are dropped.
    """
    from ase.io import write

    out = Path(out)
    frames = configurations if configurations is not None else training_configurations(seed=seed, **config_kwargs)
    labelled = label_frames(frames, source)
    if max_force is not None:
        labelled = [a for a in labelled if np.abs(a.get_forces()).max() <= max_force]
    if not labelled:
        raise ValueError(f"no frames left for {out} after dropping forces above {max_force} eV/A")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as tmp:
        write(tmp, labelled, format="extxyz")
    return out
