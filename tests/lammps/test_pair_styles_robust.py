"""The pair styles on machines other than the one that compiled the model, and on inputs they cannot honour.

Real LAMMPS, real compiled models: deliberately damaged copies, leftovers of many create/close cycles and of
runs that stop with an error, a model compiled as plain nequip-compile compiles it on a 2-core host (run with
more threads), neighbour-list options that would drop pairs, atom IDs near 1e8, and the ZBL core of the
shipped models.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lmpflow._host import executable
from lmpflow.lammps.rundir import write_data
from lmpflow.lammps.runtime import lammps_class, plugin_env, plugin_path
from lmpflow.lammps.session import QUIET, LammpsSession
from lmpflow.potentials import backends, registry
from lmpflow.potentials import nequip as nequip_files
from lmpflow.potentials.potential import as_potential
from lmpflow.system.structures import SPECIES, li6ps5cl

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(plugin_path() is None and not os.environ.get("CI"), reason="lmpflow plugin not built")]


def _spec(arch: str):
    return next(s for s in registry.shipped_models(test=True)
                if s.arch == arch and s.metadata.get("model_dtype", "float64") == "float64")


def _model(arch: str) -> dict:
    spec = _spec(arch)
    return {"pt2": nequip_files.compile_model(spec.path), "style": backends.PAIR_STYLES[arch], "spec": spec}


@pytest.fixture(scope="module")
def nequip64():
    return _model("nequip")


@pytest.fixture(scope="module")
def allegro64():
    return _model("allegro")


def _lmp_script(tmp_path: Path, name: str, body: str, env: dict | None = None):
    """Run `lmp` on a script reading data.lmp (the 52-atom cell); returns the CompletedProcess."""
    write_data(li6ps5cl(), tmp_path / "data.lmp")
    script = tmp_path / f"in.{name}"
    script.write_text(f"units metal\natom_style atomic\nread_data {tmp_path / 'data.lmp'}\n{body}\n")
    return subprocess.run([executable("lmp"), "-in", str(script), "-log", "none", "-nocite"], capture_output=True,
                          text=True, env=plugin_env() | {"OMP_NUM_THREADS": "1"} | (env or {}), timeout=600)


def _energy(out: str) -> float:
    lines = out.splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.split()[:2] == ["Step", "PotEng"])
    return float(lines[k + 1].split()[1])


_RUN0 = "thermo_style custom step pe\nthermo_modify format float %.12f\nrun 0"


# ---------------------------------------------------------------------------------------------- damaged files
def _entry_offset(data: bytes, info: zipfile.ZipInfo) -> int:
    h = data[info.header_offset:info.header_offset + 30]
    return info.header_offset + 30 + int.from_bytes(h[26:28], "little") + int.from_bytes(h[28:30], "little")


def _damaged_copies(pt2: Path, out: Path) -> dict[str, Path]:
    data = pt2.read_bytes()
    with zipfile.ZipFile(pt2) as zf:
        infos = zf.infolist()
    so = next(i for i in infos if i.filename.endswith(".wrapper.so"))
    kernel = next(i for i in infos if i.filename.endswith(".kernel.cpp"))
    copies = {}
    flipped = bytearray(data)  # 256 bytes of the library (code, weights) altered
    at = _entry_offset(data, so) + so.file_size // 2
    flipped[at:at + 256] = bytes(b ^ 0x01 for b in flipped[at:at + 256])
    copies["altered"] = flipped
    zeroed = bytearray(data)  # 4 KB of the kernel sources zeroed
    at = _entry_offset(data, kernel) + 1000
    zeroed[at:at + 4096] = bytes(4096)
    copies["zeroed"] = zeroed
    copies["truncated"] = data[: len(data) - 5000]
    paths = {}
    for name, blob in copies.items():
        paths[name] = out / f"{name}.nequip.pt2"
        paths[name].write_bytes(bytes(blob))
    return paths


def _pair_error(tmp_path, name, model, style="lmpflow/nequip") -> str:
    r = _lmp_script(tmp_path, name, f"pair_style {style}\npair_coeff * * {model} Li P S Cl\n{_RUN0}")
    assert r.returncode == 1, (name, r.stdout[-1500:])
    return next(ln for ln in r.stdout.splitlines() if ln.startswith("ERROR"))


def test_damaged_model_files_are_refused(tmp_path, nequip64):
    for name, path in _damaged_copies(Path(nequip64["pt2"]), tmp_path).items():
        msg = _pair_error(tmp_path, name, path)
        assert "the model file is damaged: recompile it or copy it again" in msg, (name, msg)
    # the intact file still runs
    r = _lmp_script(tmp_path, "ok", f"pair_style lmpflow/nequip\npair_coeff * * {nequip64['pt2']} Li P S Cl\n{_RUN0}")
    assert r.returncode == 0, r.stdout[-1500:]


def test_uncompiled_package_and_directory_are_named(tmp_path, nequip64):
    package = nequip64["spec"].path
    assert "is an uncompiled nequip package: compile it for LAMMPS with nequip-compile" in \
        _pair_error(tmp_path, "pkg", package)
    renamed = tmp_path / "renamed.nequip.pt2"
    shutil.copy(package, renamed)
    msg = _pair_error(tmp_path, "renamed", renamed)
    assert "is an uncompiled nequip package (a renamed .nequip.zip)" in msg and "--mode aotinductor" in msg
    folder = tmp_path / "unpacked.nequip.pt2"
    folder.mkdir()
    assert "is a directory" in _pair_error(tmp_path, "dir", folder)


def test_damaged_torchscript_file_is_refused(tmp_path):
    """TorchScript .nequip.pth files are zip archives too, some entries deflated: the same check."""
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        pth = tmp_path / f"x{method}.nequip.pth"
        with zipfile.ZipFile(pth, "w", method) as zf:
            zf.writestr("x/code/model.py", "def forward(x):\n    return x\n" * 100)
            zf.writestr("x/version", b"3\n")
        data = bytearray(pth.read_bytes())
        data[60:64] = bytes(b ^ 0xFF for b in data[60:64])  # inside the first entry's data
        pth.write_bytes(bytes(data))
        assert "the model file is damaged" in _pair_error(tmp_path, f"pth{method}", pth)


# ---------------------------------------------------------------------------------------------- leftovers
def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmRSS")) / 1024


def _leftovers() -> list[str]:
    return glob.glob(os.path.join(tempfile.gettempdir(), f"lmpflow-model-{os.getpid()}-*"))


@pytest.mark.parametrize("arch", ["nequip", "allegro"])
def test_create_close_cycles_leave_no_folders_and_keep_no_memory(arch):
    """Before: every load kept ~0.46 MB after close (40 cycles: +18 MB) and an aotinductor_* folder per crash."""
    model = _model(arch)
    before = set(_leftovers())
    rss = []
    for _ in range(40):
        s = LammpsSession(li6ps5cl(), SPECIES)
        s.commands([f"pair_style {model['style']}", f"pair_coeff * * {model['pt2']} Li P S Cl", "run 0 post no"])
        s.close()
        rss.append(_rss_mb())
    assert set(_leftovers()) == before
    # growth from cycle 2 on: what each load keeps (LAMMPS's own zbl keeps ~0.09 MB per cycle here)
    assert rss[-1] - rss[1] < 6.0, rss


def test_run_stopped_by_an_error_leaves_no_temporary_folder(tmp_path, nequip64):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    r = _lmp_script(tmp_path, "err", f"pair_style lmpflow/nequip\npair_coeff * * {nequip64['pt2']} Li P S Cl\n"
                                     "fix bad all nosuchfix", env={"TMPDIR": str(tmp)})
    assert r.returncode == 1 and "Unrecognized fix style" in r.stdout
    assert not list(tmp.iterdir())


# ---------------------------------------------------------------------------------------------- threads
# The compile as nequip-compile runs it on a host with `cores` cores (os.cpu_count() and torch's thread count):
# AOTInductor then sizes its kernels' per-thread buffers for `cores` threads.
_AS_HOST = """
import os, sys
import torch
os.cpu_count = lambda: {cores}
torch.set_num_threads({cores})
from nequip.scripts.compile import main
sys.argv = ["nequip-compile", {src!r}, {out!r}, "--mode", "aotinductor", "--device", "cpu", "--target", {target!r}]
main()
"""


@pytest.fixture(scope="module")
def nequip_2core_host():
    """The NequIP test model compiled as by plain nequip-compile on a 2-core host (cached)."""
    spec = _spec("nequip")
    key = nequip_files.compile_key(spec.path, "pair_nequip")
    out = nequip_files.cache_dir() / f"{spec.label}-2core-host-{key}.nequip.pt2"
    if not out.is_file():
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp.nequip.pt2")
        code = _AS_HOST.format(cores=2, src=str(spec.path), out=str(tmp), target="pair_nequip")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHINDUCTOR")}
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=env, timeout=1800)
        os.replace(tmp, out)
    kernels = [zf.read(n).decode() for zf in [zipfile.ZipFile(out)] for n in zf.namelist() if n.endswith(".kernel.cpp")]
    assert any("tid < 2;" in k for k in kernels), "expected kernels sized for 2 threads"
    return {"pt2": out, "style": "lmpflow/nequip"}


def test_threads_above_the_compile_hosts_are_refused_not_a_segfault(tmp_path, nequip_2core_host, nequip64):
    """Before: `threads 3` on a model compiled on a 2-core host died with SIGSEGV."""
    pair = f"pair_style lmpflow/nequip threads {{}}\npair_coeff * * {nequip_2core_host['pt2']} Li P S Cl\n{_RUN0}"
    ok = _lmp_script(tmp_path, "t2", pair.format(2))
    assert ok.returncode == 0, ok.stdout[-2000:]
    for threads in (3, 8):
        r = _lmp_script(tmp_path, f"t{threads}", pair.format(threads))
        assert r.returncode == 1, (r.returncode, r.stdout[-2000:])  # an error exit, not a signal
        assert "compiled on a host with 2 threads" in r.stdout and "use threads 2 or fewer" in r.stdout
        assert "TORCHINDUCTOR_CPP_DYNAMIC_THREADS=1" in r.stdout
    # lmpflow's own compile takes any thread count, with the same energy
    for threads in (1, 3, 8):
        r = _lmp_script(tmp_path, f"d{threads}", f"pair_style lmpflow/nequip threads {threads}\n"
                                                 f"pair_coeff * * {nequip64['pt2']} Li P S Cl\n{_RUN0}")
        assert r.returncode == 0, r.stdout[-2000:]
        assert abs(_energy(r.stdout) - _energy(ok.stdout)) < 1e-9 * abs(_energy(ok.stdout))
    neg = _lmp_script(tmp_path, "neg", "pair_style lmpflow/nequip threads -1")
    assert neg.returncode == 1 and "give a positive number of torch threads" in neg.stdout


def test_default_thread_count_is_clamped_to_the_compile_hosts(tmp_path, nequip_2core_host):
    """No `threads` keyword on a node with more cores than the compile host: run on its thread count, say so."""
    write_data(li6ps5cl(), tmp_path / "data.lmp")
    (tmp_path / "in.clamp").write_text(f"units metal\natom_style atomic\nread_data {tmp_path / 'data.lmp'}\n"
                                       f"pair_style lmpflow/nequip\n"
                                       f"pair_coeff * * {nequip_2core_host['pt2']} Li P S Cl\n{_RUN0}\n")
    code = f"""
import torch
torch.set_num_threads(4)  # as on a 4-core node (the plugin shares this libtorch)
from lmpflow.lammps.runtime import lammps_class
lmp = lammps_class()(cmdargs=["-log", "none", "-nocite"])
lmp.file({str(tmp_path / 'in.clamp')!r})
print("torch threads", torch.get_num_threads())
torch.set_num_threads(4)
lmp = lammps_class()(cmdargs=["-log", "none", "-nocite"])
lmp.commands_string(open({str(tmp_path / 'in.clamp')!r}).read().replace("lmpflow/nequip", "lmpflow/nequip threads 2"))
print("explicit threads 2 ran")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "running on 2 threads instead of 4" in r.stdout and "torch threads 2" in r.stdout
    assert "explicit threads 2 ran" in r.stdout and r.stdout.count("running on 2 threads") == 1


def test_model_for_another_cpu_is_refused(tmp_path, nequip64):
    """A package whose kernels need a vector ISA this CPU lacks (e.g. compiled on a newer login node)."""
    with open("/proc/cpuinfo") as fh:
        if "amx_tile" in fh.read():
            pytest.skip("this CPU has AMX")
    src = Path(nequip64["pt2"])
    foreign = tmp_path / "amx.nequip.pt2"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(foreign, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("_metadata.json"):
                meta = json.loads(data)
                meta["AOTI_CPU_ISA"] = "AVX512 AMX"
                data = json.dumps(meta).encode()
            zout.writestr(info, data)
    r = _lmp_script(tmp_path, "isa", f"pair_style lmpflow/nequip\npair_coeff * * {foreign} Li P S Cl")
    # a CPU without AVX-512 lacks both
    assert r.returncode == 1 and re.search(r"compiled for CPUs with AVX512 AMX but this CPU lacks (AVX512 )?AMX",
                                           r.stdout), r.stdout[-2000:]


# ---------------------------------------------------------------------------------------------- neighbour lists
@pytest.mark.parametrize("option, expected", [
    ("neigh_modify exclude type 1 1", "cannot honour 'neigh_modify exclude type 1 1'"),
    ("group li type 1\nneigh_modify exclude group li all", "cannot honour neigh_modify exclude group/molecule"),
    ("group li type 1\natom_modify first li\nneigh_modify include li", "cannot honour 'neigh_modify include'"),
])
def test_neighbour_options_that_drop_pairs_are_refused(tmp_path, allegro64, option, expected):
    """Before: `neigh_modify exclude type 1 1` silently removed every Li-Li edge from the model."""
    r = _lmp_script(tmp_path, "ex", f"{option}\npair_style lmpflow/allegro\n"
                                     f"pair_coeff * * {allegro64['pt2']} Li P S Cl\n{_RUN0}")
    assert r.returncode == 1 and expected in r.stdout, r.stdout[-1500:]


def test_exclusion_of_types_the_model_does_not_see_is_allowed(tmp_path, allegro64):
    """hybrid: Cl (type 4) is left to ZBL; excluding Cl-Cl pairs takes nothing from the model."""
    r = _lmp_script(tmp_path, "ex44", f"""
neigh_modify exclude type 4 4
pair_style hybrid lmpflow/allegro zbl 1.0 2.0
pair_coeff * * lmpflow/allegro {allegro64['pt2']} Li P S NULL
pair_coeff 1 4 zbl 3 17
pair_coeff 2 4 zbl 15 17
pair_coeff 3 4 zbl 16 17
pair_coeff 4 4 zbl 17 17
{_RUN0}""")
    assert r.returncode == 0, r.stdout[-1500:]


def test_special_bonds_that_drop_bonded_pairs_are_refused(tmp_path, allegro64):
    lmp = lammps_class()(cmdargs=list(QUIET))
    try:
        lmp.commands_string("units metal\natom_style bond\nregion b block 0 9.85 0 9.85 0 9.85\n"
                            "create_box 4 b bond/types 1 extra/bond/per/atom 1\nmass * 10.0\n"
                            "create_atoms 1 single 1 1 1\ncreate_atoms 3 single 3 1 1\ncreate_atoms 2 single 5 5 5\n"
                            "bond_style harmonic\nbond_coeff 1 1.0 2.0\ncreate_bonds single/bond 1 1 2\n"
                            f"pair_style lmpflow/allegro\npair_coeff * * {allegro64['pt2']} Li P S Cl")
        with pytest.raises(Exception, match="cannot honour special_bonds weights of 0"):
            lmp.command("run 0")
    finally:
        lmp.close()


# ---------------------------------------------------------------------------------------------- atom IDs
def _run_with_ids(model: dict, first_id: int) -> tuple[float, float]:
    """(energy, RSS growth in MB over the first evaluation) of the 52-atom cell with IDs from first_id."""
    atoms = li6ps5cl()
    atoms.rattle(0.05, seed=2)
    s = LammpsSession(atoms, SPECIES, pre_box=["atom_modify map hash"])
    s.lmp.command("delete_atoms group all")
    x = s.to_lammps(atoms.positions).ravel().tolist()
    types = [SPECIES.index(e) + 1 for e in atoms.get_chemical_symbols()]
    s.lmp.create_atoms(len(atoms), [first_id + i for i in range(len(atoms))], types, x)
    s.commands([f"pair_style {model['style']}", f"pair_coeff * * {model['pt2']} Li P S Cl",
                "thermo_style custom step pe", "velocity all create 600 3 loop geom", "fix md all nve",
                "timestep 0.001"])
    rss = _rss_mb()
    s.commands(["run 0 post no"])
    energy = s.lmp.get_thermo("pe")
    grown = _rss_mb() - rss
    s.commands(["run 20 post no"])  # MD with the same graph bookkeeping
    assert np.isfinite(s.lmp.get_thermo("pe"))
    s.close()
    return energy, grown


def test_nequip_cost_does_not_grow_with_atom_ids(nequip64):
    """Before: IDs near 1e8 made lmpflow/nequip clear a 1e8-entry array every step (+381 MB, 3-4x slower)."""
    e_small, _ = _run_with_ids(nequip64, 1)
    e_big, grown = _run_with_ids(nequip64, 100_000_000)
    assert abs(e_big - e_small) < 1e-9 * abs(e_small)
    assert grown < 50, grown


# ---------------------------------------------------------------------------------------------- ZBL core
def _close_li_pair(d: float):
    atoms = li6ps5cl()
    li = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "Li"]
    v = atoms.positions[li[1]] - atoms.positions[li[0]]
    atoms.positions[li[1]] = atoms.positions[li[0]] + d * v / np.linalg.norm(v)
    return atoms


def _energy_of(atoms, lines) -> float:
    s = LammpsSession(atoms, SPECIES)
    try:
        s.commands([*lines, "thermo_style custom step pe", "run 0 post no"])
        return s.lmp.get_thermo("pe")
    finally:
        s.close()


def test_shipped_models_get_a_zbl_core_that_is_exactly_additive(nequip64):
    pot = as_potential(nequip64["spec"])
    assert pot.core == registry.SHIPPED_ZBL_CORE_A
    bare = dataclasses.replace(pot, core=None)
    inner, outer = pot.core
    zbl_only = [f"pair_style zbl {inner} {outer}",
                *(f"pair_coeff {t} {t} {z} {z}" for t, z in enumerate((3, 15, 16, 17), start=1))]
    crystal = li6ps5cl()
    assert _energy_of(crystal, pot.lammps_pair_lines()) == pytest.approx(_energy_of(crystal, bare.lammps_pair_lines()),
                                                                         abs=1e-9)
    close = _close_li_pair(0.05)
    e_core, e_bare, e_zbl = (_energy_of(close, lines) for lines in
                             (pot.lammps_pair_lines(), bare.lammps_pair_lines(), zbl_only))
    assert e_core == pytest.approx(e_bare + e_zbl, rel=1e-12)
    assert e_core - _energy_of(crystal, pot.lammps_pair_lines()) > 500  # strongly repulsive


def test_zbl_core_defaults_and_switch(tmp_path, nequip64):
    from lmpflow.workflows.sweep import sweep_grid

    shipped = as_potential(nequip64["pt2"])  # a compiled shipped model, by path
    assert shipped.core == registry.SHIPPED_ZBL_CORE_A
    assert shipped.script_vars()["core"] == "zbl" and shipped.script_vars()["Z_Cl"] == "17"
    own = tmp_path / "own.nequip.pt2"
    shutil.copy(nequip64["pt2"], own)
    assert as_potential(own).core is None and as_potential(own).script_vars()["core"] == "none"
    tasks = sweep_grid([nequip64["pt2"]], [600], 1, tmp_path / "sweep")
    assert tasks[0].potential.core == registry.SHIPPED_ZBL_CORE_A
    assert sweep_grid([nequip64["pt2"]], [600], 1, tmp_path / "sweep", core=None)[0].potential.core is None


@pytest.mark.parametrize("core", ["zbl", "none"])
def test_input_script_puts_the_core_under_the_model(tmp_path, nequip64, core):
    from lmpflow.lammps.rundir import input_script_path

    write_data(li6ps5cl(), tmp_path / "data.lmp")
    shutil.copy(input_script_path(), tmp_path / "in.liPSCl")
    r = subprocess.run([executable("lmp"), "-in", "in.liPSCl", "-var", "model", str(nequip64["pt2"]), "-var", "arch",
                        "nequip", "-var", "core", core, "-var", "eq_steps", "0", "-var", "steps", "40",
                        "-var", "dump_every", "1", "-var", "thermo_every", "40"],
                       cwd=tmp_path, capture_output=True, text=True, env=plugin_env() | {"OMP_NUM_THREADS": "1"},
                       timeout=600)
    assert r.returncode == 0, r.stdout[-2000:]
    log = (tmp_path / "log.lammps").read_text()
    assert ("pair_style      hybrid/overlay lmpflow/nequip  zbl 1.0 1.5" in log) == (core == "zbl")
    assert ("pair_coeff      4 4 zbl 17 17" in log) == (core == "zbl")
