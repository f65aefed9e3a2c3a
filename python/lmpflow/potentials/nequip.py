"""nequip's model files: inspect compiled models, compile packages (cached), nequip's own ASE calculator.

Files: ``*.nequip.zip`` / ``*.ckpt`` are portable `nequip-package` archives and training checkpoints;
``*.nequip.pt2`` are AOTInductor-compiled models for the LAMMPS pair styles (machine code for the compiling CPU,
so they are made on first use and cached in ``$LMPFLOW_CACHE``, default ``~/.cache/lmpflow/models``, keyed by
file hash, target, device, torch/nequip versions and the compiling CPU, so nodes of a cluster that share the
cache each get code for their own CPU); ``*.nequip.pth`` are TorchScript files of older stacks.
Which architecture (NequIP, Allegro) a file holds decides its pair style, and its compile target the graph
layouts (so the MPI rank counts) it runs in: see `lmpflow.potentials.backends`. NequIP files for any number of
ranks come from lmpflow's own target ``lmpflow_nequip`` (`lmpflow.potentials.nequip_extension`).
"""
from __future__ import annotations

import hashlib
import json
import platform
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from lmpflow._host import cache_dir, executable, file_hash, file_lock, publish, run_tool, say
from lmpflow.potentials.backends import (
    BACKENDS,
    COMPILE_TARGETS,
    PAIR_STYLES,
    TARGET_LAYOUTS,
    ModelFileError,
    ranks,
)
from lmpflow.potentials.registry import find_model, sidecar

PACKAGE_SUFFIX = ".nequip.zip"
COMPILED_SUFFIX = ".nequip.pt2"
TORCHSCRIPT_SUFFIX = ".nequip.pth"

# lmpflow's compile target: its owned-node mask input, and the metadata the pair style reads (the layouts
# the file runs in; how many edges deep its messages reach)
LMPFLOW_TARGET = "lmpflow_nequip"
OWNED_MASK_KEY = "lmpflow_owned_mask"
LAYOUTS_KEY = "lmpflow_layouts"
NUM_LAYERS_KEY = "lmpflow_num_layers"


def _finish_info(meta: dict, path: Path, inputs: list[str], outputs: list[str], compile_target: str | None) -> dict:
    type_names = str(meta.get("type_names", "")).split()
    if not type_names:
        raise ModelFileError(f"{path}: model metadata has no type_names; is this a nequip model?")
    target = "nequip" if "cell" in inputs else "allegro"
    cutoffs = meta.get("per_edge_type_cutoff")
    r_max = float(meta["r_max"])
    if LAYOUTS_KEY in meta:
        layouts = str(meta[LAYOUTS_KEY]).split()
    elif compile_target is not None:
        layouts = list(TARGET_LAYOUTS[compile_target])
    else:  # TorchScript: the graph of the style its architecture needs
        layouts = ["periodic"] if target == "nequip" else ["ghost"]
    layers = int(meta[NUM_LAYERS_KEY]) if NUM_LAYERS_KEY in meta else None
    max_cutoff = max(map(float, cutoffs.split())) if cutoffs not in ("", None) else r_max
    return {
        "path": str(path),
        "type_names": type_names,
        "num_types": int(meta.get("num_types", len(type_names))),
        "r_max": float(meta["r_max"]),
        "per_edge_type_cutoff": cutoffs if cutoffs not in ("", None) else None,
        "model_dtype": str(meta.get("model_dtype", "")),
        "target": target,
        "pair_style": PAIR_STYLES[target],
        "compile_target": compile_target,
        "layouts": layouts,
        "ranks": ranks(layouts),
        "num_layers": layers,
        # deep_ghost: ghost atoms LAMMPS keeps, before the neighbour skin is added
        "ghost_shell_A": layers * max_cutoff if layers and "deep_ghost" in layouts else None,
        "inputs": inputs,
        "outputs": outputs,
        "raw": meta,
    }


def model_info(path: str | Path) -> dict:
    """Metadata of a compiled model (`.nequip.pt2` AOTInductor or `.nequip.pth` TorchScript).

    Returns type_names (list[str]), num_types, r_max (A), per_edge_type_cutoff (raw string or None),
    model_dtype, target ("nequip" or "allegro": a model that takes the cell is a NequIP message-passing model),
    pair_style ("lmpflow/nequip" or "lmpflow/allegro"), compile_target ("lmpflow_nequip", "pair_nequip",
    "pair_allegro"; None for TorchScript), layouts (graph layouts it runs in), ranks ("any" or "1": MPI ranks it
    runs on), num_layers (message-passing layers, lmpflow_nequip files), ghost_shell_A (their ghost shell),
    inputs, outputs, raw (all metadata) and path.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    name = path.name
    if name.endswith(COMPILED_SUFFIX):
        try:
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()  # CRC of every entry: libtorch's reader checks none
                if bad is not None:
                    raise ModelFileError(f"{path}: the model file is damaged (entry {bad} fails its CRC check): "
                                         f"recompile it or copy it again")
                hits = [n for n in zf.namelist()
                        if "/data/aotinductor/" in n and n.endswith("wrapper_metadata.json")]
                if not hits:
                    raise ModelFileError(f"{path}: no */data/aotinductor/*wrapper_metadata.json inside; not a "
                                         f"model compiled by `nequip-compile --mode aotinductor`")
                meta = json.loads(zf.read(hits[0]))
        except (zipfile.BadZipFile, json.JSONDecodeError, OSError) as exc:
            raise ModelFileError(f"{path} is corrupt or not an AOTInductor package ({exc}); recompile it with "
                                 f"lmpflow.compile_model") from exc
        inputs = str(meta.get("nequip_aoti_inputs", "")).split()
        outputs = str(meta.get("nequip_aoti_outputs", "")).split()
        if not inputs:
            raise ModelFileError(f"{path}: metadata lacks nequip_aoti_inputs; compile with --target pair_nequip "
                                 f"or pair_allegro")
        compile_target = (LMPFLOW_TARGET if OWNED_MASK_KEY in inputs else
                          "pair_nequip" if "cell" in inputs else "pair_allegro")
        return _finish_info(meta, path, inputs, outputs, compile_target)
    if name.endswith(TORCHSCRIPT_SUFFIX):
        import torch

        keys = ["type_names", "num_types", "r_max", "per_edge_type_cutoff", "model_dtype", "nequip_version",
                "config"]
        extra = {k: "" for k in keys}
        try:
            model = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        except Exception as exc:  # torch raises RuntimeError/ValueError variants for bad archives
            raise ModelFileError(f"{path} is corrupt or not a TorchScript model ({exc})") from exc
        meta = {k: (v.decode(errors="replace") if isinstance(v, bytes) else v) for k, v in extra.items()}
        # Deployed TorchScript models carry their training config: Allegro ones name allegro model builders.
        # Allegro's pair style feeds only local edges (no cell); NequIP's also passes cell and shifts.
        config = str(meta.pop("config", ""))
        is_allegro = "allegro" in config.lower() or "allegro" in (getattr(model, "original_name", "") or "").lower()
        inputs = ["pos", "edge_index", "atom_types"] + ([] if is_allegro else ["cell", "edge_cell_shift"])
        return _finish_info(meta, path, inputs, ["total_energy", "forces"], None)
    raise ModelFileError(f"{path}: unknown model file type; expected *{COMPILED_SUFFIX} or *{TORCHSCRIPT_SUFFIX}. "
                         f"Compile a *{PACKAGE_SUFFIX} package or checkpoint with lmpflow.compile_model")


def nequip_tool(name: str) -> str:
    """Path of one of nequip's command-line tools (`nequip-compile`, `nequip-train`, `nequip-package`)."""
    found = executable(name)
    if not found:
        raise RuntimeError(f"`{name}` not found; install nequip (and nequip-allegro) in this environment")
    return found


def arch_of(src: Path) -> str:
    """NequIP or Allegro? From the sidecar, else from the model config stored in the package/checkpoint."""
    arch = sidecar(src).get("arch")
    if arch in BACKENDS:
        return arch
    if src.name.endswith(PACKAGE_SUFFIX):
        with zipfile.ZipFile(src) as zf:
            text = " ".join(zf.read(n).decode(errors="ignore") for n in zf.namelist()
                            if n.endswith((".txt", ".yaml", ".json", ".pkl")))
    else:
        text = Path(src).read_bytes().decode(errors="ignore")
    if "allegro.model" in text:
        return "allegro"
    if "nequip.model" in text:
        return "nequip"
    raise ModelFileError(f"cannot tell whether {src} is a NequIP or Allegro model; pass target='pair_nequip' or "
                         f"'pair_allegro'")


#: Environment of every compile: AOTInductor's CPU kernels otherwise size per-thread buffers by the compiling
#: host's core count, and crash on a node that runs them with more threads.
COMPILE_ENV = {"TORCHINDUCTOR_CPP_DYNAMIC_THREADS": "1"}


def host_cpu() -> str:
    """The compiling CPU as AOTInductor sees it (it builds with -march=native): architecture plus a hash of the
    CPU's feature flags, so a cache shared by different nodes keeps one compile per kind of CPU."""
    flags = ""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((ln.split(":", 1)[1] for ln in fh if ln.startswith(("flags", "Features"))), "")
    except OSError:
        flags = platform.processor()
    digest = hashlib.sha256(" ".join(sorted(flags.split())).encode()).hexdigest()[:8]
    return f"{platform.machine()}-{digest}"


def compile_key(src: str | Path, target: str, device: str = "cpu") -> str:
    """Cache key of a compile: source file hash + target + device + torch and nequip versions + compiling CPU
    + the compile environment (and lmpflow's version for its own target, whose export lmpflow makes)."""
    import nequip
    import torch

    env = ",".join(f"{k}={v}" for k, v in sorted(COMPILE_ENV.items()))
    text = (f"{file_hash(Path(src))}|{target}|{device}|torch={torch.__version__}|nequip={nequip.__version__}|"
            f"cpu={host_cpu()}|{env}")
    if target == LMPFLOW_TARGET:
        from lmpflow import __version__

        text += f"|lmpflow={__version__}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def compile_model(src: str | Path, target: str | None = None, device: str = "cpu", out: str | Path | None = None,
                  timeout: float | None = 1800) -> Path:
    """Compile a `.nequip.zip` package or checkpoint to an AOTInductor `.nequip.pt2` for the LAMMPS pair styles.

    target: "lmpflow_nequip" (NequIP on any number of MPI ranks) | "pair_nequip" (NequIP, one rank) |
    "pair_allegro" (default: the architecture's first in `backends.BACKENDS`). Without `out`, the result
    goes to the cache (`cache_dir()`), named <stem>-<key>.nequip.pt2, and a cached file is reused (no
    recompile). Writes are atomic and guarded by a lock file, so concurrent callers compile once.
    A compile takes minutes on a CPU.
    """
    src = Path(src).resolve()
    if not src.is_file():
        raise ModelFileError(f"model source {src} does not exist")
    if src.name.endswith((COMPILED_SUFFIX, TORCHSCRIPT_SUFFIX)):
        raise ValueError(f"{src} is already compiled; compile the .nequip.zip package or checkpoint it came from")
    if target is None:
        target = COMPILE_TARGETS[arch_of(src)]
    # "ase": nequip's ASE calculator (NequIPCalculator.from_compiled_model), the MD baseline of bench/
    if target not in (*TARGET_LAYOUTS, "ase"):
        raise ValueError(f"target must be one of {sorted(TARGET_LAYOUTS)} or 'ase', got {target!r}")
    stem = src.name.removesuffix(PACKAGE_SUFFIX).removesuffix(".ckpt")
    if out is None:
        out = cache_dir() / f"{stem}-{compile_key(src, target, device)}{COMPILED_SUFFIX}"
    out = Path(out).resolve()
    if not out.name.endswith(COMPILED_SUFFIX):
        raise ValueError(f"compiled model name must end with {COMPILED_SUFFIX}, got {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.is_file():
        return out
    with file_lock(out.with_name(out.name + ".lock"), f"another process is compiling {src.name}; waiting for it"):
        if out.is_file():
            return out
        # A compile takes minutes with nothing else to show: say so, and how long it took.
        say(f"lmpflow: compiling model {src.name} for this machine ({target}, {device}) with nequip-compile; "
             f"this takes a few minutes, once (cached in {out.parent})")
        t0 = time.monotonic()
        tmpdir = Path(tempfile.mkdtemp(prefix=".compile-", dir=out.parent))
        try:
            tmp = tmpdir / out.name
            if target == LMPFLOW_TARGET:  # nequip-compile cannot put the owned mask into the model
                cmd = [sys.executable, "-m", "lmpflow.potentials.nequip_compile", str(src), str(tmp),
                       "--device", device]
            else:
                cmd = [nequip_tool("nequip-compile"), str(src), str(tmp), "--mode", "aotinductor", "--device",
                       device, "--target", target]
            run_tool(cmd, tmpdir / "compile.log", f"nequip-compile of {src.name}", cwd=tmpdir, timeout=timeout,
                     env=COMPILE_ENV)
            model_info(tmp)  # refuse to publish a broken file
            publish(tmp, out)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        say(f"lmpflow: compiled {src.name} in {time.monotonic() - t0:.0f} s -> {out}")
    return out


def ase_calculator(model: str | Path, device: str = "cpu"):
    """nequip's ASE calculator on a package (`.nequip.zip`), checkpoint or compiled `.nequip.pt2`.

    Packages/checkpoints run in eager mode (no compile), species map Li P S Cl -> model types by name. For
    comparing the LAMMPS pair styles against nequip's own evaluation of the same model: give the package the
    pair style's `.nequip.pt2` was compiled from (pair-style compiles cannot drive the ASE calculator).
    Note: loading a nequip model sets torch's default dtype to float64 for the process.
    """
    from nequip.integrations.ase import NequIPCalculator

    path = Path(model)
    if not path.is_file():
        spec = find_model(model)
        path = spec.path
    if path.name.endswith(COMPILED_SUFFIX):
        try:
            return NequIPCalculator.from_compiled_model(str(path), device=device)
        except Exception as exc:  # pair-style targets (pair_nequip/pair_allegro) have other inputs than ASE's
            raise ModelFileError(f"{path} cannot drive nequip's ASE calculator ({exc}); models compiled for the "
                                 f"LAMMPS pair styles are not; pass the .nequip.zip package instead") from exc
    if path.name.endswith(TORCHSCRIPT_SUFFIX):
        raise ValueError(f"{path}: TorchScript models are not supported by nequip>=0.19's ASE calculator")
    return NequIPCalculator._from_saved_model(str(path), device=device)
