"""SSHOptions: defaults, and the site configuration values it refuses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rosetta_core.errors import ConfigError, ValidationError
from rosetta_core.kernel import Kernel
from rosetta_core.serde import structure
from rosetta_ssh.options import SSHOptions


def test_defaults() -> None:
    options = structure({}, SSHOptions)
    assert options == SSHOptions(
        connect_timeout=10.0, keepalive=15.0, idle_close=300.0, platform_key="", max_sessions=8
    )
    assert options.platform_key_path == ""


def test_whole_numbers_are_accepted_for_seconds() -> None:
    options = structure({"connect_timeout": 3, "keepalive": 0, "idle_close": 60}, SSHOptions)
    assert (options.connect_timeout, options.keepalive, options.idle_close) == (3.0, 0.0, 60.0)


def test_home_relative_platform_key_is_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    assert SSHOptions(platform_key="~/.ssh/id_ed25519").platform_key_path == "/home/someone/.ssh/id_ed25519"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("connect_timeout", 0),
        ("connect_timeout", -1),
        ("connect_timeout", 301),
        ("connect_timeout", True),
        ("connect_timeout", float("nan")),
        ("connect_timeout", "10"),
        ("keepalive", -1),
        ("keepalive", 3601),
        ("idle_close", 0),
        ("idle_close", float("inf")),
        ("platform_key", "relative/key"),
        ("platform_key", "/key\x00"),
        ("platform_key", 5),
        ("max_sessions", 0),
        ("max_sessions", 1001),
        ("max_sessions", 2.5),
        ("max_sessions", False),
        ("unknown_option", 1),
    ],
)
def test_nonsense_is_refused(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        structure({field: value}, SSHOptions)
    assert f"$.{field}" in str(caught.value)


def test_kernel_reports_the_path_of_a_bad_option(rosetta_kernel_factory: Callable[..., Kernel]) -> None:
    import rosetta_ssh.plugin

    with pytest.raises(ConfigError, match=r"\$\.plugin\.ssh\.idle_close"):
        rosetta_kernel_factory({"ssh": rosetta_ssh.plugin}, plugin_options={"ssh": {"idle_close": -5}})
