"""NEB against an analytic saddle, the LAMMPS calculator against independent physics, and Li6PS5Cl hops."""
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones
from ase.constraints import FixAtoms
from scipy.optimize import minimize

from lmpflow.analysis.neb import NebResult, intermediate_minimum, run_neb
from lmpflow.lammps.calculator import LammpsCalculator
from lmpflow.output.plots import plot_neb
from lmpflow.system.sites import HOP_NAMES, find_canonical_hops, hop_candidates, hop_endpoints, li_48h_sites
from lmpflow.system.structures import li6ps5cl
from lmpflow.workflows.barriers import li_migration_barriers, read_neb_barriers

# ---- analytic model: one mobile atom (H) bound by Morse wells to two fixed atoms (He) and pulled sideways by
# a third (Ne). Mirror symmetry x -> 20 - x makes the two minima equivalent and puts the saddle on x = 10.
MORSE = {"He": (1.0, 1.5, 1.2), "Ne": (0.3, 1.0, 2.0)}  # D0 (eV), alpha (1/A), r0 (A) for the pair with H
FIXED = [("He", (8.0, 10.0, 10.0)), ("He", (12.0, 10.0, 10.0)), ("Ne", (10.0, 12.5, 10.0))]
MORSE_LINES = ["pair_style morse 8.0", "pair_coeff * * 0.0 1.0 1.0",  # fixed-fixed pairs: no interaction
               "pair_coeff 1 2 1.0 1.5 1.2", "pair_coeff 1 3 0.3 1.0 2.0"]


def morse_energy(x):
    """Exact energy (eV) of the mobile atom at x (A): sum of Morse terms, all distances < the 8 A cutoff."""
    e = 0.0
    for sym, p in FIXED:
        d0, alpha, r0 = MORSE[sym]
        r = np.linalg.norm(np.asarray(x) - p)
        e += d0 * (np.exp(-2 * alpha * (r - r0)) - 2 * np.exp(-alpha * (r - r0)))
    return e


def exact_saddle():
    """Minimum and saddle found independently: the saddle is the energy minimum on the mirror plane x = 10."""
    lo = minimize(morse_energy, [9.2, 10.3, 10.0], method="BFGS", options={"gtol": 1e-11})
    sad = minimize(lambda yz: morse_energy([10.0, *yz]), [10.3, 10.0], method="BFGS", options={"gtol": 1e-11})
    saddle = np.array([10.0, *sad.x])
    # index-1 check by finite differences: one negative Hessian eigenvalue (along x) at the saddle
    h = 1e-4
    hess = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            ei, ej = np.eye(3)[i] * h, np.eye(3)[j] * h
            hess[i, j] = (morse_energy(saddle + ei + ej) - morse_energy(saddle + ei - ej)
                          - morse_energy(saddle - ei + ej) + morse_energy(saddle - ei - ej)) / (4 * h * h)
    assert np.sum(np.linalg.eigvalsh(hess) < 0) == 1
    return lo.x, lo.fun, saddle, sad.fun


def morse_system(x_mobile):
    atoms = Atoms("H" + "".join(s for s, _ in FIXED), positions=[x_mobile] + [p for _, p in FIXED],
                  cell=[24.0, 24.0, 24.0], pbc=True)
    atoms.set_constraint(FixAtoms([1, 2, 3]))
    return atoms


def test_neb_matches_analytic_morse_saddle(tmp_path):
    x_min, e_min, saddle, e_saddle = exact_saddle()
    barrier = e_saddle - e_min
    assert 0.1 < barrier < 0.2  # a real barrier, and the curved path makes the climb non-trivial
    calc = LammpsCalculator(MORSE_LINES, species=("H", "He", "Ne"))
    # endpoints deliberately off the minima: run_neb relaxes them; 6 images so none starts on the mirror plane
    result = run_neb(morse_system([9.0, 10.0, 10.0]), morse_system([11.0, 10.0, 10.0]), calc, n_images=6,
                     fmax=0.002)
    assert result.converged and result.endpoints_relaxed
    assert result.max_force_eV_A < 0.002
    assert result.barrier_forward_eV == pytest.approx(barrier, abs=1e-3)
    assert result.barrier_backward_eV == pytest.approx(barrier, abs=1e-3)
    # the climbing image sits on the saddle, the endpoints on the minima
    assert np.linalg.norm(np.array(result.saddle_position_A) - saddle) < 0.02
    assert np.linalg.norm(result.images[0].positions[0] - x_min) < 0.02
    assert result.energies_eV[0] == pytest.approx(e_min, abs=1e-4)
    assert 0 < result.climbing_index < result.n_images - 1
    assert max(result.energies_eV) == result.energies_eV[result.climbing_index]
    png = plot_neb(result, tmp_path / "morse.png")
    assert png.stat().st_size > 5000
    back = NebResult.read_json(result.write_json(tmp_path / "r.json"))
    assert back.barrier_forward_eV == result.barrier_forward_eV and back.images is None


def test_neb_without_climbing_underestimates_the_saddle():
    """Guards that the climbing image is what finds the saddle: a plain band with an even image count does not."""
    _, e_min, _, e_saddle = exact_saddle()
    calc = LammpsCalculator(MORSE_LINES, species=("H", "He", "Ne"))
    plain = run_neb(morse_system([9.0, 10.0, 10.0]), morse_system([11.0, 10.0, 10.0]), calc, n_images=4,
                    fmax=0.01, climb=False)
    assert plain.barrier_forward_eV < e_saddle - e_min - 5e-3


def test_lammps_calculator_matches_ase_lennard_jones_in_triclinic_cell():
    atoms = li6ps5cl()
    atoms.rattle(0.1, seed=1)
    atoms.set_cell(atoms.cell.array + [[0, 0, 0], [0.7, 0, 0], [0.3, -0.4, 0]], scale_atoms=False)
    ref = atoms.copy()
    ref.calc = LennardJones(sigma=2.0, epsilon=0.01, rc=6.0)  # ASE shifts the energy to zero at rc
    atoms.calc = LammpsCalculator(["pair_style lj/cut 6.0", "pair_coeff * * 0.01 2.0", "pair_modify shift yes"])
    assert atoms.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-9)
    np.testing.assert_allclose(atoms.get_forces(), ref.get_forces(), atol=1e-9)
    atoms.positions[0] += [0.3, 0.0, 0.0]  # moved atoms are re-sent to the same LAMMPS instance
    ref.positions[0] += [0.3, 0.0, 0.0]
    np.testing.assert_allclose(atoms.get_forces(), ref.get_forces(), atol=1e-9)


def test_lammps_calculator_rejects_bad_input():
    with pytest.raises(ValueError, match="pair_style"):
        LammpsCalculator(["pair_coeff * * 1 1"])
    atoms = Atoms("Na", positions=[[0, 0, 0]], cell=[10, 10, 10], pbc=True)
    atoms.calc = LammpsCalculator(["pair_style lj/cut 3.0", "pair_coeff * * 0.01 2.0"])
    with pytest.raises(ValueError, match="species"):
        atoms.get_potential_energy()
    atoms = Atoms("Li", positions=[[0, 0, 0]], cell=[10, 10, 10], pbc=True)
    atoms.calc = LammpsCalculator(["pair_style no_such_style"])
    with pytest.raises(RuntimeError, match="pair lines"):
        atoms.get_potential_energy()


def test_canonical_hops_are_found_geometrically():
    atoms = li6ps5cl()
    hops = find_canonical_hops(atoms)
    assert list(hops) == list(HOP_NAMES)
    # literature distance classes: doublet ~1.9 A (via 24g), intra-cage ~2.2-2.4 A, inter-cage ~2.8-3.2 A
    assert 1.7 < hops["doublet"].distance_A < 2.1
    assert 2.1 < hops["intra-cage"].distance_A < 2.5
    assert 2.6 < hops["inter-cage"].distance_A < 3.3
    li = np.flatnonzero(np.array(atoms.get_chemical_symbols()) == "Li")
    for hop in hops.values():
        assert hop.mechanism == "empty-48h" and hop.li_index in li
        assert np.linalg.norm(hop.target - atoms.positions[hop.li_index]) == pytest.approx(hop.distance_A)
        # target is an EMPTY site: no Li within 1 A of it (minimum image)
        tmp = atoms.copy()
        tmp.positions[hop.li_index] = hop.target
        d = tmp.get_distances(hop.li_index, np.setdiff1d(li, [hop.li_index]), mic=True)
        assert d.min() > 1.0
        initial, final = hop_endpoints(atoms, hop)
        assert len(initial) == len(final) == len(atoms)
    # the same classes in a supercell
    big = find_canonical_hops(li6ps5cl((2, 1, 1)))
    for name in HOP_NAMES:
        assert big[name].distance_A == pytest.approx(hops[name].distance_A, abs=1e-6)
    with pytest.raises(ValueError, match="unknown hop"):
        find_canonical_hops(atoms, ["diagonal"])


def test_vacancy_mechanism_when_no_48h_site_is_empty():
    atoms = li6ps5cl()
    sites, occupant, _, _, _ = li_48h_sites(atoms)
    full = atoms + Atoms("Li" * int(np.sum(occupant < 0)), positions=sites[occupant < 0])  # all 48 sites filled
    hops = find_canonical_hops(full)
    for name, hop in hops.items():
        assert hop.mechanism == "vacancy", name
        # the removed Li sits exactly where the moving Li goes
        d = full.get_distance(hop.removed_index, hop.li_index, mic=True)
        assert d == pytest.approx(hop.distance_A, abs=1e-6)
        initial, final = hop_endpoints(full, hop)
        assert len(initial) == len(full) - 1
        moved = np.linalg.norm(final.positions - initial.positions, axis=1)
        assert np.sum(moved > 1e-9) == 1 and moved.max() == pytest.approx(hop.distance_A)


def test_hops_need_ideal_sites():
    atoms = li6ps5cl()
    atoms.rattle(0.2, seed=3)
    with pytest.raises(ValueError, match="unrelaxed"):
        find_canonical_hops(atoms)


# A classical stand-in with a FROZEN P/S/Cl framework: Li bound to S and Cl by Morse wells, Born-Mayer
# repulsion Li-Li and Li-P (the framework pairs are absent, so the framework must be held fixed).
FROZEN_FRAMEWORK_STANDIN = ["pair_style hybrid/overlay morse 5.0 born 5.0",
                            "pair_coeff * * born 0.0 0.3 0.0 0.0 0.0",
                            "pair_coeff 1 3 morse 0.30 2.0 2.45",
                            "pair_coeff 1 4 morse 0.25 2.0 2.60",
                            "pair_coeff 1 1 born 200.0 0.30 0.0 0.0 0.0",
                            "pair_coeff 1 2 born 500.0 0.30 0.0 0.0 0.0",
                            "pair_modify shift yes"]


def check_hop_results(results):
    assert list(results) == list(HOP_NAMES)
    for name, r in results.items():
        assert r.converged and r.max_force_eV_A < 0.05, name
        assert r.barrier_forward_eV > 0.05 and r.barrier_backward_eV >= 0.0, name
        assert r.barrier_forward_eV - r.barrier_backward_eV == pytest.approx(r.reaction_energy_eV, abs=1e-9)
        assert max(r.energies_eV) == r.energies_eV[r.climbing_index]
        # the Li really hopped: relaxed endpoints are distinct sites
        li = r.moving_atom
        assert np.linalg.norm(r.images[-1].positions[li] - r.images[0].positions[li]) > 1.0, name


def test_li6ps5cl_hops_frozen_framework(tmp_path):
    results = li_migration_barriers(FROZEN_FRAMEWORK_STANDIN, frozen_species=("P", "S", "Cl"), fmax=0.05,
                                    label="frozen", out_dir=tmp_path)
    check_hop_results(results)
    for r in results.values():
        assert r.saddle_found
        assert np.allclose(r.images[3].positions[24:], r.images[0].positions[24:])  # framework held fixed
    rows = read_neb_barriers(tmp_path / "neb_barriers.csv")
    assert [row["hop"] for row in rows] == list(HOP_NAMES)
    assert rows[0]["barrier_forward_eV"] == pytest.approx(results["doublet"].barrier_forward_eV)
    assert all(row["saddle_found"] for row in rows)
    for name in HOP_NAMES:
        assert (tmp_path / f"neb_{name}.png").stat().st_size > 5000
        assert NebResult.read_json(tmp_path / f"neb_{name}.json").saddle_found
    assert (tmp_path / "neb_paths.png").exists()
    with pytest.raises(ValueError, match="frozen_species"):
        li_migration_barriers(FROZEN_FRAMEWORK_STANDIN, frozen_species=("Na",))


def test_li6ps5cl_hops_relaxed_framework(standin):
    """Every atom free, through an lmpflow Potential (the path ML models take)."""
    results = li_migration_barriers(standin, hops=("doublet", "inter-cage"), fmax=0.05)
    assert set(results) == {"doublet", "inter-cage"}
    for name, r in results.items():
        assert r.converged and r.saddle_found, name
        assert 0.02 < r.barrier_forward_eV < 1.0, name
        li = r.moving_atom
        assert np.linalg.norm(r.images[-1].positions[li] - r.images[0].positions[li]) > 1.0, name
    # the longer inter-cage hop is the harder one on this potential, as in Li6PS5Cl
    assert results["inter-cage"].barrier_forward_eV > results["doublet"].barrier_forward_eV


@pytest.mark.slow
@pytest.mark.skipif(__import__("lmpflow.lammps.runtime", fromlist=["x"]).plugin_path() is None
                    and not __import__("os").environ.get("CI"), reason="lmpflow plugin not built")
def test_ml_model_barrier_through_the_lmpflow_pair_style(tmp_path):
    """The NEB machinery drives an ML model through `pair_style lmpflow/...` in LAMMPS: a converged band,
    outputs written, and the band's energies equal to the model's own energies of the same images."""
    from lmpflow.potentials import nequip as nequip_files
    from lmpflow.potentials import registry
    from lmpflow.potentials.potential import Potential

    spec = next(s for s in registry.shipped_models(test=True)
                if s.arch == "allegro" and s.metadata.get("model_dtype") == "float64")
    potential = Potential.from_model(nequip_files.compile_model(spec.path), label="allegro-test")
    results = li_migration_barriers(potential, hops=["doublet"], frozen_species=("P", "S", "Cl"), fmax=0.1,
                                    label="allegro-test", out_dir=tmp_path)
    band = results["doublet"]
    assert band.converged and (tmp_path / "neb_barriers.csv").is_file()
    assert np.isfinite(band.energies_eV).all() and len(band.energies_eV) == band.n_images
    assert band.barrier_forward_eV == pytest.approx(max(band.energies_eV) - band.energies_eV[0], abs=1e-12)
    assert band.hop_distance_A == pytest.approx(1.894, abs=0.01)  # the 48h-48h doublet distance


class _LiGaussians(LammpsCalculator):
    """The frozen-framework stand-in plus a Gaussian of `height_eV` and `width_A` on given sites for every Li:
    a bump (the default, 3 eV, 0.4 Å) makes those sites no minima, a negative height puts a well there."""

    def __init__(self, sites, height_eV: float = 3.0, width_A: float = 0.4):
        super().__init__(FROZEN_FRAMEWORK_STANDIN)
        self.sites, self.height_eV, self.width_A = np.atleast_2d(sites), height_eV, width_A

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        from ase.calculators.calculator import all_changes

        super().calculate(atoms, properties, system_changes or all_changes)
        li = np.flatnonzero(np.array(self.atoms.get_chemical_symbols()) == "Li")
        energy, forces = self.results["energy"], self.results["forces"].copy()
        for c in self.sites:
            d = self.atoms.positions[li] - c
            d -= np.round(np.linalg.solve(self.atoms.cell.array.T, d.T).T) @ self.atoms.cell.array
            g = self.height_eV * np.exp(-(d ** 2).sum(1) / (2 * self.width_A ** 2))
            energy += g.sum()
            forces[li] += g[:, None] * d / self.width_A ** 2
        self.results.update(energy=energy, free_energy=energy, forces=forces)


def test_collapsed_endpoints_are_rechosen(tmp_path, monkeypatch):
    """The built doublet target made a non-minimum: its Li slides back, so the hop is re-chosen (another pair
    of the class) and the band runs between two distinct minima; with one candidate allowed the hop is
    reported absent, in the CSV too."""
    from lmpflow.workflows import barriers

    atoms = li6ps5cl()
    first = hop_candidates(atoms, ["doublet"])["doublet"][0]
    calc = _LiGaussians(first.target)
    results = li_migration_barriers(calc, hops=["doublet"], frozen_species=("P", "S", "Cl"), label="blocked",
                                    out_dir=tmp_path)
    r = results["doublet"]
    assert r.endpoints.startswith("re-chosen (candidate 2)") and "relaxed into one minimum" in r.endpoints, r.endpoints
    li = r.moving_atom
    assert np.linalg.norm(r.images[-1].positions[li] - r.images[0].positions[li]) > 0.5 * r.hop_distance_A
    assert r.converged and r.saddle_found
    assert read_neb_barriers(tmp_path / "neb_barriers.csv")[0]["endpoints"] == r.endpoints

    monkeypatch.setattr(barriers, "MAX_CANDIDATES", 1)
    with pytest.warns(UserWarning, match="no doublet hop: no candidate pair has two distinct minima"):
        results = li_migration_barriers(calc, hops=["doublet"], frozen_species=("P", "S", "Cl"), label="blocked",
                                        out_dir=tmp_path / "one")
    assert results == {}
    (row,) = read_neb_barriers(tmp_path / "one" / "neb_barriers.csv")
    assert row["hop"] == "doublet" and np.isnan(row["barrier_forward_eV"]) and row["endpoints"].startswith("none:")
    calc.close()


def test_intermediate_minimum_is_a_dip_below_both_ends():
    assert intermediate_minimum([0.0, -0.15, -0.1, 0.12]) == 1
    assert intermediate_minimum([0.0, -0.1, 0.2, -0.3, -0.05]) == 3  # the lowest dip
    assert intermediate_minimum([0.0, -0.01, 0.3, 0.1]) is None  # relaxation noise next to an end
    assert intermediate_minimum([0.0, 0.3, 0.05, 0.3, 0.0]) is None  # a metastable site above both ends
    assert intermediate_minimum([0.0, -0.05, 0.1, -0.5]) is None  # above the lower end: a saddle lies between


def test_band_through_a_lower_minimum_is_split_at_it(tmp_path):
    """A 0.5 eV Li well a third of the way along the built doublet hop, too far from the initial site for its
    relaxation to find: the band dips into it, so it is not climbed (a climbing image has no saddle to find
    between ends that are not adjacent minima), and the hop runs from the well's minimum instead."""
    atoms = li6ps5cl()
    hop = hop_candidates(atoms, ["doublet"])["doublet"][0]
    start = atoms.positions[hop.li_index]
    well = start + 0.35 * (hop.target - start)
    calc = _LiGaussians(well, height_eV=-0.5, width_A=0.15)
    plain = li_migration_barriers(FROZEN_FRAMEWORK_STANDIN, hops=["doublet"], frozen_species=("P", "S", "Cl"))
    initial, final = hop_endpoints(atoms, hop)
    initial.set_constraint(FixAtoms(np.flatnonzero(np.array(initial.get_chemical_symbols()) != "Li")))
    band = run_neb(initial, final, calc)
    assert band.intermediate_minimum is not None and not band.converged
    assert band.energies_eV[band.intermediate_minimum] < min(band.energies_eV[0], band.energies_eV[-1]) - 0.2

    r = li_migration_barriers(calc, hops=["doublet"], frozen_species=("P", "S", "Cl"), out_dir=tmp_path)["doublet"]
    assert "initial endpoint replaced by a minimum" in r.endpoints and r.intermediate_minimum is None, r.endpoints
    assert np.linalg.norm(r.images[0].positions[hop.li_index] - well) < 0.05  # the hop starts in the well
    assert r.converged and r.saddle_found
    # the same saddle (the well is nearly spent there), climbed from the well's minimum
    depth = plain["doublet"].energies_eV[0] - r.energies_eV[0]
    assert depth > 0.2 and r.barrier_forward_eV == pytest.approx(plain["doublet"].barrier_forward_eV + depth, abs=0.05)
    assert read_neb_barriers(tmp_path / "neb_barriers.csv")[0]["endpoints"] == r.endpoints
    calc.close()


def test_vacancy_candidates_follow_the_empty_ones():

    for name, candidates in hop_candidates(li6ps5cl()).items():
        mechanisms = [h.mechanism for h in candidates]
        # one Li per doublet: no doublet joins two occupied sites; the cage hops have vacancy variants
        assert mechanisms[0] == "empty-48h" and ("vacancy" in mechanisms) == (name != "doublet"), name
        assert mechanisms == sorted(mechanisms, key=lambda m: m == "vacancy"), name  # empty targets first
        assert len({round(h.distance_A, 2) for h in candidates}) == 1, name  # one distance class
        hop = find_canonical_hops(li6ps5cl())[name]
        assert hop.li_index == candidates[0].li_index and np.allclose(hop.target, candidates[0].target)


@pytest.mark.slow
@pytest.mark.skipif(__import__("lmpflow.lammps.runtime", fromlist=["x"]).plugin_path() is None
                    and not __import__("os").environ.get("CI"), reason="lmpflow plugin not built")
def test_shipped_model_hop_whose_built_endpoints_collapse(tmp_path):
    """On the default model the built intra-cage endpoints relax into one minimum (0.29 Å apart): that is
    detected, and what comes back is a band between two distinct minima with a saddle, or the hop named absent."""
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")
        results = li_migration_barriers("nequip-chgnet-pbe", hops=["intra-cage"], label="default", out_dir=tmp_path)
    (row,) = read_neb_barriers(tmp_path / "neb_barriers.csv")
    print(row["endpoints"])
    assert "Li 0 empty-48h 2.23 A hop: endpoints relaxed into one minimum" in row["endpoints"]
    if "intra-cage" in results:
        r = results["intra-cage"]
        assert r.saddle_found and row["endpoints"].startswith("re-chosen")
        li = r.moving_atom
        assert np.linalg.norm(r.images[-1].positions[li] - r.images[0].positions[li]) > 0.5 * r.hop_distance_A
    else:
        assert row["endpoints"].startswith("none:") and np.isnan(row["barrier_forward_eV"])


def test_barriers_against_reference_on_the_same_endpoints(tmp_path):
    """The model against itself as an ASE calculator: same endpoints, zero difference; against a reference on
    which the model's doublet target is no minimum: the reference re-chooses and says so; against a deeper
    Li well: a larger barrier, reported as a negative difference."""
    from lmpflow.workflows.barriers import barriers_against_reference

    kw = dict(hops=["doublet"], frozen_species=("P", "S", "Cl"), label="model")
    same = LammpsCalculator(FROZEN_FRAMEWORK_STANDIN)
    (row,) = barriers_against_reference(FROZEN_FRAMEWORK_STANDIN, same, reference_label="itself",
                                        out_dir=tmp_path, **kw)
    assert row["same_endpoints"] and row["hop"] == "doublet"
    assert row["difference_eV"] == pytest.approx(0.0, abs=1e-6)
    assert row["model_barrier_forward_eV"] > 0.05
    assert read_neb_barriers(tmp_path / "itself" / "neb_barriers.csv")[0]["barrier_forward_eV"] == pytest.approx(
        row["reference_barrier_forward_eV"])
    with open(tmp_path / "neb_comparison.csv") as fh:
        assert fh.readline().strip().split(",")[:4] == ["hop", "model_barrier_forward_eV",
                                                         "reference_barrier_forward_eV", "difference_eV"]
    same.close()


    blocked = _LiGaussians(hop_candidates(li6ps5cl(), ["doublet"])["doublet"][0].target)
    (row,) = barriers_against_reference(FROZEN_FRAMEWORK_STANDIN, blocked, **kw)
    assert not row["same_endpoints"] and row["reference_endpoints"].startswith("re-chosen (candidate 2)")
    assert row["model_endpoints"].startswith("Li ") and np.isfinite(row["difference_eV"])
    blocked.close()

    deeper = LammpsCalculator([line.replace("morse 0.30 2.0", "morse 0.45 2.0") for line in FROZEN_FRAMEWORK_STANDIN])
    (row,) = barriers_against_reference(FROZEN_FRAMEWORK_STANDIN, deeper, **kw)
    assert row["same_endpoints"] and row["difference_eV"] < -0.02
    deeper.close()
    with pytest.raises(ValueError, match="label source"):
        barriers_against_reference(FROZEN_FRAMEWORK_STANDIN, "dft-pbe", **kw)
