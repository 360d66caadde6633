"""The site configuration file."""

from __future__ import annotations

from pathlib import Path

import pytest

from rosetta_core.config import load_config, parse_config
from rosetta_core.errors import ConfigError


def test_embedded_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ROSETTA_CONFIG", raising=False)
    monkeypatch.setenv("ROSETTA_HOME", str(tmp_path))
    config = load_config()
    assert config.store_path == tmp_path / "rosetta.sqlite"
    assert config.is_enabled("anything")


def test_file_relative_store_and_sections(tmp_path: Path) -> None:
    file = tmp_path / "site.toml"
    file.write_text(
        '[rosetta]\nstore = "data/r.sqlite"\nreconcile_interval = 5\n'
        '[plugins]\ndisabled = ["docker"]\n[plugin.podman]\nbinary = "/usr/bin/podman"\n'
    )
    config = load_config(file)
    assert config.store_path == tmp_path / "data" / "r.sqlite"
    assert config.rosetta.reconcile_interval == 5.0
    assert not config.is_enabled("docker") and config.is_enabled("podman")
    assert config.plugin_section("podman") == {"binary": "/usr/bin/podman"}


def test_config_env_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text('[plugins]\nenabled = ["core"]\n')
    monkeypatch.setenv("ROSETTA_CONFIG", str(file))
    assert not load_config().is_enabled("podman")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[rosetta]\nstore = 3\n", r"\$\.rosetta\.store"),
        ("[rosetta]\nreconcile_interval = -1\n", r"\$\.rosetta\.reconcile_interval"),
        ("[rosetta]\ncolour = 1\n", r"\$\.rosetta\.colour: unknown field"),
        ('[plugins]\ndisabled = ["a;b"]\n', r"\$\.plugins\.disabled"),
        ("[server]\nport = 1\n", r"\$\.server: unknown section"),
        ("[plugin]\npodman = 3\n", r"\$\.plugin"),
        ("not toml = = =", "not valid TOML"),
        ("rosetta = 5\n", r"\$\.rosetta: must be a table"),
        ("plugins = 5\n", r"\$\.plugins: must be a table"),
        ('[rosetta]\nagent_bind = "everywhere"\n', r"\$\.rosetta\.agent_bind"),
        ('[rosetta]\nagent_callback_url = "file:///etc/passwd"\n', r"\$\.rosetta\.agent_callback_url"),
        ('[rosetta]\nagent_python = "python3; rm -rf /"\n', r"\$\.rosetta\.agent_python"),
        ('[rosetta]\nagent_listen = "everywhere:80"\n', r"\$\.rosetta\.agent_listen"),
        ('[rosetta]\nagent_listen = "127.0.0.1:99999"\n', r"\$\.rosetta\.agent_listen"),
    ],
)
def test_bad_config_names_the_path(tmp_path: Path, text: str, match: str) -> None:
    file = tmp_path / "c.toml"
    file.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(file)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_memory_store() -> None:
    assert str(parse_config({"rosetta": {"store": ":memory:"}}).store_path) == ":memory:"
