"""Registries remember who registered what."""

from __future__ import annotations

import pytest

from rosetta_core.errors import DuplicateNameError, PluginError, UnknownNameError
from rosetta_core.registry import Registry


def test_register_get_and_owner() -> None:
    reg: Registry[int] = Registry("engine")
    reg.register("b", 2, "p2")
    reg.register("a", 1, "p1")
    assert reg.get("a") == 1 and reg.owner("b") == "p2"
    assert reg.names() == ["a", "b"] and list(reg) == ["a", "b"] and len(reg) == 2
    assert "a" in reg and reg.by_plugin("p1") == ["a"]


def test_duplicate_names_both_plugins() -> None:
    reg: Registry[int] = Registry("engine")
    reg.register("podman", 1, "first")
    with pytest.raises(DuplicateNameError, match="'first' and 'second'"):
        reg.register("podman", 2, "second")


def test_unknown_lists_known() -> None:
    reg: Registry[int] = Registry("engine")
    reg.register("podman", 1, "p")
    with pytest.raises(UnknownNameError, match=r"known: podman"):
        reg.get("docker")


def test_reserved_and_invalid_names() -> None:
    reg: Registry[int] = Registry("workload manager", reserved=frozenset({"none"}))
    with pytest.raises(PluginError, match="reserved"):
        reg.register("none", 1, "p")
    with pytest.raises(PluginError, match="invalid name"):
        reg.register("a b", 1, "p")
