"""Default factor labels of models for the architecture × functional comparison."""
from __future__ import annotations

from conftest import morse_standin_lines

from lmpflow.potentials.potential import Potential
from lmpflow.potentials.registry import find_model
from lmpflow.workflows.compare import model_factors


def test_default_factors_come_from_the_model_sidecar():
    assert model_factors("nequip-chgnet-pbe") == {"arch": "nequip", "xc": "PBE"}
    assert model_factors(find_model("allegro-chgnet-pbe")) == {"arch": "allegro", "xc": "PBE"}
    assert model_factors("mace-chgnet-pbe") == {"arch": "mace", "xc": "PBE"}
    r2scan = find_model("nequip-chgnet-r2scan")
    assert model_factors(r2scan) == {"arch": "nequip", "xc": r2scan.metadata["functional"]}
    # without a functional the label source stands for it
    spec = find_model("nequip-chgnet-pbe")
    bare = type(spec)(spec.path, spec.label, spec.arch, "", spec.label_source,
                      {k: v for k, v in spec.metadata.items() if k != "functional"})
    assert model_factors(bare)["xc"] == spec.metadata["label_source"] == "chgnet-pbe"


def test_default_factors_of_potentials_without_sidecar(tmp_path):
    pot = Potential.classical(morse_standin_lines(), label="morse", functional="toy")
    assert model_factors(pot) == {"arch": "classical", "xc": "toy"}
    f = tmp_path / "morse.lmp"
    f.write_text("\n".join(morse_standin_lines()) + "\n")
    assert model_factors(str(f), Potential.classical(morse_standin_lines())) == {"arch": "classical",
                                                                                 "xc": "unknown"}
