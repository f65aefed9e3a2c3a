"""`lmpflow` command line: a thin layer over lmpflow's functions.

Units everywhere: LAMMPS metal (Å, ps, eV, K, bar); D in cm²/s, σ in mS/cm.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from lmpflow.system.structures import SPECIES

_UNITS = "Units: Å, ps, eV, K (LAMMPS metal); D in cm²/s, conductivity σ in mS/cm."

_POTENTIAL_HELP = (
    "An ML model: a compiled .nequip.pt2/.nequip.pth file or MACE .mace.pt export, a .nequip.zip package or "
    "checkpoint or MACE .model (compiled on first use), or a shipped model's label (e.g. nequip-chgnet-pbe, "
    "mace-chgnet-pbe); append =LABEL to name it in tables. "
    "Needs the lmpflow LAMMPS plugin.")


#: exit status of `lmpflow validate` when a fidelity check fails (errors exit with 1)
NOT_FAITHFUL = 3


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


# --------------------------------------------------------------------------------------------------- #
# Shared argument groups
# --------------------------------------------------------------------------------------------------- #

def _add_structure_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("structure (default: ordered Li6PS5Cl, 52 atoms per cubic cell)")
    g.add_argument("--structure", metavar="FILE", help="read the structure from FILE (any ASE format or a "
                   "LAMMPS data file) instead of building Li6PS5Cl")
    g.add_argument("--supercell", type=int, nargs="+", default=[1], metavar="N",
                   help="repetitions of the cubic cell: one number (N N N) or three")
    g.add_argument("--site-exchange", type=float, default=0.0, metavar="F",
                   help="fraction of Cl(4a) sites swapped with S(4c) (anion site disorder, 0..1)")
    g.add_argument("--structure-seed", type=int, default=0, help="seed choosing the exchanged sites")
    g.add_argument("--a", type=float, default=9.85, help="cubic lattice constant, Å")


def _structure(args):
    from lmpflow.system.structures import li6ps5cl, read_structure

    if args.structure:
        return read_structure(args.structure)
    sc = args.supercell
    if len(sc) not in (1, 3):
        raise ValueError("--supercell takes one or three integers")
    return li6ps5cl(tuple(sc * 3 if len(sc) == 1 else sc), args.site_exchange, args.structure_seed, args.a)


def _add_potential_args(p: argparse.ArgumentParser, many: bool) -> None:
    g = p.add_argument_group("potential (give --model or --potential" + (", repeatable)" if many else ")"))
    act = "append" if many else "store"
    g.add_argument("--model", action=act, metavar="MODEL[=LABEL]", help=_POTENTIAL_HELP + (
        " In `compare`, =NAME:LEVEL,... gives factor labels, e.g. =arch:NequIP,xc:PBE." if many else ""))
    g.add_argument("--potential", action=act, metavar="FILE[=LABEL]",
                   help="a file of classical LAMMPS pair_style/pair_coeff lines (types in --species order), "
                        "run instead of an ML model (no plugin needed)")
    g.add_argument("--species", nargs="+", default=list(SPECIES),
                   help="LAMMPS type order of a classical --potential (ML models carry their own)")
    g.add_argument("--label", help="name of the potential in tables (single-potential commands)")
    g.add_argument("--no-core", action="store_true",
                   help="no ZBL core under the ML models (the shipped models get one by default; see README)")


def _split_model_arg(text: str) -> tuple[str, str | None, dict[str, str]]:
    """MODEL[=LABEL][,FACTOR:LEVEL...] or MODEL=FACTOR:LEVEL,... -> (model, label or None, {factor: level})."""
    spec, _, rest = text.partition("=")
    label, factors = None, {}
    for item in filter(None, (x.strip() for x in rest.split(","))):
        name, colon, level = item.partition(":")
        if colon:
            if not name or not level:
                raise ValueError(f"{text!r}: factor labels are NAME:LEVEL, e.g. arch:NequIP,xc:PBE")
            factors[name.strip()] = level.strip()
        elif label is None:
            label = item
        else:
            raise ValueError(f"{text!r} names two labels ({label!r}, {item!r}); give one label and "
                             "NAME:LEVEL factor labels, e.g. MODEL=mylabel,arch:NequIP,xc:PBE")
    return spec, label, factors


def _potentials(args, many: bool, with_factors: bool = False):
    """The potentials of --model/--potential; with_factors: also {label: {factor: level}} (given ones over the
    model sidecar's arch and functional)."""
    from lmpflow.potentials.potential import as_potential

    models = (args.model or []) if many else ([args.model] if args.model else [])
    classical = (args.potential or []) if many else ([args.potential] if args.potential else [])
    if not models and not classical:
        raise ValueError("give --model MODEL (an ML model) or --potential FILE (classical pair lines)")
    pots, factors = [], {}
    for i, text in enumerate([*models, *classical]):
        spec, label, given = _split_model_arg(text)
        if i >= len(models) and not Path(spec).is_file():
            raise FileNotFoundError(f"potential file {spec} does not exist")
        pot = as_potential(spec, species=args.species)
        label = label or (args.label if not many else None)
        if label:
            pot = dataclasses.replace(pot, label=label)
        if args.no_core and pot.model:
            pot = dataclasses.replace(pot, core=None)
        pots.append(pot)
        if with_factors:
            from lmpflow.workflows.compare import model_factors

            factors[pot.label] = {**model_factors(spec, pot), **given}
    return (pots, factors) if with_factors else pots


def _add_md_args(p: argparse.ArgumentParser, defaults: dict | None = None) -> None:
    d = {"T": 600.0, "steps": 35_000, "eq_steps": 5_000, "timestep_ps": 0.002, "dump_every": 50, **(defaults or {})}
    g = p.add_argument_group("MD settings (NVT, Nosé-Hoover chain, Tdamp = 100 steps)")
    g.add_argument("--steps", type=int, default=d["steps"], help="production steps (dumped)")
    g.add_argument("--eq-steps", type=int, default=d["eq_steps"], help="equilibration steps (not dumped)")
    g.add_argument("--timestep-ps", type=float, default=d["timestep_ps"], help="MD timestep, ps")
    g.add_argument("--dump-every", type=int, default=d["dump_every"], help="steps between dumped frames")


def _add_adaptive_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "adaptive trajectories (instead of --seeds)",
        "Seeds are added to each model × T point until the D of the MSD combined over its trajectories\n"
        "reaches the target relative standard error r, with a margin of one standard deviation of the error\n"
        "estimate itself (stop when r·(1 + 1/sqrt(2(n-1))) <= target), or the point has --max-seeds.\n"
        "Decisions: adaptive.csv, adaptive_looks.csv, adaptive.json.")
    g.add_argument("--target-err", type=_fraction, default=None, metavar="ERR",
                   help="target relative error of D per point, e.g. 1%% or 0.01")
    g.add_argument("--min-seeds", type=int, default=8, help="pilot trajectories per point (and fewest it stops with)")
    g.add_argument("--max-seeds", type=int, default=300, help="most trajectories per point")
    g.add_argument("--batch", type=int, default=4, help="fewest trajectories added to a point at a time")


def _add_exec_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("execution")
    g.add_argument("--mode", choices=["python", "lmp", "mpirun"], default="python",
                   help="in-process LAMMPS module, `lmp` subprocess, or `mpirun -np NP lmp`")
    g.add_argument("--np", type=int, default=1, help="MPI ranks per run (--mode mpirun)")


# --------------------------------------------------------------------------------------------------- #
# Subcommands
# --------------------------------------------------------------------------------------------------- #

def cmd_structure(args) -> int:
    from lmpflow.lammps.rundir import write_data

    atoms = _structure(args)
    out = Path(args.out)
    if out.suffix in (".lmp", ".data") or out.name.startswith("data."):
        write_data(atoms, out, args.species)
    else:
        import ase.io

        ase.io.write(out, atoms)
    print(f"wrote {out}: {atoms.get_chemical_formula()}, {len(atoms)} atoms, volume {atoms.get_volume():.2f} Å³")
    return 0


def cmd_input(args) -> int:
    from lmpflow.lammps.rundir import write_run_inputs

    (pot,) = _potentials(args, many=False)
    rec = write_run_inputs(args.run_dir, _structure(args), potential=pot, T_K=args.T, seed=args.seed,
                           steps=args.steps, eq_steps=args.eq_steps, timestep_ps=args.timestep_ps,
                           dump_every=args.dump_every)
    print(f"wrote run directory {args.run_dir} ({rec['formula']}, {rec['n_atoms']} atoms, {pot.label}, "
          f"{args.T:g} K). Run it with\n  lmpflow run {args.run_dir}\nor by hand, inside it:\n  "
          + " ".join(_shell_quote(a) for a in rec["lmp_command"]))
    return 0


def _shell_quote(a: str) -> str:
    import shlex

    return shlex.quote(a)


def cmd_info(args) -> int:
    from lmpflow.lammps.rundir import lmp_var_args

    if not (args.model or args.potential):
        return _list_shipped_models()
    (pot,) = _potentials(args, many=False)
    cutoff = f", cutoff {pot.r_max_A} Å" if pot.r_max_A is not None else ""
    print(f"{pot.label}: {pot.arch} potential, species (LAMMPS type order) {' '.join(pot.species)}{cutoff}")
    print("pair lines:\n  " + "\n  ".join(pot.lammps_pair_lines()))
    if pot.model is not None:
        print(f"MPI ranks: {_ranks_line(pot.model)}")
    variables = pot.script_vars()
    if pot.model is None:  # the script includes the user's file itself
        variables["potential"] = args.potential.partition("=")[0]
    print("in.liPSCl variables:\n  lmp -in in.liPSCl " + " ".join(_shell_quote(a) for a in lmp_var_args(variables)))
    return 0


def _list_shipped_models() -> int:
    from lmpflow.potentials import backends, registry

    print(f"{'shipped model':<22}{'pair style':<17}{'labels':<15}{'functional':<26}{'val. MAE E, F':<24}"
          f"{'faithful':<14}file")
    for spec in registry.shipped_models():
        err = spec.metadata.get("errors", {})
        mae = (f"{err['val_energy_mae_meV_atom']:.0f} meV/atom, {err['val_forces_mae_meV_A']:.0f} meV/Å"
               if "val_forces_mae_meV_A" in err else "–")
        checks = spec.metadata.get("fidelity", {}).get("checks", {})
        passed = sum(c["passed"] for c in checks.values())
        faithful = (("yes" if passed == len(checks) else f"no ({passed}/{len(checks)})") if checks
                    else "not checked")
        default = " (default)" if spec.label == registry.DEFAULT_MODEL_LABEL else ""
        print(f"{spec.label:<22}{backends.PAIR_STYLES[spec.arch]:<17}{spec.label_source:<15}"
              f"{spec.functional[:25]:<26}{mae:<24}{faithful:<14}{spec.path.name}{default}")
    print("`lmpflow info --model LABEL` for one model's pair lines, MPI ranks and in.liPSCl variables; faithful: "
          "the fidelity checks against the labeler that passed (sidecar \"fidelity\", `lmpflow validate`)")
    return 0


def _ranks_line(model: str) -> str:
    from lmpflow.potentials.backends import model_info

    info = model_info(model)
    layouts = info["layouts"]
    if info["ranks"] == "1":
        return (f"1 only ({' '.join(layouts)} graph; compiled for {info['compile_target'] or 'TorchScript'}); "
                f"recompile the .nequip.zip with `lmpflow compile` for any number of ranks")
    if "deep_ghost" in layouts:
        return (f"any (periodic graph on one rank, deep_ghost graph on more: {info['num_layers']} message-passing "
                f"layers, ghost atoms out to {info['ghost_shell_A']:g} Å + skin)")
    return f"any ({' '.join(layouts)} graph)"


def cmd_compile(args) -> int:
    from lmpflow.potentials.backends import COMPILED_SUFFIXES
    from lmpflow.potentials.registry import compiled_model

    if args.out and not args.out.endswith(COMPILED_SUFFIXES):
        raise ValueError(f"--out must end in one of {', '.join(COMPILED_SUFFIXES)} (the pair styles require it), "
                         f"got {args.out}")
    out = compiled_model(args.model, target=args.target, device=args.device)
    if args.out:
        import shutil

        shutil.copyfile(out, args.out)
        out = Path(args.out)
    print(out)
    print(f"MPI ranks: {_ranks_line(str(out))}")
    return 0


def cmd_mace_env(args) -> int:
    from lmpflow.potentials import mace_env

    print(mace_env.ensure())
    print(" ".join(f"{k} {v}" for k, v in mace_env.versions().items() if k != "requirements"))
    return 0


def cmd_run(args) -> int:
    from lmpflow.workflows.single_run import run_md

    res = run_md(args.run_dir, mode=args.mode, np=args.np, progress=not args.no_progress, threads=args.threads)
    _print_run_result(res)
    return 0


def _print_run_result(res: dict) -> None:
    print(f"{res['label']} at {res['T_K']:g} K (seed {res['seed']}, mean T {res['T_mean_K']:.0f} K): "
          f"D = {res['D_cm2_s']:.3e} ± {res['D_err_cm2_s']:.2e} cm²/s "
          f"(fit {res['fit_window_ps'][0]:g}-{res['fit_window_ps'][1]:g} ps); "
          f"σ_NE = {res['sigma_NE_mS_cm']:.3g} ± {res['sigma_NE_err_mS_cm']:.2g} mS/cm, "
          f"σ(charge MSD) = {res['sigma_charge_mS_cm']:.3g} ± {res['sigma_charge_err_mS_cm']:.2g} mS/cm")
    for w in res.get("analysis_warnings", []):
        print(f"  warning: {w}")


def _executor(args):
    if not args.dask:
        return None
    from distributed import Client

    return Client(args.dask)


def _fraction(text: str) -> float:
    """A relative error given as '1%' or 0.01."""
    t = str(text).strip()
    try:
        value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a relative error: give e.g. 1% or 0.01") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a relative error in (0, 100 %): give e.g. 1% or 0.01")
    return value


def _adaptive_kwargs(args) -> dict:
    """run_sweep's seeds / adaptive keywords from --seeds or --target-err (and its --min/--max-seeds, --batch)."""
    if args.target_err is None:
        seeds = args.seeds or [3]
        return {"seeds": seeds if len(seeds) > 1 else seeds[0]}
    if args.seeds:
        raise ValueError("--seeds fixes the number of trajectories and --target-err adds them until D reaches the "
                         "error: give one of them (bound an adaptive sweep with --min-seeds/--max-seeds)")
    return {"target_rel_err": args.target_err, "min_seeds": args.min_seeds, "max_seeds": args.max_seeds,
            "batch": args.batch}


def _print_adaptive(table) -> None:
    if table is None or table.empty:
        return
    print("trajectories per point (adaptive):")
    for _, r in table.iterrows():
        print(f"  {r['label']} {r['T_K']:g} K: {int(r['n_seeds'])} trajectories, relative error of D "
              f"{r['rel_err']:.2%} (target {r['target_rel_err']:.2%}): {r['status']}")


def cmd_sweep(args) -> int:
    from lmpflow.workflows.sweep import run_sweep
    from lmpflow.workflows.tables import format_results

    pots = _potentials(args, many=True)
    structure = _structure(args)
    seeding = _adaptive_kwargs(args)
    executor = _executor(args)
    try:
        res = run_sweep(pots, args.T, out_dir=args.out_dir, structure=structure, steps=args.steps,
                        eq_steps=args.eq_steps, timestep_ps=args.timestep_ps, dump_every=args.dump_every,
                        executor=executor, workers=args.workers, threads_per_run=args.threads_per_run,
                        mode=args.mode, np=args.np, plots=not args.no_plots, **seeding)
    finally:
        if executor is not None:
            executor.close()
    print(format_results(res["tables"]["summary"], res["tables"]["arrhenius"]))
    _print_adaptive(res["tables"].get("adaptive"))
    extra = ", adaptive.csv, adaptive_looks.csv" if "adaptive" in res["tables"] else ""
    print(f"tables: {args.out_dir}/runs.csv, summary.csv, arrhenius.csv{extra}")
    return 0


def cmd_analyze(args) -> int:
    path = Path(args.path)
    if path.is_dir() and (path / "run_vars.json").is_file():
        from lmpflow.workflows.single_run import analyse_run

        _print_run_result(analyse_run(path))
        return 0
    if path.is_dir():
        from lmpflow.workflows.tables import analyse_sweep, format_results

        res = analyse_sweep(path, plots=not args.no_plots)
        print(format_results(res["tables"]["summary"], res["tables"]["arrhenius"]))
        print(f"tables: {path}/runs.csv, summary.csv, arrhenius.csv; plots: {len(res['plots'])}")
        return 0
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a dump file, run directory or sweep directory")
    if args.T is None or args.timestep_ps is None:
        raise ValueError("a bare dump needs --T (K) and --timestep-ps (ps) to compute D and σ")
    from lmpflow.workflows.single_run import analyse_dump

    out, _ = analyse_dump(path, args.timestep_ps, args.T, ion=args.ion)
    print(json.dumps(out, indent=1))
    return 0


def cmd_report(args) -> int:
    from lmpflow.output.report import write_report

    factors = {}
    for text in args.factors or []:
        label, _, given = _split_model_arg(text)
        if not given:
            raise ValueError(f"--factors {text!r}: give LABEL=NAME:LEVEL,..., e.g. nequip-chgnet-pbe=arch:NequIP,xc:PBE")
        factors[label] = given
    out = write_report(list(args.sweep_dirs), neb_results=args.neb or None, out_dir=args.out, html=not args.no_html,
                       factors=factors or None)
    print(f"wrote {out}" + ("" if args.no_html else f" and {out.with_suffix('.html')}"))
    return 0


def cmd_render(args) -> int:
    from lmpflow.output import render as visual

    if args.density:
        out = visual.render_li_density(args.dump, args.png, element=args.highlight, method=args.method)
    else:
        out = visual.render_snapshot(args.dump, args.png, frame=args.frame, highlight=args.highlight,
                                     renderer=args.renderer)
    print(f"wrote {out}")
    return 0


def cmd_compare(args) -> int:
    from lmpflow.workflows.compare import compare_models

    pots, factors = _potentials(args, many=True, with_factors=True)
    seeding = _adaptive_kwargs(args)
    seeds = seeding.pop("seeds", None)
    out = compare_models(pots, args.T, seeds, args.out_dir, structure=_structure(args), hops=args.hops,
                         n_frames=args.frames, factors=factors,
                         sweep_kwargs={"steps": args.steps, "eq_steps": args.eq_steps,
                                       "timestep_ps": args.timestep_ps, "dump_every": args.dump_every,
                                       "workers": args.workers, **seeding})
    print(f"wrote {out} and {out.with_suffix('.html')} (tables as CSV beside them)")
    return 0


def cmd_neb(args) -> int:
    from lmpflow.workflows.barriers import barriers_against_reference, li_migration_barriers

    (pot,) = _potentials(args, many=False)
    kw = dict(atoms=_structure(args), hops=args.hops, frozen_species=args.freeze, n_images=args.images,
              fmax=args.fmax, label=pot.label, out_dir=args.out_dir)
    if args.reference:
        rows = barriers_against_reference(pot, args.reference, **kw)
        for r in rows:
            same = "same endpoints" if r["same_endpoints"] else "endpoints differ"
            print(f"{r['hop']:>11}: {pot.label} {r['model_barrier_forward_eV']:.3f} eV, {args.reference} "
                  f"{r['reference_barrier_forward_eV']:.3f} eV, difference {r['difference_eV']:+.3f} eV ({same})")
        print(f"outputs in {args.out_dir} (neb_comparison.csv)")
        return 0
    results = li_migration_barriers(pot, **kw)
    for name, r in results.items():
        print(f"{name:>11}: forward barrier {r.barrier_forward_eV:.3f} eV, backward {r.barrier_backward_eV:.3f} eV"
              f"{'' if r.converged else ' (NOT converged)'}"
              f"{'' if r.saddle_found else ' (no saddle: the highest image is an endpoint)'}")
    print(f"outputs in {args.out_dir}")
    return 0


def cmd_validate(args) -> int:
    from lmpflow.workflows.validate import validate_model

    (pot,) = _potentials(args, many=False)
    result = validate_model(pot, args.reference, eos=not args.no_eos, eos_relax=not args.no_relax,
                            md_temperatures_K=[] if args.no_md else args.T, md_ps=args.md_ps, md_seeds=args.seeds,
                            md_model_seeds=args.model_seeds, md_timestep_fs=args.timestep_fs,
                            reference_frame_ps=args.reference_frame_ps, out_dir=args.out_dir,
                            cache_dir=args.cache_dir, progress=print)
    e = result["errors"]["overall"]
    print(f"errors: energy {e['energy_mae_meV_atom']:.1f} meV/atom, forces {e['force_mae_meV_A']:.1f} meV/Å"
          + (f", stress {e['stress_mae_GPa']:.2f} GPa" if "stress_mae_GPa" in e else "") + " (MAE)")
    for c in result["checks"]:
        value = "–" if c["value"] is None else f"{c['value']:.4g}"
        margin = f", + {c['noise_margin']:.2g} for its error" if c["noise_margin"] else ""
        print(f"  {'ok  ' if c['passed'] else 'FAIL'} {c['check']}: {value} (target {c['target']:g}{margin})")
    print(("faithful" if result["faithful"] else "NOT faithful") + f"; report {result['report']}")
    return 0 if result["faithful"] else NOT_FAITHFUL


def cmd_demo(args) -> int:
    from lmpflow.workflows.demo import run_demo

    model = None
    if args.model or args.potential:
        (model,) = _potentials(args, many=False)
    run_demo(args.out_dir, temperatures=args.T, seeds=args.seeds, supercell=args.supercell[0]
             if len(args.supercell) == 1 else args.supercell, production_ps=args.production_ps,
             eq_ps=args.eq_ps, timestep_ps=args.timestep_ps, frame_ps=args.frame_ps, workers=args.workers,
             model=model)
    print(f"tables and plots in {args.out_dir}")
    return 0


# --------------------------------------------------------------------------------------------------- #
# Parser
# --------------------------------------------------------------------------------------------------- #

def build_parser() -> argparse.ArgumentParser:
    from lmpflow.potentials.backends import TARGET_LAYOUTS

    p = argparse.ArgumentParser(
        prog="lmpflow", formatter_class=_Formatter,
        description="Li-ion transport in Li6PS5Cl from machine-learned force fields (NequIP/Allegro/MACE) in "
                    f"LAMMPS. {_UNITS}")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, func, help_, desc=None):
        sp = sub.add_parser(name, help=help_, description=(desc or help_) + " " + _UNITS,
                            formatter_class=_Formatter)
        sp.set_defaults(func=func)
        return sp

    sp = add("structure", cmd_structure, "write a Li6PS5Cl cell or supercell to a file",
             "Write ordered Li6PS5Cl (optionally with Cl/S site exchange). The format follows the suffix "
             "(.lmp/.data: LAMMPS data with types --species; else any ASE format, e.g. .xyz, .cif, .vasp).")
    sp.add_argument("out", help="output file")
    sp.add_argument("--species", nargs="+", default=list(SPECIES), help="LAMMPS type order for data files")
    _add_structure_args(sp)

    sp = add("input", cmd_input, "write a run directory (data.lmp, in.liPSCl, run_vars.json)",
             "Write an NVT run directory that `lmpflow run` (or plain `lmp -in in.liPSCl ...`) runs.")
    sp.add_argument("run_dir")
    sp.add_argument("--T", type=float, default=600.0, help="temperature, K")
    sp.add_argument("--seed", type=int, default=1, help="velocity seed")
    _add_potential_args(sp, many=False)
    _add_md_args(sp)
    _add_structure_args(sp)

    sp = add("info", cmd_info, "show a model's pair style, species order, MPI ranks and the in.liPSCl -var settings",
             "Show a model's pair style, species order, MPI ranks and the in.liPSCl -var settings; without "
             "--model/--potential, list the shipped models (architecture, label source, validation errors).")
    _add_potential_args(sp, many=False)

    sp = add("compile", cmd_compile, "compile a model package for the LAMMPS pair styles (cached)",
             "Compile a .nequip.zip package or checkpoint (or a shipped model's label) to a .nequip.pt2 for this "
             "machine, cached in ~/.cache/lmpflow/models ($LMPFLOW_CACHE). NequIP models get target "
             "lmpflow_nequip (one file for one MPI rank and for any number), Allegro models pair_allegro. A "
             "trained MACE .model is exported to a .mace.pt (TorchScript, any machine) in the MACE environment "
             "(made on first use, see `lmpflow mace-env`).")
    sp.add_argument("model", help="a .nequip.zip package, checkpoint, MACE .model or shipped model label")
    sp.add_argument("--out", help="also copy the compiled file here (name ending in .nequip.pt2 or .mace.pt)")
    sp.add_argument("--target", choices=sorted(TARGET_LAYOUTS), default=None,
                    help="compile target (default: the architecture's)")
    sp.add_argument("--device", default="cpu", help="device the file will run on: cpu or cuda")

    add("mace-env", cmd_mace_env, "create the MACE environment (mace-torch, for training and exporting MACE)",
        "mace-torch pins e3nn 0.4.4 and nequip needs e3nn 0.6, so MACE trains and exports in a virtual "
        "environment of its own: $LMPFLOW_MACE_ENV, else beside lmpflow's (.venv -> .venv-mace). Running MACE "
        "models in LAMMPS needs none of it.")

    sp = add("run", cmd_run, "run a run directory's MD and analyse it (writes result.json)")
    sp.add_argument("run_dir")
    _add_exec_args(sp)
    sp.add_argument("--threads", type=int, default=None, help="OpenMP/torch threads (OMP_NUM_THREADS)")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar")

    sp = add("sweep", cmd_sweep, "run models × temperatures × seeds in parallel (resumable) and tabulate",
             "Run the grid in parallel; rerunning the same command after an interruption finishes it without "
             "redoing finished runs. Writes runs.csv, summary.csv, arrhenius.csv and plots in OUT_DIR.")
    sp.add_argument("out_dir")
    sp.add_argument("--T", type=float, nargs="+", required=True, help="temperatures, K")
    sp.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="one number n (seeds 1..n) or an explicit list of seeds; unset: 3, or adaptive with "
                         "--target-err")
    _add_adaptive_args(sp)
    _add_potential_args(sp, many=True)
    _add_md_args(sp)
    _add_structure_args(sp)
    _add_exec_args(sp)
    sp.add_argument("--workers", type=int, default=None, help="parallel runs; unset: CPU cores // --threads-per-run")
    sp.add_argument("--threads-per-run", type=int, default=1, help="threads of each run")
    sp.add_argument("--dask", metavar="ADDRESS", help="dask.distributed scheduler address to run on instead "
                    "of a local process pool (e.g. tcp://host:8786)")
    sp.add_argument("--no-plots", action="store_true", help="skip the PNG plots")

    sp = add("analyze", cmd_analyze, "analyse a dump, a run directory or a sweep directory",
             "A sweep directory: rewrite runs.csv/summary.csv/arrhenius.csv and plots. A run directory: "
             "rewrite its result.json. A dump file: print D and σ (needs --T and --timestep-ps).")
    sp.add_argument("path")
    sp.add_argument("--T", type=float, help="temperature of a bare dump, K")
    sp.add_argument("--timestep-ps", type=float, help="MD timestep of a bare dump, ps")
    sp.add_argument("--ion", default="Li", help="mobile species")
    sp.add_argument("--no-plots", action="store_true", help="skip the PNG plots")

    sp = add("report", cmd_report, "write a comparison report of one or more sweep directories")
    sp.add_argument("sweep_dirs", nargs="+", help="sweep output directories (with runs.csv, summary.csv, ...)")
    sp.add_argument("-o", "--out", default="report", help="output folder of the report (report.md, figures)")
    sp.add_argument("--neb", nargs="+", metavar="CSV", help="neb_barriers.csv files (from `lmpflow neb`)")
    sp.add_argument("--factors", action="append", metavar="LABEL=NAME:LEVEL,...",
                    help="factor labels of a model for the architecture × functional effects, e.g. "
                         "nequip-chgnet-pbe=arch:NequIP,xc:PBE (default: the tables' arch and functional)")
    sp.add_argument("--no-html", action="store_true", help="skip report.html (self-contained, plots embedded)")

    sp = add("render", cmd_render, "render a snapshot of a dump (or the Li density over all frames) to PNG",
             "Uses OVITO's headless renderers (needs libvulkan1 + mesa-vulkan-drivers on Linux).")
    sp.add_argument("dump")
    sp.add_argument("png")
    sp.add_argument("--frame", type=int, default=-1, help="frame index of the snapshot (-1: last)")
    sp.add_argument("--highlight", default="Li", help="element drawn large and coloured; others small")
    sp.add_argument("--renderer", choices=["tachyon", "opengl"], default="tachyon")
    sp.add_argument("--density", action="store_true", help="Li positions of all frames instead of one snapshot")
    sp.add_argument("--method", choices=["ovito", "histogram"], default="ovito",
                    help="--density drawing: overlaid OVITO particles or a 2-D histogram (matplotlib)")

    sp = add("neb", cmd_neb, "nudged-elastic-band barriers of the canonical Li hops (eV)")
    _add_potential_args(sp, many=False)
    _add_structure_args(sp)
    sp.add_argument("--images", type=int, default=5, help="intermediate NEB images")
    sp.add_argument("--fmax", type=float, default=0.05, help="force tolerance, eV/Å")
    sp.add_argument("--hops", nargs="+", default=["doublet", "intra-cage", "inter-cage"], help="hops to compute")
    sp.add_argument("--freeze", nargs="*", default=[], metavar="EL", help="elements held fixed (e.g. P S Cl)")
    sp.add_argument("--reference", metavar="SOURCE",
                    help="a label source (chgnet-pbe, chgnet-r2scan): also run its NEB on the same endpoints and "
                         "compare (neb_comparison.csv)")
    sp.add_argument("--out-dir", default="neb_out")

    sp = add("compare", cmd_compare, "compare models: same sweep + NEB for each, with a Markdown/HTML report",
             "Give each model as --model MODEL[=LABEL][,NAME:LEVEL...] (or --potential FILE=...), e.g. "
             "--model nequip-chgnet-pbe=arch:NequIP,xc:PBE; factor labels default to the model sidecar's arch and "
             "functional (else its label source). Reports Ea, σ(300 K), barriers, the main effects of the "
             "functional and of the architecture with their ratio, pairwise differences with significance, and "
             "force/energy disagreement on shared frames.")
    _add_potential_args(sp, many=True)
    _add_structure_args(sp)
    sp.add_argument("--T", type=float, nargs="+", default=[600.0, 750.0, 900.0], help="temperatures, K")
    sp.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="independent runs per model and temperature (n, or a list of seeds); unset: 3, or "
                         "adaptive with --target-err")
    _add_adaptive_args(sp)
    sp.add_argument("--steps", type=int, default=5000, help="production steps per run")
    sp.add_argument("--eq-steps", type=int, default=1000, help="equilibration steps per run")
    sp.add_argument("--timestep-ps", type=float, default=0.001, help="MD timestep, ps")
    sp.add_argument("--dump-every", type=int, default=20, help="steps between dumped frames")
    sp.add_argument("--workers", type=int, default=None, help="parallel runs (default: cores)")
    sp.add_argument("--hops", nargs="*", default=["doublet", "intra-cage", "inter-cage"],
                    help="NEB hops per model (--hops alone: no NEB)")
    sp.add_argument("--frames", type=int, default=10, help="shared frames for the disagreement (0: none)")
    sp.add_argument("--out-dir", default="compare_out")

    sp = add("validate", cmd_validate, "validate a model against its labeler or reference frames (report page)",
             "Energy, force and stress errors per species and structure kind on unseen cells (rattled, ±3 %% "
             "strained, S/Cl-disordered) or on reference frames; with a labeler also the equation of state "
             "(pressure, lattice constant), and D, temperature and Li-S/P-S RDFs from Langevin MD with both. "
             "Writes validation.md/.html with parity plots. Exit status 0: every fidelity check passes, "
             f"{NOT_FAITHFUL}: one fails (1: an error).")
    _add_potential_args(sp, many=False)
    sp.add_argument("--reference", required=True,
                    help="the labeler (chgnet-pbe or chgnet-r2scan) or an extxyz of labelled DFT/AIMD frames "
                         "(energy, forces, optionally stress)")
    sp.add_argument("--out-dir", default="validate_out")
    sp.add_argument("--T", type=float, nargs="+", default=[900.0], help="MD temperatures, K")
    sp.add_argument("--md-ps", type=float, default=5.0, help="production length of each MD run, ps")
    sp.add_argument("--seeds", type=int, default=3, help="MD runs per temperature with the reference")
    sp.add_argument("--model-seeds", type=int, default=None,
                    help="MD runs per temperature with the model (default: --seeds; more shrink its errors)")
    sp.add_argument("--timestep-fs", type=float, default=2.0, help="MD timestep, fs")
    sp.add_argument("--reference-frame-ps", type=float, default=None,
                    help="the reference frames are an AIMD trajectory with this interval (ps): compare its D "
                         "and RDFs with the model's MD at the first --T")
    sp.add_argument("--no-md", action="store_true", help="skip the MD comparison")
    sp.add_argument("--no-eos", action="store_true", help="skip the equation of state")
    sp.add_argument("--no-relax", action="store_true", help="equation of state without relaxing positions")
    sp.add_argument("--cache-dir", default=None, help="keep the labeler's own results here for the next model")

    sp = add("demo", cmd_demo, "short sweep on the shipped default model: D(T), Ea, σ(300 K) and plots",
             "About 10 minutes on 2 cores (first use includes compiling the model). --potential runs it with a "
             "classical stand-in instead (no plugin).")
    sp.add_argument("--out-dir", default="demo_out")
    sp.add_argument("--T", type=float, nargs="+", default=[600.0, 750.0, 900.0], help="temperatures, K")
    sp.add_argument("--seeds", type=int, default=3, help="independent runs per temperature")
    sp.add_argument("--production-ps", type=float, default=6.0, help="production length per run, ps")
    sp.add_argument("--eq-ps", type=float, default=1.0, help="equilibration per run, ps")
    sp.add_argument("--timestep-ps", type=float, default=0.002, help="MD timestep, ps")
    sp.add_argument("--frame-ps", type=float, default=0.02, help="time between dumped frames, ps")
    sp.add_argument("--workers", type=int, default=2, help="parallel runs")
    sp.add_argument("--supercell", type=int, nargs="+", default=[1], metavar="N", help="cubic-cell repetitions")
    _add_potential_args(sp, many=False)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("lmpflow: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line for users; --debug shows the traceback
        if args.debug:
            raise
        print(f"lmpflow {args.command}: error: {exc}", file=sys.stderr)
        return 1
