"""`pair_style lmpflow/mace` on the shipped MACE stand-ins and on a MACE model trained here.

The shipped models carry MACE's own ASE-calculator numbers on fixed structures (52 and 416 atoms, a triclinic
cell), so these tests need no mace-torch: LAMMPS must reproduce them in both graph layouts, on 1 and 2 MPI
ranks, and conserve energy in NVE. The last test makes the MACE environment (if missing), trains a tiny MACE
model with mace-torch, exports it and checks the pair style against MACE's calculator in float64.
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from cells import rattled_cell
from mpi_runs import assert_same, rel, run_lammps

from lmpflow.lammps.calculator import LammpsCalculator
from lmpflow.lammps.runtime import plugin_path
from lmpflow.potentials import backends, registry
from lmpflow.potentials import mace as mace_files
from lmpflow.potentials.potential import as_potential
from lmpflow.system.structures import SPECIES, li6ps5cl

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(plugin_path() is None and not os.environ.get("CI"), reason="lmpflow plugin not built")]

SHIPPED = [s for s in registry.shipped_models() if s.arch == "mace"]


@pytest.fixture(scope="module", params=SHIPPED, ids=lambda s: s.label)
def shipped(request):
    return request.param.path


def _calc(model, layout: str | None = None) -> LammpsCalculator:
    style = "pair_style lmpflow/mace" + (f" layout {layout}" if layout else "")
    return LammpsCalculator([style, f"pair_coeff * * {model} {' '.join(SPECIES)}"])


def _differences(model, frames, layout=None) -> list[dict]:
    out = []
    for ref in frames:
        atoms = ref.copy()
        atoms.calc = _calc(model, layout)
        out.append({"n": len(atoms),
                    "energy": abs(atoms.get_potential_energy() - ref.get_potential_energy()) / abs(ref.get_potential_energy()),
                    "forces": rel(atoms.get_forces(), ref.get_forces()),
                    "stress_eV_A3": float(np.abs(atoms.get_stress() - ref.get_stress()).max())})
        atoms.calc.close()
    return out


def test_shipped_models_are_listed():
    labels = {s.label for s in SHIPPED}
    assert {"mace-chgnet-pbe", "mace-chgnet-r2scan"} <= labels
    for spec in SHIPPED:
        meta = spec.metadata
        assert meta["pair_style"] == "lmpflow/mace" and meta["label_source"] in ("chgnet-pbe", "chgnet-r2scan")
        assert meta["errors"]["val_forces_mae_meV_A"] > 0 and "md_check" in meta
        assert mace_files.reference_path(spec.path).is_file()
        pot = as_potential(spec.label)
        assert pot.pair_style == "lmpflow/mace" and pot.species == tuple(SPECIES)
        assert pot.core == registry.SHIPPED_ZBL_CORE_A  # one rule for every shipped model


@pytest.mark.parametrize("layout", ["periodic", "deep_ghost"])
def test_matches_stored_mace_reference(shipped, layout):
    """52 atoms, 416 atoms and a triclinic cell against MACE's own calculator (float32 model). The energy is
    compared relative to its size: MACE's calculator sums the per-atom energies in float32 (at 416 atoms its
    total is ~5e-6 relative off the float64 sum the pair style makes), forces and stress are per atom."""
    frames = mace_files.read_reference(mace_files.reference_path(shipped))
    assert sorted(len(a) for a in frames) == [52, 52, 416]
    assert any(abs(a.cell.array[1, 0]) > 0.5 for a in frames)  # the triclinic one
    for d in _differences(shipped, frames, layout):
        print(layout, d)
        assert d["energy"] < 2e-5 and d["forces"] < 2e-5 and d["stress_eV_A3"] < 2e-7, d


def test_one_vs_two_ranks(tmp_path, shipped):
    """416 atoms: 2 ranks (deep_ghost) = 1 rank (periodic) in energy, forces, per-atom energy, pressure, and
    after 20 MD steps."""
    atoms = rattled_cell((2, 2, 2), rattle_A=0.05, seed=5)
    one = run_lammps(tmp_path, atoms, shipped, 1, style="lmpflow/mace")
    two = run_lammps(tmp_path, atoms, shipped, 2, style="lmpflow/mace")
    assert "deep_ghost graph (2 message-passing layers x 5 A)" in two["log"]
    assert_same(two, one, 2e-5, "MACE 2 ranks vs 1")
    one = run_lammps(tmp_path, atoms, shipped, 1, style="lmpflow/mace", md_steps=20)
    two = run_lammps(tmp_path, atoms, shipped, 2, style="lmpflow/mace", md_steps=20)
    assert np.abs(one["x"] - two["x"]).max() < 1e-4


def test_nve_conserves_energy():
    """400 steps of 1 fs at ~600 K on 52 atoms with the default ZBL core: |E(t) - E(0)| < 2e-4 eV/atom."""
    from lmpflow.lammps.session import LammpsSession

    spec = next(s for s in SHIPPED if s.label == "mace-chgnet-pbe")
    session = LammpsSession(rattled_cell(rattle_A=0.02, seed=3))
    session.commands(as_potential(spec.label).lammps_pair_lines() + [
        "velocity all create 1200 87287 mom yes rot yes loop geom", "fix nve all nve", "timestep 0.001",
        "thermo_style custom step pe ke etotal", "run 0 post no"])
    energies = []
    for _ in range(20):
        session.commands(["run 20 post no"])
        energies.append(session.lmp.get_thermo("etotal"))
    session.close()
    energies = np.array(energies)
    assert np.abs(energies - energies[0]).max() / 52 < 2e-4, energies


def test_md_run_through_in_lipscl(tmp_path):
    """The path of every sweep run: in.liPSCl with `-var arch mace`, the ZBL core, NVT, the dump analysed into a
    run record with D and the framework's mobility."""
    from lmpflow.lammps.rundir import write_run_inputs
    from lmpflow.workflows.single_run import run_md

    write_run_inputs(tmp_path / "run", li6ps5cl(), potential=as_potential("mace-chgnet-pbe"), T_K=800, seed=2,
                     steps=400, eq_steps=50, dump_every=10)
    res = run_md(tmp_path / "run", progress=False)
    assert res["arch"] == "mace" and res["D_cm2_s"] > 0 and res["framework"]["species"] == ["P", "S", "Cl"]
    assert "pair_style      hybrid/overlay lmpflow/mace  zbl 1 1.5" in (tmp_path / "run" / "log.lammps").read_text()


# ------------------------------------------------------------------------------------------------- bad input
def _error(pair_lines) -> str:
    atoms = li6ps5cl()
    atoms.calc = LammpsCalculator(pair_lines)
    with pytest.raises(RuntimeError) as err:
        atoms.get_potential_energy()
    return str(err.value)


def test_files_of_the_other_framework_are_refused(shipped):
    nequip = next(s for s in registry.shipped_models(test=True) if s.arch == "nequip")
    pt2 = nequip.path if nequip.path.name.endswith(".pt2") else registry.compiled_model(nequip.path)
    msg = _error(["pair_style lmpflow/nequip", f"pair_coeff * * {shipped} Li P S Cl"])
    assert "is a MACE model (mace file): use pair_style lmpflow/mace" in msg
    msg = _error(["pair_style lmpflow/mace", f"pair_coeff * * {pt2} Li P S Cl"])
    assert "model (nequip file): use pair_style lmpflow/nequip" in msg


def test_species_not_in_model(shipped):
    msg = _error(["pair_style lmpflow/mace", f"pair_coeff * * {shipped} Li P S Br"])
    assert "species 'Br'" in msg and "Li P S Cl" in msg


def test_damaged_or_unexported_files(shipped, tmp_path):
    cut = tmp_path / "cut.mace.pt"
    cut.write_bytes(shipped.read_bytes()[: 100_000])
    assert "damaged" in _error(["pair_style lmpflow/mace", f"pair_coeff * * {cut} Li P S Cl"])
    trained = tmp_path / "trained.model"
    shutil.copy(shipped, trained)
    msg = _error(["pair_style lmpflow/mace", f"pair_coeff * * {trained} Li P S Cl"])
    assert "a MACE model as mace-torch trains it: export it for LAMMPS with lmpflow.compile_model" in msg


def test_model_info():
    spec = next(s for s in SHIPPED if s.label == "mace-chgnet-pbe")
    info = backends.model_info(spec.path)
    assert info["pair_style"] == "lmpflow/mace" and info["type_names"] == list(SPECIES)
    assert info["ranks"] == "any" and info["num_layers"] == 2 and info["ghost_shell_A"] == 10.0
    assert info["model_dtype"] == "float32"


# ------------------------------------------------------------------------------- training and export, for real
def test_trained_tiny_model_matches_mace(tmp_path):
    """Make the MACE environment if missing, train a tiny float64 MACE on Lennard-Jones labels with mace-torch,
    export it, and compare the pair style with MACE's own calculator (both layouts, triclinic too)."""
    from ase.calculators.lj import LennardJones
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    from lmpflow.potentials.training.trainers import train_model

    frames = []
    for seed in range(8):
        atoms = li6ps5cl()
        atoms.rattle(0.1, seed=seed)
        atoms.calc = LennardJones(sigma=2.5, epsilon=0.01, rc=5.0)
        results = {k: atoms.get_properties([k])[k] for k in ("energy", "forces", "stress")}
        atoms.calc = SinglePointCalculator(atoms, **results)
        frames.append(atoms)
    write(tmp_path / "lj.extxyz", frames)
    model = train_model(tmp_path / "lj.extxyz", "mace", tmp_path / "out", preset="tiny", r_max=4.5)
    assert model.name.endswith(".mace.pt") and registry.sidecar(model)["errors"]["val_forces_mae_meV_A"] > 0
    checks = [rattled_cell(rattle_A=0.05, seed=1), rattled_cell((2, 1, 1), triclinic=True, rattle_A=0.05, seed=2)]
    ref = mace_files.write_reference(tmp_path / "out" / "train-mace-lj" / "mace-lj.model", checks,
                                     tmp_path / "ref.npz")
    for layout in ("periodic", "deep_ghost"):
        for d in _differences(model, mace_files.read_reference(ref), layout):
            print(layout, d)
            assert d["energy"] < 1e-13 and d["forces"] < 1e-12 and d["stress_eV_A3"] < 1e-15, d
