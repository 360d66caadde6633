"""Entry-point discovery, for real: installed distributions found through importlib.metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import install_fake_distribution
from rosetta_core.config import parse_config
from rosetta_core.errors import DuplicateNameError, PluginError
from rosetta_core.kernel import create_kernel
from rosetta_core.plugins import discover, plugin_name_of

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(TESTS))
    return site


def config(tmp_path: Path, **plugins: object) -> object:
    return parse_config(
        {"rosetta": {"store": str(tmp_path / "s.sqlite")}, "plugins": plugins}, base_dir=tmp_path
    )


def test_installed_plugin_is_discovered_and_loaded(site: Path, tmp_path: Path) -> None:
    install_fake_distribution(site, "rosetta-sleep", {"sleep": "sleep_engine"})
    assert "sleep" in [ep.name for ep in discover()]
    with create_kernel(config(tmp_path)) as kernel:
        info = {i.name: i for i in kernel.plugins}
        assert info["sleep"].distribution == "rosetta-sleep" and info["sleep"].version == "0.1"
        assert kernel.engines.owner("sleep") == "sleep"
        assert discover()[0].name == "core"


def test_disabled_plugin_is_not_even_imported(site: Path, tmp_path: Path) -> None:
    install_fake_distribution(site, "rosetta-broken", {"broken": "no_such_module_anywhere"})
    with create_kernel(config(tmp_path, disabled=["broken"])) as kernel:
        assert {i.name: i.enabled for i in kernel.plugins}["broken"] is False
    with pytest.raises(PluginError, match=r"'broken'.*cannot be imported"):
        create_kernel(config(tmp_path))


def test_misspelled_hook_in_an_installed_plugin(site: Path, tmp_path: Path) -> None:
    install_fake_distribution(site, "rosetta-typo", {"typo": "plugin_typo"})
    with pytest.raises(PluginError, match=r"'typo' implements an unknown hook.*rosetta_register_engine"):
        create_kernel(config(tmp_path))


def test_one_module_under_two_entry_point_names(site: Path, tmp_path: Path) -> None:
    install_fake_distribution(site, "rosetta-sleep", {"sleep": "sleep_engine"})
    install_fake_distribution(site, "rosetta-sleep-again", {"sleep2": "sleep_engine"})
    with pytest.raises(PluginError, match=r"'sleep2' cannot be registered: Plugin already registered"):
        create_kernel(config(tmp_path))


def test_duplicate_names_error_type(site: Path, tmp_path: Path) -> None:
    install_fake_distribution(site, "rosetta-a", {"first": "sleep_engine"})
    install_fake_distribution(site, "rosetta-b", {"second": "plugin_twin"})
    (site / "plugin_twin.py").write_text(
        "from rosetta_core import hookimpl\n"
        "@hookimpl\n"
        "def rosetta_register_engines(register):\n"
        "    register('sleep', object())\n"
    )
    with pytest.raises(DuplicateNameError) as info:
        create_kernel(config(tmp_path))
    assert {info.value.first, info.value.second} == {"first", "second"}


def test_plugin_name_of() -> None:
    import sleep_engine

    class Named:
        rosetta_plugin_name = "custom"

    assert plugin_name_of(sleep_engine) == "sleep_engine"
    assert plugin_name_of(Named()) == "custom"
    assert plugin_name_of(Named) == "custom"
    assert plugin_name_of(object()) == "object"
