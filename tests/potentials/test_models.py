"""Tests of lmpflow.potentials: metadata parsing, compile cache, training configs, labels, shipped test models."""
import json
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from lmpflow.potentials import backends, registry
from lmpflow.potentials import nequip as nequip_files
from lmpflow.potentials.training import labels, trainers
from lmpflow.system.structures import SPECIES, li6ps5cl

# the architectures nequip's files hold (tiny test models exist for these; MACE's are tested in test_mace.py)
NEQUIP_ARCHS = [a for a in backends.ARCHS if backends.backend(a).module == nequip_files.__name__]


def fake_pt2(path: Path, inputs: str, dtype: str = "float64", extra: dict | None = None) -> Path:
    """An archive laid out like nequip-compile's AOTInductor output, holding only the metadata JSON."""
    meta = {"type_names": "Li P S Cl", "num_types": "4", "r_max": "4.5", "per_edge_type_cutoff": "",
            "model_dtype": dtype, "nequip_aoti_inputs": inputs, "nequip_aoti_outputs": "total_energy forces",
            **(extra or {})}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("m/data/aotinductor/model/abc_wrapper_metadata.json", json.dumps(meta))
        zf.writestr("m/data/aotinductor/model/abc.so", b"\0")
    return path


# ---------------------------------------------------------------------------------------------- model_info
def test_model_info_nequip_and_allegro_targets(tmp_path):
    nequip = backends.model_info(fake_pt2(tmp_path / "n.nequip.pt2", "pos edge_index atom_types cell edge_cell_shift"))
    assert nequip["target"] == "nequip" and nequip["pair_style"] == "lmpflow/nequip"
    assert nequip["type_names"] == ["Li", "P", "S", "Cl"] and nequip["num_types"] == 4
    assert nequip["r_max"] == 4.5 and nequip["per_edge_type_cutoff"] is None
    allegro = backends.model_info(fake_pt2(tmp_path / "a.nequip.pt2", "pos edge_index atom_types", "float32"))
    assert allegro["target"] == "allegro" and allegro["pair_style"] == "lmpflow/allegro"
    assert allegro["model_dtype"] == "float32" and allegro["inputs"] == ["pos", "edge_index", "atom_types"]

    assert nequip["compile_target"] == "pair_nequip" and nequip["layouts"] == ["periodic"] and nequip["ranks"] == "1"
    assert allegro["compile_target"] == "pair_allegro" and allegro["ranks"] == "any"


def test_model_info_lmpflow_target_runs_on_any_rank_count(tmp_path):
    path = fake_pt2(tmp_path / "m.nequip.pt2", "pos edge_index atom_types cell edge_cell_shift lmpflow_owned_mask",
                    extra={"lmpflow_layouts": "periodic deep_ghost", "lmpflow_num_layers": "3"})
    info = backends.model_info(path)
    assert info["pair_style"] == "lmpflow/nequip" and info["compile_target"] == "lmpflow_nequip"
    assert info["layouts"] == ["periodic", "deep_ghost"] and info["ranks"] == "any"
    assert info["num_layers"] == 3 and info["ghost_shell_A"] == 3 * 4.5


def test_backend_table_lists_targets_and_their_layouts():
    nequip, allegro = backends.backend("nequip"), backends.backend("allegro")
    # one file for one rank and for many is the default; nequip's own single-rank target stays available
    assert nequip.compile_target == "lmpflow_nequip" and nequip.layouts == ("periodic", "deep_ghost")
    assert backends.TARGET_LAYOUTS["pair_nequip"] == ("periodic",) and allegro.layouts == ("ghost",)
    assert backends.ranks(("periodic",)) == "1" and backends.ranks(nequip.layouts) == "any"


def test_model_info_torchscript_extra_files(tmp_path):
    import torch

    class Dummy(torch.nn.Module):
        def forward(self, pos: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
            return pos.sum() + cell.sum()

    path = tmp_path / "old.nequip.pth"
    extra = {"type_names": "Li P S Cl", "num_types": "4", "r_max": "5.0", "per_edge_type_cutoff": "",
             "model_dtype": "float64", "nequip_version": "0.6.0"}
    torch.jit.save(torch.jit.script(Dummy()), str(path), _extra_files=extra)
    info = backends.model_info(path)
    assert info["type_names"] == list(SPECIES) and info["r_max"] == 5.0 and info["model_dtype"] == "float64"
    assert info["target"] == "nequip"
    extra["config"] = "model_builders:\n - allegro.model.Allegro\n"
    torch.jit.save(torch.jit.script(Dummy()), str(path), _extra_files=extra)
    assert backends.model_info(path)["pair_style"] == "lmpflow/allegro"


def test_model_info_errors(tmp_path):
    with pytest.raises(backends.ModelFileError, match="does not exist"):
        backends.model_info(tmp_path / "missing.nequip.pt2")
    corrupt = tmp_path / "corrupt.nequip.pt2"
    corrupt.write_bytes(b"not a zip file at all")
    with pytest.raises(backends.ModelFileError, match="corrupt"):
        backends.model_info(corrupt)
    empty = tmp_path / "empty.nequip.pt2"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "nothing")
    with pytest.raises(backends.ModelFileError, match="wrapper_metadata"):
        backends.model_info(empty)
    damaged = fake_pt2(tmp_path / "damaged.nequip.pt2", "pos edge_index atom_types")
    data = bytearray(damaged.read_bytes())
    at = data.index(b"Li P S Cl")
    data[at:at + 2] = b"Na"  # same length: only the CRC can tell
    damaged.write_bytes(bytes(data))
    with pytest.raises(backends.ModelFileError, match="the model file is damaged"):
        backends.model_info(damaged)
    bad_pth = tmp_path / "bad.nequip.pth"
    bad_pth.write_bytes(b"garbage")
    with pytest.raises(backends.ModelFileError, match="corrupt"):
        backends.model_info(bad_pth)
    other = tmp_path / "model.onnx"
    other.write_bytes(b"x")
    with pytest.raises(backends.ModelFileError, match="unknown model file type"):
        backends.model_info(other)


# ---------------------------------------------------------------------------------------------- compile cache
@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LMPFLOW_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fake_package(tmp_path):
    pkg = tmp_path / "my-model.nequip.zip"
    pkg.write_bytes(b"package bytes v1")
    registry.write_sidecar(pkg, {"arch": "allegro", "label": "my-model"})
    return pkg


def fake_compiler(calls, inputs="pos edge_index atom_types", delay=0.0, envs=None):
    def run_tool(cmd, log, what, cwd=None, timeout=None, env=None):
        calls.append(cmd)
        if envs is not None:
            envs.append(env)
        time.sleep(delay)
        fake_pt2(Path(cmd[2]), inputs)
    return run_tool


def test_compile_cache_hit_does_not_recompile(cache, fake_package, monkeypatch):
    calls = []
    monkeypatch.setattr(nequip_files, "run_tool", fake_compiler(calls))
    first = nequip_files.compile_model(fake_package)
    assert first.parent == cache and first.name.startswith("my-model-") and first.name.endswith(".nequip.pt2")
    assert len(calls) == 1
    assert calls[0][calls[0].index("--target") + 1] == "pair_allegro"  # from the sidecar's arch
    assert calls[0][calls[0].index("--mode") + 1] == "aotinductor"
    assert nequip_files.compile_model(fake_package) == first and len(calls) == 1  # hit
    fake_package.write_bytes(b"package bytes v2")  # new content -> new key -> recompile
    second = nequip_files.compile_model(fake_package)
    assert second != first and len(calls) == 2
    nequip_files.compile_model(fake_package, target="pair_nequip")  # other target -> separate entry
    assert len(calls) == 3
    assert not list(cache.glob(".compile-*"))  # temporary dirs cleaned up


def test_first_use_says_it_compiles_and_how_long(cache, fake_package, monkeypatch, capsys):
    monkeypatch.setattr(nequip_files, "run_tool", fake_compiler([], delay=1.1))
    out = nequip_files.compile_model(fake_package)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2, err
    assert err[0].startswith("lmpflow: compiling model my-model.nequip.zip for this machine (pair_allegro, cpu)")
    assert "a few minutes, once" in err[0] and str(cache) in err[0]
    seconds = float(err[1].split(" in ")[1].split(" s ")[0])
    assert err[1].startswith("lmpflow: compiled my-model.nequip.zip in") and 1 <= seconds < 10
    assert err[1].endswith(str(out))
    nequip_files.compile_model(fake_package)  # cached: silent
    assert capsys.readouterr().err == ""


def test_compile_is_thread_count_independent_and_keyed_by_cpu(cache, fake_package, monkeypatch):
    """Kernels that take any thread count, and one cache entry per kind of compiling CPU."""
    calls, envs = [], []
    monkeypatch.setattr(nequip_files, "run_tool", fake_compiler(calls, envs=envs))
    first = nequip_files.compile_model(fake_package)
    assert envs[0]["TORCHINDUCTOR_CPP_DYNAMIC_THREADS"] == "1"
    monkeypatch.setattr(nequip_files, "host_cpu", lambda: "x86_64-othercpu")
    other = nequip_files.compile_model(fake_package)
    assert other != first and len(calls) == 2


def test_compile_lock_compiles_once_under_concurrency(cache, fake_package, monkeypatch):
    calls, results = [], []
    monkeypatch.setattr(nequip_files, "run_tool", fake_compiler(calls, delay=0.5))
    threads = [threading.Thread(target=lambda: results.append(nequip_files.compile_model(fake_package))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(set(results)) == 1


def test_compile_refuses_to_publish_broken_output(cache, fake_package, monkeypatch):
    def broken(cmd, log, what, cwd=None, timeout=None, env=None):
        Path(cmd[2]).write_bytes(b"truncated")
    monkeypatch.setattr(nequip_files, "run_tool", broken)
    with pytest.raises(backends.ModelFileError):
        nequip_files.compile_model(fake_package)
    assert not list(cache.glob("*.nequip.pt2"))


def test_lmpflow_target_is_compiled_by_lmpflow(cache, fake_package, monkeypatch):
    calls = []

    def run_tool(cmd, log, what, cwd=None, timeout=None, env=None):
        calls.append(cmd)
        out = next(a for a in cmd if a.endswith(".nequip.pt2"))
        fake_pt2(Path(out), "pos edge_index atom_types cell edge_cell_shift lmpflow_owned_mask",
                 extra={"lmpflow_layouts": "periodic deep_ghost", "lmpflow_num_layers": "2"})

    monkeypatch.setattr(nequip_files, "run_tool", run_tool)
    out = nequip_files.compile_model(fake_package, target="lmpflow_nequip")
    assert calls[0][1:3] == ["-m", "lmpflow.potentials.nequip_compile"] and "--device" in calls[0]
    assert backends.model_info(out)["ranks"] == "any"
    assert out != nequip_files.compile_model(fake_package, target="pair_nequip")  # its own cache entry


def test_nequip_compile_refuses_lmpflow_target_without_the_mask():
    """nequip-compile itself cannot put the owned mask into the model: its data step points to lmpflow."""
    import nequip  # noqa: F401  (loads lmpflow's extension through the nequip.extension entry point)
    from nequip.scripts._compile_utils import COMPILE_TARGET_DICT

    target = COMPILE_TARGET_DICT["lmpflow_nequip"]
    assert target["input"][-1] == "lmpflow_owned_mask"
    with pytest.raises(RuntimeError, match="lmpflow compile"):
        target["data_settings"]({})


def test_compile_input_errors(tmp_path, cache):
    with pytest.raises(backends.ModelFileError, match="does not exist"):
        nequip_files.compile_model(tmp_path / "nope.nequip.zip")
    pt2 = fake_pt2(tmp_path / "x.nequip.pt2", "pos edge_index atom_types")
    with pytest.raises(ValueError, match="already compiled"):
        nequip_files.compile_model(pt2)
    pkg = tmp_path / "y.nequip.zip"
    pkg.write_bytes(b"x")
    with pytest.raises(ValueError, match="target"):
        nequip_files.compile_model(pkg, target="pair_mace")


# ---------------------------------------------------------------------------------------------- training configs
@pytest.fixture
def toy_dataset(tmp_path):
    """Frames of five compositions whose energies are exact sums of per-type energies (eV)."""
    per_type = {"Li": -1.9, "P": -5.4, "S": -4.1, "Cl": -1.8}
    frames = []
    rng = np.random.default_rng(0)
    for k in range(12):
        atoms = li6ps5cl()
        if k % 5:  # drop one atom of species k % 5 so the compositions span all four types
            symbols = atoms.get_chemical_symbols()
            drop = symbols.index(SPECIES[k % 5 - 1])
            atoms = atoms[[i for i in range(len(atoms)) if i != drop]]
        atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
        energy = sum(per_type[s] for s in atoms.get_chemical_symbols())
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=rng.normal(0, 0.5, (len(atoms), 3)),
                                           stress=np.zeros(6))
        frames.append(atoms)
    path = tmp_path / "toy.extxyz"
    write(path, frames)
    return path, per_type


@pytest.mark.parametrize("arch,target", [("nequip", "nequip.model.NequIPGNNModel"),
                                         ("allegro", "allegro.model.AllegroModel")])
def test_training_config_both_archs(toy_dataset, tmp_path, arch, target):
    path, per_type = toy_dataset
    out = tmp_path / f"{arch}.yaml"
    text = trainers.training_config(arch, path, r_max=4.5, model_dtype="float32", preset="tiny", out=out)
    assert out.read_text() == text and "&id" not in text
    cfg = yaml.safe_load(text)
    model = cfg["training_module"]["model"]
    assert model["_target_"] == target
    assert model["type_names"] == list(SPECIES) and model["r_max"] == 4.5 and model["model_dtype"] == "float32"
    for species, energy in per_type.items():  # least-squares shifts recover the per-type energies
        assert model["per_type_energy_shifts"][species] == pytest.approx(energy, abs=1e-6)
    split = cfg["data"]["split_dataset"]
    assert split["train"] + split["val"] == 12 and split["val"] >= 1 and Path(split["file_path"]) == path.resolve()
    assert cfg["data"]["transforms"][1]["r_max"] == 4.5
    assert cfg["training_module"]["loss"]["_target_"].endswith("EnergyForceStressLoss")
    weighted = yaml.safe_load(trainers.training_config(arch, path, preset="tiny", energy_weight=10.0,
                                                       stress_weight=100.0))["training_module"]
    assert weighted["loss"]["coeffs"] == {"total_energy": 10.0, "forces": 1.0, "stress": 100.0}
    # the best checkpoint weighs the absolute errors as the loss weighs the squared ones
    assert weighted["val_metrics"]["coeffs"] == pytest.approx({"per_atom_energy_mae": 10 ** 0.5, "forces_mae": 1.0,
                                                               "stress_mae": 10.0})
    if arch == "allegro":
        assert model["radial_chemical_embed"]["_target_"] == "allegro.nn.TwoBodyBesselScalarEmbed"


def test_training_config_without_stress_and_bad_inputs(tmp_path):
    frames = []
    for k in range(6):
        atoms = li6ps5cl()
        atoms.calc = SinglePointCalculator(atoms, energy=-200.0 - k, forces=np.zeros((52, 3)))
        frames.append(atoms)
    path = tmp_path / "nostress.extxyz"
    write(path, frames)
    cfg = yaml.safe_load(trainers.training_config("nequip", path))
    assert cfg["training_module"]["loss"]["_target_"].endswith("EnergyForceLoss")
    with pytest.raises(ValueError, match="arch"):
        trainers.training_config("mace", path)
    with pytest.raises(ValueError, match="preset"):
        trainers.training_config("nequip", path, preset="huge")
    with pytest.raises(ValueError, match="model_dtype"):
        trainers.training_config("nequip", path, model_dtype="float16")
    with pytest.raises(FileNotFoundError):
        trainers.training_config("nequip", tmp_path / "none.extxyz")
    unlabelled = tmp_path / "unlabelled.extxyz"
    write(unlabelled, [li6ps5cl()] * 6)
    with pytest.raises(ValueError, match="energy"):
        trainers.training_config("nequip", unlabelled)


# ---------------------------------------------------------------------------------------------- labels
def test_label_sources_are_offline_and_differ():
    import torch

    atoms = li6ps5cl()
    atoms.rattle(0.05, seed=1)
    torch.set_default_dtype(torch.float64)  # what loading a nequip model does; CHGNet must still work
    try:
        pbe, = labels.label_frames([atoms], "chgnet-pbe")
        direct = atoms.copy()
        direct.calc = labels.chgnet_calculator("chgnet-pbe")  # as validate_model and MD use it
        assert direct.get_potential_energy() == pytest.approx(pbe.get_potential_energy(), abs=1e-6)
    finally:
        torch.set_default_dtype(torch.float32)
    assert torch.get_default_dtype() == torch.float32
    scan, = labels.label_frames([atoms], "chgnet-r2scan")
    for frame, source in ((pbe, "chgnet-pbe"), (scan, "chgnet-r2scan")):
        assert frame.info["label_source"] == source
        assert np.isfinite(frame.get_potential_energy())
        assert np.abs(frame.get_forces().sum(axis=0)).max() < 1e-3  # momentum conservation
        assert frame.get_stress().shape == (6,)
    # r2SCAN total energies are far lower than PBE ones (different functional references)
    assert abs(pbe.get_potential_energy() - scan.get_potential_energy()) / len(atoms) > 0.5
    with pytest.raises(ValueError, match="label source"):
        labels.label_frames([atoms], "dft-hse06")


def test_make_training_set_writes_labels_and_drops_overlaps(tmp_path):
    from ase.io import read

    good = li6ps5cl()
    overlap = li6ps5cl()
    s_index = 30  # an S atom; put Li 0 within 0.3 A of it: a clash with large reference forces
    overlap.positions[0] = overlap.positions[s_index] + 0.3 * np.array([1.0, 0.0, 0.0])
    f_good, f_clash = (np.abs(f.get_forces()).max() for f in labels.label_frames([good, overlap]))
    assert f_good < 2.0 < f_clash  # eV/A: the ideal crystal is near equilibrium, the clash is not
    out = labels.make_training_set(tmp_path / "set.extxyz", configurations=[good, overlap], max_force=2.0)
    frames = read(out, index=":")
    assert len(frames) == 1 and len(frames[0]) == 52
    assert frames[0].info["label_source"] == "chgnet-pbe"
    assert np.abs(frames[0].get_forces()).max() == pytest.approx(f_good, rel=1e-5) and frames[0].get_stress().shape == (6,)


def test_training_configurations_cover_strains_and_the_equation_of_state():
    frames = labels.training_configurations(n_rattle=3, n_strain=30, md_steps=0, max_strain=0.04,
                                            volume_scales=(0.94, 1.06))
    kinds = [a.info["kind"] for a in frames]
    assert kinds == ["rattled"] * 3 + ["strained"] * 30 + ["volume"] * 6
    ideal = li6ps5cl().get_volume()
    ratios = [a.get_volume() / ideal for a in frames]
    assert sorted(ratios[-6:]) == pytest.approx([0.94 ** 3] * 3 + [1.06 ** 3] * 3)
    strains = np.array([np.diag(a.cell.array) / 9.85 - 1 for a in frames[3:33]])
    assert np.abs(strains).max() <= 0.04 and np.abs(strains).max() > 0.03  # the ±4 % range is used


def test_contact_configurations_push_one_pair_of_each_species_pair_together():
    from ase.data import covalent_radii

    frames = labels.training_configurations(n_rattle=0, n_strain=0, md_steps=0, n_contact=4, seed=3)
    assert [a.info["kind"] for a in frames] == ["contact"] * 4
    cell, rng, pushed = li6ps5cl(site_exchange=0.5, seed=1), np.random.default_rng(0), set()
    for k in range(9):
        atoms = labels._pushed_pair(cell.copy(), k, (0.6, 0.9), rng)
        moved = np.flatnonzero(np.linalg.norm(atoms.positions - cell.positions, axis=1) > 1e-9)
        assert len(moved) == 2  # only the pair, along its axis: its midpoint stays
        a, b = moved
        assert cell.get_distance(a, b, mic=True) > atoms.get_distance(a, b, mic=True)
        covalent_A = covalent_radii[atoms.numbers[a]] + covalent_radii[atoms.numbers[b]]
        ratio = atoms.get_distance(a, b, mic=True) / covalent_A
        assert 0.6 <= ratio <= 0.9
        pushed.add(tuple(sorted(atoms.get_chemical_symbols()[x] for x in moved)))
    # the species pairs that meet within 4.5 A in a half-exchanged cell, each in turn
    assert {("Li", "Li"), ("Li", "P"), ("Li", "S"), ("Cl", "Li"), ("P", "S"), ("S", "S"), ("Cl", "S")} <= pushed


# ---------------------------------------------------------------------------------------------- shipped models
def test_test_models_are_shipped_with_label_source():
    specs = {(s.arch, s.metadata.get("model_dtype")): s for s in registry.shipped_models(test=True)}
    assert set(specs) == {(a, d) for a in NEQUIP_ARCHS for d in ("float32", "float64")}
    for spec in specs.values():
        assert spec.label_source == "chgnet-pbe"
        assert spec.metadata["type_names"] == list(SPECIES)
        assert 4.0 <= spec.metadata["r_max"] <= 5.0
        assert zipfile.is_zipfile(spec.path)


def test_find_model_errors():
    with pytest.raises(backends.ModelFileError, match="no model file or shipped model"):
        registry.find_model("no-such-model")


def test_ase_calculator_on_test_package():
    spec = next(s for s in registry.shipped_models(test=True) if s.arch == "nequip")
    atoms = li6ps5cl()
    atoms.rattle(0.05, seed=2)
    atoms.calc = nequip_files.ase_calculator(spec.path)
    forces = atoms.get_forces()
    assert np.isfinite(atoms.get_potential_energy())
    assert forces.shape == (52, 3) and np.abs(forces.sum(axis=0)).max() < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("arch", NEQUIP_ARCHS)
def test_compiled_test_model_metadata_and_cache_hit(arch):
    """Compiles (minutes, cached afterwards) the float64 test model and reads back its metadata."""
    spec = next(s for s in registry.shipped_models(test=True)
                if s.arch == arch and s.metadata.get("model_dtype") == "float64")
    pt2 = nequip_files.compile_model(spec.path)
    info = backends.model_info(pt2)
    assert info["target"] == arch and info["pair_style"] == backends.PAIR_STYLES[arch]
    assert info["type_names"] == list(SPECIES) and info["r_max"] == pytest.approx(spec.metadata["r_max"])
    assert info["model_dtype"] == "float64"
    mtime = pt2.stat().st_mtime
    t0 = time.time()
    assert nequip_files.compile_model(spec.path) == pt2
    assert time.time() - t0 < 10 and pt2.stat().st_mtime == mtime


def test_default_model_is_shipped_with_provenance():
    spec = registry.find_model(registry.DEFAULT_MODEL_LABEL)
    assert spec.arch in backends.ARCHS and spec.label_source in labels.LABEL_SOURCES
    meta = spec.metadata
    assert meta["type_names"] == list(SPECIES) and meta["training_set"]["n_frames"] >= 100
    assert spec.path.stat().st_size < 2.5e6  # shipped files stay small
    check = meta["md_check"]  # recorded by scripts/make_models.py: 4 ps Langevin MD at 900 K
    assert check["ps"] >= 4.0 and check["min_distance_A"] > 1.5 and check["max_PS_bond_A"] < 2.6
    assert check["msd_Li_A2"] > 2 * check["msd_P_A2"]  # Li diffuses through a stable PS4 framework


def test_shipped_fidelity_records_are_measured_against_the_labeler():
    """Each sidecar's "fidelity" is validate_model's summary against the model's own label source."""
    from lmpflow.workflows.validate import FIDELITY_TARGETS

    records = {s.label: s.metadata["fidelity"] for s in registry.shipped_models() if "fidelity" in s.metadata}
    assert registry.DEFAULT_MODEL_LABEL in records
    for label, rec in records.items():
        assert rec["reference"] == registry.find_model(label).label_source
        assert len(rec["checks"]) == 3 + 2 * len(rec["md"])  # forces, pressure, lattice; T and D per temperature
        for name, c in rec["checks"].items():
            at_least = name.startswith("D at")
            assert c["target"] in FIDELITY_TARGETS.values()
            v = c["value"]
            within = v is not None and (v >= c["target"] if at_least else v - c["noise_margin"] <= c["target"])
            assert c["passed"] == within, (label, name)
            assert c["noise_margin"] == 0 or name.startswith("mean temperature"), (label, name)
        assert rec["faithful"] == all(c["passed"] for c in rec["checks"].values())
        assert {row["T_K"] for row in rec["md"]} == {900.0, 700.0}


@pytest.mark.slow
def test_default_model_compiles_for_its_pair_style():
    pt2 = registry.default_model()
    info = backends.model_info(pt2)
    spec = registry.find_model(registry.DEFAULT_MODEL_LABEL)
    assert info["pair_style"] == backends.PAIR_STYLES[spec.arch] and info["type_names"] == list(SPECIES)
    assert info["r_max"] == pytest.approx(spec.metadata["r_max"])


@pytest.mark.slow
def test_user_training_path_end_to_end(toy_dataset, tmp_path, cache):
    """extxyz (any functional) -> nequip-train -> nequip-package -> nequip-compile -> LAMMPS energy and forces."""
    from lmpflow.lammps.runtime import plugin_path
    from lmpflow.lammps.session import LammpsSession

    path, _ = toy_dataset
    pt2 = trainers.train_model(path, "allegro", tmp_path / "mine", preset="tiny", functional="my-DFT",
                             label="allegro-mine", max_epochs=1)
    info = backends.model_info(pt2)
    assert info["target"] == "allegro" and info["type_names"] == list(SPECIES) and pt2.parent == cache
    side = registry.sidecar(tmp_path / "mine" / "allegro-mine.nequip.zip")
    assert side["label_source"] == "user" and side["functional"] == "my-DFT"
    if plugin_path() is None:
        return
    atoms = li6ps5cl()
    session = LammpsSession(atoms)
    session.commands([f"pair_style {info['pair_style']}", f"pair_coeff * * {pt2} Li P S Cl", "run 0"])
    lmp = session.lmp
    forces = lmp.numpy.extract_atom("f")[: len(atoms)]
    assert np.isfinite(lmp.get_thermo("pe")) and np.isfinite(forces).all() and np.abs(forces).max() > 0
    lmp.close()
