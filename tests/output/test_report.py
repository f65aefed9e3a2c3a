"""Model-comparison report on synthetic sweep tables, exact statistics and exact model disagreement."""
import base64
import math
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones
from scipy import stats

from lmpflow.analysis.comparison import pairwise_differences
from lmpflow.output.report import write_report
from lmpflow.workflows.compare import model_disagreement
from sweep_tables import MODELS, adaptive_tables, synthetic_tables


def test_pairwise_statistics_are_exact():
    pw = pairwise_differences(synthetic_tables())
    ea = pw[(pw.quantity == "Ea_eV") & (pw.label_a == "allegro-pbe") & (pw.label_b == "allegro-hse")].iloc[0]
    err = math.sqrt(2) * 0.01
    assert ea["diff"] == pytest.approx(-0.07) and ea["diff_err"] == pytest.approx(err)
    dof = err ** 4 / (2 * 0.01 ** 4 / 2)  # Welch-Satterthwaite with nu = 4 - 2 = 2 per fit -> 4
    assert ea["dof"] == pytest.approx(dof)
    assert ea["p_value"] == pytest.approx(2 * stats.t.sf(0.07 / err, dof)) and ea["significant"]
    near = pw[(pw.quantity == "Ea_eV") & (pw.label_a == "allegro-pbe") & (pw.label_b == "nequip-pbe")].iloc[0]
    assert not near["significant"] and near["p_value"] > 0.5  # 2 meV apart with 14 meV uncertainty
    # D at 600 K: Welch t with n_runs - 1 per side
    d = pw[(pw.quantity == "D_cm2_s") & (pw.T_K == 600.0) & (pw.label_a == "allegro-pbe")
           & (pw.label_b == "allegro-hse")].iloc[0]
    assert d["dof"] == pytest.approx((d["diff_err"] ** 4) / sum(
        (s ** 4) / 19 for s in (0.05 * d["value_a"], 0.05 * d["value_b"])))
    assert d["significant"]
    # sigma(300 K): CI [x/2, 2x] at 95 % with nu=2 -> sem of log10 = log10(4) / (2 t_0.975,2)
    s = pw[(pw.quantity == "log10_sigma300") & (pw.label_a == "allegro-pbe")
           & (pw.label_b == "nequip-pbe")].iloc[0]
    sem = math.log10(4) / (2 * stats.t.ppf(0.975, 2))
    assert s["diff_err"] == pytest.approx(math.sqrt(2) * sem)


def test_single_trajectory_uses_z_test():
    pw = pairwise_differences(synthetic_tables(n_runs=1))
    d = pw[pw.quantity == "D_cm2_s"].iloc[0]
    assert d["test"] == "z"
    assert d["p_value"] == pytest.approx(2 * stats.norm.sf(abs(d["statistic"])))


def test_model_disagreement_is_exact_for_scaled_lennard_jones():
    """LJ with epsilon and 1.2*epsilon: forces scale exactly, so every spread measure is known in closed form."""
    frames = []
    for seed in range(3):
        at = bulk("Ar", "fcc", a=5.3, cubic=True).repeat(2)
        at.rattle(0.15, seed=seed)
        frames.append(at)
    lj_a = LennardJones(sigma=3.4, epsilon=0.0104, rc=8.0)
    lj_b = LennardJones(sigma=3.4, epsilon=1.2 * 0.0104, rc=8.0)
    res = model_disagreement({"a": lj_a, "b": lj_b}, frames)
    fa, ea = [], []
    for at in frames:
        x = at.copy()
        x.calc = lj_a
        fa.append(x.get_forces())
        ea.append(x.get_potential_energy() / len(x))
    fa = np.concatenate(fa)
    norms = np.linalg.norm(fa, axis=1)
    # two models, F_b = 1.2 F_a: deviation from the mean is 0.1 |F_a| for each model
    assert res["force_std_mean_eV_A"] == pytest.approx(0.1 * norms.mean(), rel=1e-10)
    assert res["force_std_max_eV_A"] == pytest.approx(0.1 * norms.max(), rel=1e-10)
    assert res["energy_std_per_atom_eV"] == pytest.approx(0.1 * np.mean(np.abs(ea)), rel=1e-10)
    pair = res["pairs"]["a vs b"]
    assert pair["rms_force_diff_eV_A"] == pytest.approx(0.2 * np.sqrt((fa ** 2).mean()), rel=1e-10)
    assert pair["energy_diff_per_atom_eV"] == pytest.approx(-0.2 * np.mean(ea), rel=1e-10)


def test_lammps_pair_lines_agree_with_same_ase_potential():
    """The same LJ through LAMMPS (pair lines) and through ASE: disagreement must vanish."""
    at = bulk("Ar", "fcc", a=5.3, cubic=True).repeat(2)
    at.rattle(0.1, seed=4)
    res = model_disagreement({"lammps": ["pair_style lj/cut 8.0", "pair_coeff * * 0.0104 3.4",
                                         "pair_modify shift yes"],
                              "ase": LennardJones(sigma=3.4, epsilon=0.0104, rc=8.0)}, [at], species=("Ar",))
    assert res["force_std_max_eV_A"] < 1e-9 and res["energy_std_per_atom_eV"] < 1e-12
    with pytest.raises(ValueError, match="at least two"):
        model_disagreement({"one": LennardJones()}, [at])


def test_write_report(tmp_path):
    tables = synthetic_tables()
    neb = pd.DataFrame([dict(label=l, hop=h, hop_distance_A=dist, barrier_forward_eV=b + off,
                             barrier_backward_eV=b + off - 0.01, converged=True)
                        for l, off in zip(MODELS, (0.0, 0.05, 0.002))
                        for h, dist, b in (("doublet", 1.89, 0.1), ("intra-cage", 2.23, 0.2),
                                           ("inter-cage", 2.84, 0.3))])
    ens = {"labels": list(MODELS), "n_frames": 3, "n_atoms": 156, "force_std_mean_eV_A": 0.05,
           "force_std_max_eV_A": 0.3, "energy_std_per_atom_eV": 0.002,
           "pairs": {"allegro-pbe vs allegro-hse": {"label_a": "allegro-pbe", "label_b": "allegro-hse",
                                                    "rms_force_diff_eV_A": 0.07, "energy_diff_per_atom_eV": 0.01,
                                                    "energy_diff_per_atom_std_eV": 0.001}}}
    md = write_report(tables, neb, ens, tmp_path / "rep", html=True)
    text = md.read_text()
    for label in MODELS:
        assert label in text
    assert "0.320" in text and "Welch t" in text and "significant" in text
    assert "inter-cage" in text and "0.050" in text  # barrier difference allegro-pbe − allegro-hse = −0.05
    assert "RMS force diff" in text
    for png in ("arrhenius_compare.png", "neb_barriers.png"):
        assert (tmp_path / "rep" / png).stat().st_size > 10000
        assert f"]({png})" in text
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "<table>" in html and "src='data:image/png;base64," in html and "arrhenius_compare.png'" not in html
    pw = pd.read_csv(tmp_path / "rep" / "pairwise.csv")
    assert set(pw.quantity) == {"Ea_eV", "log10_sigma300", "D_cm2_s"}


class _Page(HTMLParser):
    """What a browser would need: headings, images (src), tables (rows × cells) and their CSV links."""

    def __init__(self):
        super().__init__()
        self.headings, self.images, self.tables, self.csv_links, self._cell = [], [], [], [], None
        self._in_h = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("h1", "h2"):
            self._in_h = True
            self.headings.append("")
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "a" and a.get("href", "").endswith(".csv"):
            self.csv_links.append(a["href"])

    def handle_endtag(self, tag):
        if tag in ("h1", "h2"):
            self._in_h = False
        elif tag in ("td", "th"):
            self.tables[-1][-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._in_h:
            self.headings[-1] += data
        if self._cell is not None:
            self._cell += data


def _full_report(out: Path) -> Path:
    tables = synthetic_tables()
    tables["adaptive"], tables["adaptive_looks"] = adaptive_tables(tables["summary"])
    neb = pd.DataFrame([dict(label=l, hop="doublet", hop_distance_A=1.9, barrier_forward_eV=0.1 + i / 50,
                             barrier_backward_eV=0.1, converged=True) for i, l in enumerate(MODELS)])
    write_report(tables, neb, None, out)
    return out / "report.html"


def test_report_html_is_self_contained_and_its_tables_are_csv(tmp_path):
    page = _Page()
    html = _full_report(tmp_path / "rep")
    page.feed(html.read_text())
    assert page.headings[:5] == ["lmpflow model comparison", "Models and transport", "Trajectories per point",
                                 "Architecture × functional", "Pairwise differences (a − b)"]
    # every figure is embedded: a PNG inside the page itself
    assert len(page.images) == 3
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # every table has its CSV beside the page, with the same rows
    assert len(page.csv_links) == len(page.tables) >= 7
    for table, name in zip(page.tables, page.csv_links):
        csv = pd.read_csv(html.parent / name)
        assert len(csv) == len(table) - 1, name  # minus the header row
        assert all(len(row) == len(table[0]) for row in table), name


def test_report_renders_in_a_headless_browser(tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium (apt-get install -y chromium); the page is still parsed by the test above")
    from PIL import Image

    alone = tmp_path / "alone"  # only the page: a file it referenced would be missing and show as broken
    alone.mkdir()
    shutil.copy(_full_report(tmp_path / "rep"), alone / "report.html")
    shot = tmp_path / "shot.png"
    r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1000,1600",
                        f"--screenshot={shot}", (alone / "report.html").as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert shot.is_file(), r.stderr[-2000:]
    img = np.asarray(Image.open(shot).convert("RGB")).astype(float)
    assert img.shape[:2] == (1600, 1000)
    ink = (img.min(axis=2) < 200).mean()  # text, table lines and plots
    saturation = img.max(axis=2) - img.min(axis=2)
    coloured = (saturation > 80).mean()  # the plots' coloured lines and markers (text and tables are grey)
    assert ink > 0.03 and coloured > 0.002, (ink, coloured)


def test_report_answers_the_factorial_question_and_counts_trajectories(tmp_path):
    md = _full_report(tmp_path / "rep").with_name("report.md").read_text()
    assert "The sweep was adaptive" in md and "![Relative error of D" in md
    assert "Ea (eV): arch effect / xc effect = " in md
    assert "the xc effect is significant, the arch effect is not" in md  # 2 meV vs 70 meV, errors 10 meV
    blocks = [b.splitlines() for b in md.split("\n\n") if b.startswith("|")]
    assert len(blocks) >= 7 and all(len({ln.count("|") for ln in b}) == 1 for b in blocks)  # no cell spills over
    traj = pd.read_csv(tmp_path / "rep" / "trajectories.csv")
    assert (traj["n"] == 20).all() and (traj["needed_for_target"] == 20).all()  # 5 % reached with 20
    eff = pd.read_csv(tmp_path / "rep" / "factorial_effects.csv")
    assert len(eff) == 2 * (1 + 4 + 1)  # (arch, xc) × (Ea, ln D at 4 T, ln σ(300 K))
    ea = eff[eff["quantity"] == "Ea_eV"].set_index("factor")
    assert ea.loc["xc", "effect"] == pytest.approx(0.07) and ea.loc["arch", "effect"] == pytest.approx(0.002)
    assert (tmp_path / "rep" / "error_vs_trajectories.png").stat().st_size > 10000
    assert pd.read_csv(tmp_path / "rep" / "factors.csv").set_index("model").loc["nequip-pbe", "arch"] == "nequip"


def test_write_report_reads_sweep_dirs(tmp_path):
    tables = synthetic_tables()
    for name, df in tables.items():
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    md = write_report(tmp_path, None, None, tmp_path / "out")
    assert "allegro-hse" in md.read_text()
    with pytest.raises(FileNotFoundError, match="not an analysed sweep"):
        write_report(tmp_path / "out", None, None, tmp_path / "out2")


def test_compare_models_end_to_end(tmp_path):
    """Two classical stand-ins through the real sweep, NEB and disagreement code, into one report."""
    from conftest import morse_standin_lines

    from lmpflow.potentials.potential import Potential
    from lmpflow.system.structures import SPECIES
    from lmpflow.workflows.compare import compare_models

    pots = [Potential.classical(morse_standin_lines(w), SPECIES, label=f"morse-{w:.2f}", functional=f)
            for w, f in ((0.20, "A"), (0.26, "B"))]
    md = compare_models(pots, [700, 900], 2, tmp_path, hops=("doublet",), n_frames=3,
                        sweep_kwargs=dict(steps=1000, eq_steps=200, dump_every=20, progress=False, workers=1))
    text = md.read_text()
    assert "morse-0.20" in text and "morse-0.26" in text and "doublet" in text
    assert "RMS force diff" in text and (tmp_path / "report.html").exists()
    # factor labels default to the potentials' own: both classical, functionals A and B
    fac = pd.read_csv(tmp_path / "factors.csv").set_index("model")
    assert list(fac["arch"]) == ["classical", "classical"] and list(fac["xc"]) == ["A", "B"]
    assert set(pd.read_csv(tmp_path / "factorial_effects.csv")["factor"]) == {"xc"}
    neb = pd.read_csv(tmp_path / "neb" / "morse-0.26" / "neb_barriers.csv")
    assert neb.loc[0, "hop"] == "doublet" and neb.loc[0, "converged"]
    dis = __import__("json").loads((tmp_path / "disagreement.json").read_text())
    # the two stand-ins differ only in the Li-anion wells: they disagree, but by less than the forces themselves
    assert 0.0 < dis["force_std_mean_eV_A"] < 1.0 and dis["n_frames"] == 3


@pytest.mark.slow
def test_model_disagreement_of_shipped_ml_test_models():
    """Two real (tiny, shipped) NequIP/Allegro models through nequip's ASE calculator on shared frames."""
    pytest.importorskip("nequip")
    from lmpflow.potentials.nequip import ase_calculator
    from lmpflow.potentials.registry import find_model
    from lmpflow.system.structures import li6ps5cl

    calcs = {lab: ase_calculator(find_model(lab, test=True).path)
             for lab in ("nequip-float64-test", "allegro-float64-test")}
    frames = []
    for seed in range(2):
        at = li6ps5cl()
        at.rattle(0.05, seed=seed)
        frames.append(at)
    res = model_disagreement(calcs, frames)
    pair = res["pairs"]["nequip-float64-test vs allegro-float64-test"]
    assert res["force_std_mean_eV_A"] > 1e-4 and np.isfinite(res["force_std_max_eV_A"])
    # two models: per-frame energy spread is half the |difference|, exactly
    e = np.array(res["energies_per_atom_eV"])
    assert res["energy_std_per_atom_eV"] == pytest.approx(np.mean(np.abs(e[0] - e[1])) / 2, rel=1e-12)
    assert pair["energy_diff_per_atom_eV"] == pytest.approx(np.mean(e[0] - e[1]), rel=1e-12)
    # and s_i = |F_a - F_b| / 2 per atom, so the mean spread cannot exceed sqrt(3)/2 x the RMS difference
    assert res["force_std_mean_eV_A"] <= np.sqrt(3) / 2 * pair["rms_force_diff_eV_A"] + 1e-12
