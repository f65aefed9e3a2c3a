"""Every reader test runs with the compiled tokenizer and with the pandas fallback."""

import pytest

import lmpflow.trajectory.tokenizer as tokenizer_mod
from lmpflow.trajectory import native_parser_path


@pytest.fixture(autouse=True, params=["native", "pandas"])
def tokenizer(request, monkeypatch):
    """Every test runs with the compiled tokenizer and with the pandas fallback."""
    if request.param == "pandas":
        monkeypatch.setattr(tokenizer_mod, "_NATIVE_ENABLED", False)
        assert native_parser_path() is None
    else:
        monkeypatch.setattr(tokenizer_mod, "_NATIVE_ENABLED", True)
        if native_parser_path() is None:
            from lmpflow.lammps.runtime import plugin_path
            plugin = plugin_path()
            # An installed (compiled) lmpflow must ship the tokenizer next to the plugin.
            assert plugin is None, f"{plugin} is installed but liblmpflow_dump.so is not"
            pytest.skip("liblmpflow_dump.so not built (cmake --build build --target lmpflow_dump)")
    return request.param
