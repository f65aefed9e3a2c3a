"""The lmpflow/nequip and lmpflow/allegro LAMMPS pair styles, on real nequip-compiled models.

Physics checks: energies, forces and stress against nequip's own ASE calculator on the same model,
forces against finite differences of the LAMMPS energy, the virial against finite strains, NVE
energy conservation, and 1 vs 2 MPI ranks (NequIP on several ranks: test_multirank.py). Plus the error
messages users see for bad input.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from cells import rattled_cell

from lmpflow._host import executable
from lmpflow.lammps.runtime import lammps_class, plugin_env, plugin_path
from lmpflow.lammps.session import QUIET, LammpsSession
from lmpflow.potentials import backends, registry
from lmpflow.potentials import nequip as nequip_files
from lmpflow.system.structures import SPECIES, li6ps5cl

EV_A3_TO_BAR = 1.602176634e6  # LAMMPS metal-units nktv2p
# A source checkout without a build skips these; CI (which installs the package) must run them.
# Every test here compiles (or reuses) real models: slow on a cold cache.
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(plugin_path() is None and not os.environ.get("CI"), reason="lmpflow plugin not built")]


def _test_model(arch: str, dtype: str) -> dict:
    """Compiled (cached) tiny test model of this architecture and dtype, with its package."""
    for spec in registry.shipped_models(test=True):
        if spec.arch == arch and spec.metadata.get("model_dtype", "float64") == dtype:
            pt2 = nequip_files.compile_model(spec.path)
            return {"pt2": pt2, "package": spec.path, "style": backends.PAIR_STYLES[arch]}
    raise LookupError(f"no shipped {arch} {dtype} test model (run scripts/make_models.py)")


@pytest.fixture(scope="session", params=[("nequip", "float64"), ("allegro", "float64"),
                                         ("nequip", "float32"), ("allegro", "float32")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def model(request):
    return _test_model(*request.param) | {"dtype": request.param[1]}


@pytest.fixture(scope="session")
def allegro64():
    return _test_model("allegro", "float64")


@pytest.fixture(scope="session")
def nequip64():
    return _test_model("nequip", "float64")


def _cell_structure(triclinic: bool = False, pbc=(True, True, True), seed: int = 1) -> Atoms:
    atoms = rattled_cell(triclinic=triclinic, rattle_A=0.08, seed=seed)
    atoms.pbc = pbc
    if not all(pbc):
        atoms.center(vacuum=8.0, axis=[k for k in range(3) if not pbc[k]])
    return atoms


class Lammps:
    """An in-process LAMMPS holding `atoms` with an lmpflow pair style."""

    def __init__(self, atoms: Atoms, model: dict, extra: str = "", pair_species=SPECIES, cmdargs=()):
        cell = atoms.cell.array
        assert abs(cell[0, 1]) + abs(cell[0, 2]) + abs(cell[1, 2]) < 1e-12, "cell must be in LAMMPS form"
        self.session = LammpsSession(atoms, SPECIES, pre_box=[extra] if extra else [], cmdargs=[*QUIET, *cmdargs])
        self.lmp = self.session.lmp
        self.n = len(atoms)
        self.lmp.commands_string(f"""
            pair_style {model['style']}
            pair_coeff * * {model['pt2']} {' '.join(pair_species)}
            compute peatom all pe/atom
            compute pesum all reduce sum c_peatom
            thermo_style custom step pe c_pesum pxx pyy pzz pxy pxz pyz
            thermo_modify norm no
        """)

    def _owned(self, name):
        # numpy views span owned + ghost atoms: keep the owned ones
        return self.lmp.numpy.extract_atom(name)[: self.lmp.extract_global("nlocal")]

    def evaluate(self, positions=None):
        if positions is not None:
            self._owned("x")[:] = positions[self._owned("id") - 1]
        self.lmp.command("run 0 post no")
        forces = np.empty((self.n, 3))
        forces[self._owned("id") - 1] = self._owned("f")
        press = np.array([self.lmp.get_thermo(k) for k in ("pxx", "pyy", "pzz", "pyz", "pxz", "pxy")])
        nlocal = self.lmp.extract_global("nlocal")
        pe_atom = self.lmp.numpy.extract_compute("peatom", 1, 1)[:nlocal]  # per-atom style, vector
        return self.lmp.get_thermo("pe"), forces, press, pe_atom.sum()

    def close(self):
        self.lmp.close()


def _ase_reference(atoms: Atoms, model: dict):
    atoms = atoms.copy()
    atoms.calc = nequip_files.ase_calculator(model["package"])
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=True)


@pytest.mark.parametrize("geometry", ["cubic", "triclinic", "slab"])
def test_matches_nequip_ase_calculator(model, geometry):
    atoms = _cell_structure(triclinic=geometry == "triclinic",
                            pbc=(True, True, geometry != "slab"))
    lmp = Lammps(atoms, model)
    energy, forces, press, pe_atom_sum = lmp.evaluate()
    lmp.close()
    e_ref, f_ref, s_ref = _ase_reference(atoms, model)
    # float64 models agree to round-off; float32 models to single precision
    tol = 1e-8 if model["dtype"] == "float64" else 1e-5
    assert abs(energy - e_ref) <= tol * abs(e_ref)
    assert np.abs(forces - f_ref).max() <= tol * np.abs(f_ref).max()
    assert abs(pe_atom_sum - energy) <= 1e-10 * abs(energy)  # compute pe/atom adds up
    if geometry != "slab":  # a non-periodic box has no meaningful stress
        # zero velocities: the pressure is the virial alone; ASE stress = -virial/V
        assert np.abs(press + s_ref * EV_A3_TO_BAR).max() <= max(tol * 10, 1e-7) * np.abs(s_ref * EV_A3_TO_BAR).max()


def _as_torchscript(model: dict, out: Path) -> dict:
    """The same model as TorchScript (.nequip.pth), as older nequip/torch stacks write it.

    nequip-compile refuses TorchScript on torch >= 2.10, so this calls the saver it uses.
    """
    import torch
    from nequip.model.inference_models.torchscript import save_torchscript_model
    from nequip.model.saved_models.load_utils import load_saved_model
    from nequip.model.utils import _EAGER_MODEL_KEY
    from nequip.scripts._workflow_utils import set_workflow_state
    from nequip.train.lightning import _SOLE_MODEL_KEY
    from nequip.utils.global_state import get_latest_global_state, set_global_state

    set_workflow_state("compile")
    set_global_state(allow_tf32=False)
    net = load_saved_model(str(model["package"]), _EAGER_MODEL_KEY, _SOLE_MODEL_KEY)
    metadata = dict(net.metadata) | get_latest_global_state(only_metadata_related=True)
    metadata = {k: str(int(v)) if isinstance(v, bool) else v for k, v in metadata.items()}
    save_torchscript_model(net, metadata, str(out), torch.device("cpu"))
    set_workflow_state(None)
    return dict(model, pt2=out)


@pytest.mark.parametrize("arch", ["nequip", "allegro"])
def test_torchscript_model_matches_aotinductor(arch, tmp_path):
    """A .nequip.pth gives the same energy, forces and stress as the .nequip.pt2 of the same model."""
    compiled = _test_model(arch, "float64")
    scripted = _as_torchscript(compiled, tmp_path / f"{arch}.nequip.pth")
    atoms = _cell_structure(seed=5)
    results = []
    for model in (compiled, scripted):
        lmp = Lammps(atoms, model)
        results.append(lmp.evaluate())
        lmp.close()
    (e_ref, f_ref, p_ref, _), (energy, forces, press, _) = results
    assert abs(energy - e_ref) <= 1e-9 * abs(e_ref)
    assert np.abs(forces - f_ref).max() <= 1e-8 * np.abs(f_ref).max()
    assert np.abs(press - p_ref).max() <= 1e-7 * np.abs(p_ref).max()


@pytest.mark.parametrize("arch", ["nequip", "allegro"])
def test_forces_are_minus_energy_gradient(arch):
    model = _test_model(arch, "float64")
    atoms = _cell_structure(triclinic=True, seed=3)
    rng = np.random.default_rng(0)
    lmp = Lammps(atoms, model)
    _, forces, _, _ = lmp.evaluate(atoms.positions)
    h = 1e-4  # Å; central differences: error O(h^2)
    for i in rng.choice(len(atoms), 6, replace=False):
        for d in range(3):
            pos = atoms.positions.copy()
            pos[i, d] += h
            e_plus = lmp.evaluate(pos)[0]
            pos[i, d] -= 2 * h
            e_minus = lmp.evaluate(pos)[0]
            fd = -(e_plus - e_minus) / (2 * h)
            assert abs(fd - forces[i, d]) < 1e-6 + 1e-5 * abs(forces[i, d]), (i, d, fd, forces[i, d])
    lmp.close()


@pytest.mark.parametrize("arch", ["nequip", "allegro"])
def test_virial_is_minus_energy_strain_derivative(arch):
    """P_ab = -(1/V) dE/de_ab from finite strains of the triclinic cell, for a normal and a shear component."""
    model = _test_model(arch, "float64")
    atoms = _cell_structure(triclinic=True, seed=4)
    lmp = Lammps(atoms, model)
    _, _, press, _ = lmp.evaluate()  # order xx yy zz yz xz xy
    lmp.close()
    h = 1e-5
    for (a, b), k in (((0, 0), 0), ((2, 1), 3)):
        energies = []
        for eps in (h, -h):
            strain = np.eye(3)
            strain[a, b] += eps  # cell rows transform as r' = r (1 + e): lower-triangular keeps LAMMPS form
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ strain, scale_atoms=True)
            lmp = Lammps(strained, model)
            energies.append(lmp.evaluate()[0])
            lmp.close()
        p_fd = -(energies[0] - energies[1]) / (2 * h) / atoms.get_volume() * EV_A3_TO_BAR
        assert abs(p_fd - press[k]) < 1e-4 * np.abs(press).max(), (k, p_fd, press[k])


def _nve(model, steps, cmdargs=()):
    atoms = li6ps5cl()
    atoms.rattle(0.02, seed=7)
    lmp = Lammps(atoms, model, cmdargs=cmdargs)
    lmp.lmp.commands_string("""
        velocity all create 600 4928459 mom yes rot yes dist gaussian
        timestep 0.0005
        fix nve all nve
        thermo_style custom step pe ke etotal
        thermo 10
    """)
    energies = []
    for _ in range(steps // 50):
        lmp.lmp.command("run 50 post no")
        energies.append(lmp.lmp.get_thermo("etotal"))
    return lmp, np.array(energies)


@pytest.mark.slow
def test_nve_conserves_energy(allegro64):
    """1000 steps of 0.5 fs at ~600 K on 52-atom Li6PS5Cl: |E(t) - E(0)| < 2e-4 eV/atom, no drift."""
    lmp, etotal = _nve(allegro64, 1000)
    n = lmp.n
    lmp.close()
    deviation = np.abs(etotal - etotal[0]).max() / n
    assert deviation < 2e-4, deviation
    slope = np.polyfit(np.arange(len(etotal)), etotal, 1)[0] * len(etotal) / n
    assert abs(slope) < 1e-4, slope


def _run_script(tmp_path: Path, model: dict, np_ranks: int, steps: int) -> np.ndarray:
    """Run the same MD with `mpirun -np N lmp`, returning final forces sorted by atom id."""
    atoms = li6ps5cl((2, 1, 1))
    atoms.rattle(0.05, seed=11)
    data = tmp_path / "data.lmp"
    from ase.io import write
    write(data, atoms, format="lammps-data", specorder=list(SPECIES), masses=True)
    out = tmp_path / f"forces_{np_ranks}.txt"
    script = tmp_path / f"in.{np_ranks}"
    script.write_text(f"""
units metal
atom_style atomic
read_data {data}
pair_style {model['style']}
pair_coeff * * {model['pt2']} {' '.join(SPECIES)}
velocity all create 500 12345 loop geom
timestep 0.001
fix nve all nve
thermo_style custom step pe ke etotal press
thermo_modify format float %.15g
run {steps}
write_dump all custom {out} id fx fy fz x y z modify sort id format float %.17g
""")
    mpirun, lmp_exe = executable("mpirun"), executable("lmp")
    env = plugin_env() | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.run([mpirun, "-np", str(np_ranks), lmp_exe, "-in", str(script), "-log", str(tmp_path / f"log.{np_ranks}")],
                          capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-3000:] + proc.stderr[-3000:])
    return np.loadtxt(out, skiprows=9)


def test_allegro_one_vs_two_mpi_ranks(tmp_path, allegro64):
    one = _run_script(tmp_path, allegro64, 1, 20)
    two = _run_script(tmp_path, allegro64, 2, 20)
    assert one.shape == two.shape == (104, 7)
    # same trajectory after 20 steps: positions and forces agree to accumulated round-off
    assert np.abs(one[:, 4:] - two[:, 4:]).max() < 1e-8
    assert np.abs(one[:, 1:4] - two[:, 1:4]).max() < 1e-6 * max(1.0, np.abs(one[:, 1:4]).max())


# ---------------------------------------------------------------------------------------------
# Bad input: each gives a LAMMPS error that names the problem and the fix.
# ---------------------------------------------------------------------------------------------
def _error_of(model: dict, pair_species=SPECIES, extra: str = "") -> str:
    atoms = li6ps5cl()
    with pytest.raises(Exception) as err:
        lmp = Lammps(atoms, model, extra=extra, pair_species=pair_species)
        lmp.evaluate()
    return str(err.value)


def test_missing_model_file(allegro64, tmp_path):
    msg = _error_of(dict(allegro64, pt2=tmp_path / "nope.nequip.pt2"))
    assert "cannot open model file" in msg and "nope.nequip.pt2" in msg


def test_corrupt_model_file(allegro64, tmp_path):
    truncated = tmp_path / "truncated.nequip.pt2"
    truncated.write_bytes(Path(allegro64["pt2"]).read_bytes()[:5000])
    msg = _error_of(dict(allegro64, pt2=truncated))
    assert "the model file is damaged" in msg
    garbage = tmp_path / "garbage.nequip.pt2"
    garbage.write_text("not a model")
    assert "not a zip archive" in _error_of(dict(allegro64, pt2=garbage))


def test_wrong_extension(allegro64, tmp_path):
    renamed = tmp_path / "model.bin"
    shutil.copy(allegro64["pt2"], renamed)
    assert "must end in .nequip.pt2" in _error_of(dict(allegro64, pt2=renamed))


def test_species_not_in_model(allegro64):
    msg = _error_of(allegro64, pair_species=("Li", "P", "S", "Br"))
    assert "species 'Br'" in msg and "Li P S Cl" in msg


def test_wrong_number_of_types(allegro64):
    lmp = lammps_class()(cmdargs=["-screen", "none", "-log", "none"])
    lmp.commands_string("units metal\nregion b block 0 5 0 5 0 5\ncreate_box 4 b\n"
                        "pair_style lmpflow/allegro")
    with pytest.raises(Exception, match="one model species .* per LAMMPS atom type: got 3 for 4 types"):
        lmp.command(f"pair_coeff * * {allegro64['pt2']} Li P S")
    lmp.close()


def test_newton_off_refused(allegro64):
    assert "requires newton pair on" in _error_of(allegro64, extra="newton off")


def test_model_target_must_match_style(nequip64, allegro64):
    assert "use pair_style lmpflow/allegro" in _error_of(dict(allegro64, style="lmpflow/nequip"))
    assert "use pair_style lmpflow/nequip" in _error_of(dict(nequip64, style="lmpflow/allegro"))


def test_units_must_be_metal(allegro64):
    with pytest.raises(Exception, match="units metal"):
        lmp = lammps_class()(cmdargs=["-screen", "none", "-log", "none"])
        lmp.commands_string("units real\natom_style atomic\nregion b block 0 9.85 0 9.85 0 9.85\n"
                            "create_box 4 b\nmass * 1.0\ncreate_atoms 1 single 1 1 1\ncreate_atoms 2 single 4 4 4\n"
                            f"pair_style lmpflow/allegro\npair_coeff * * {allegro64['pt2']} Li P S Cl\nrun 0")


def test_cuda_device_without_cuda(allegro64):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this check is for CPU-only torch")
    lmp = lammps_class()(cmdargs=["-screen", "none", "-log", "none"])
    lmp.commands_string("units metal\nregion b block 0 5 0 5 0 5\ncreate_box 4 b\npair_style lmpflow/allegro device cuda")
    with pytest.raises(Exception, match="no usable CUDA device"):
        lmp.command(f"pair_coeff * * {allegro64['pt2']} Li P S Cl")
    lmp.close()


def test_blown_up_structure_is_reported(allegro64):
    """Atoms on top of each other: a clear error or finite numbers, never a crash."""
    atoms = li6ps5cl()
    atoms.positions[1] = atoms.positions[0] + 1e-9
    lmp = Lammps(atoms, allegro64)
    try:
        energy, forces, _, _ = lmp.evaluate()
        assert np.isfinite(energy) and np.isfinite(forces).all()
    except Exception as err:
        assert "NaN or infinite" in str(err)
    lmp.close()


def test_plugin_is_found_without_plugin_load(tmp_path, allegro64):
    """`lmp` finds the pair styles through LAMMPS_PLUGIN_PATH / the lammps.plugins entry point."""
    from importlib import metadata
    eps = [ep for ep in metadata.entry_points(group="lammps.plugins") if ep.name == "lmpflow"]
    env = dict(os.environ)
    if not eps:  # running from a source tree: emulate what the installed entry point does
        env["LAMMPS_PLUGIN_PATH"] = str(plugin_path().parent)
    else:
        assert Path(eps[0].load()()) == plugin_path().parent
        env.pop("LAMMPS_PLUGIN_PATH", None)
    script = tmp_path / "in.plugin"
    script.write_text("units metal\nregion b block 0 5 0 5 0 5\ncreate_box 4 b\n"
                      f"pair_style lmpflow/allegro\npair_coeff * * {allegro64['pt2']} Li P S Cl\n")
    proc = subprocess.run([executable("lmp"), "-in", str(script), "-log", "none"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "lmpflow/allegro: model" in proc.stdout
