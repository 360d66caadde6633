"""The plugin's hooks: what it registers, the key pair of a new user, closing at shutdown."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import rosetta_ssh.keys
import rosetta_ssh.plugin
from rosetta_core.kernel import Kernel
from rosetta_core.model import KeyPair, User
from rosetta_core.users import create_user
from rosetta_ssh.factory import SSHExecutorFactory
from rosetta_ssh.options import SSHOptions


@pytest.fixture
def kernel(rosetta_kernel_factory: Callable[..., Kernel]) -> Kernel:
    return rosetta_kernel_factory({"ssh": rosetta_ssh.plugin}, plugin_options={"ssh": {"keepalive": 5}})


def test_registers_the_executor_tunnel_migrations_and_options(kernel: Kernel) -> None:
    assert kernel.plugin_registrations("ssh") == {
        "executors": ["ssh"],
        "tunnels": ["ssh-forward"],
        "migrations": ["ssh"],
        "options": ["SSHOptions"],
    }
    factory = kernel.executors.get("ssh")
    assert isinstance(factory, SSHExecutorFactory)
    assert callable(factory) and callable(factory.scan_host_keys)
    assert factory.options is kernel.options(SSHOptions) and factory.options.keepalive == 5.0


def test_entry_point_is_installed() -> None:
    found = [ep for ep in entry_points(group="rosetta") if ep.name == "ssh"]
    assert [ep.value for ep in found] == ["rosetta_ssh.plugin"]
    assert found[0].load() is rosetta_ssh.plugin


def test_user_creation_makes_the_key_pair(kernel: Kernel) -> None:
    create_user(kernel, "alice")
    [pair] = kernel.store.all(KeyPair)
    assert pair.owner == "alice" and Path(pair.private_key_path).exists()


def test_a_failing_key_pair_undoes_the_user(kernel: Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(rosetta_ssh.keys, "generate_key_pair", refuse)
    with pytest.raises(OSError, match="disk full"):
        create_user(kernel, "alice")
    assert kernel.store.all(User) == [] and kernel.store.all(KeyPair) == []


def test_shutdown_without_connections_is_quiet(kernel: Kernel) -> None:
    kernel.close()


def test_loading_the_plugin_does_not_import_paramiko() -> None:
    # a kernel that never reaches an SSH resource does not pay paramiko's import at start-up
    import subprocess
    import sys

    code = "import sys, rosetta_ssh.plugin, rosetta_ssh; print('paramiko' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
