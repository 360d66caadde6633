"""Connecting: strict host keys, scanning them, public key login, unreachable hosts.

Against private sshd servers (the tests marked ``testbed``); every refused connection must leave
nothing run on the host.
"""

from __future__ import annotations

import base64
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rosetta_core.errors import AuthenticationFailed, BackendUnavailable, HostKeyError
from rosetta_core.kernel import Kernel
from rosetta_core.model import ComputingAccount, HostKey
from rosetta_core.users import create_user
from rosetta_ssh.connection import SCAN_ALGORITHMS, host_key_algorithms, scan_host_keys
from rosetta_ssh.factory import SSHExecutorFactory
from rosetta_ssh.options import SSHOptions
from rosetta_ssh.target import SSHTarget
from rosetta_ssh.testing import PrivateSSHD, SSHRemote, free_port, make_remote, ssh_computing

TESTBED = pytest.mark.testbed


def random_key(computing: str = "remote") -> HostKey:
    """A well-formed ed25519 host key no server has."""
    raw = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + os.urandom(32)).decode()
    return HostKey(computing=computing, key_type="ssh-ed25519", key=raw)


def ssh_factory(kernel: Kernel) -> SSHExecutorFactory:
    factory = kernel.executors.get("ssh")
    assert isinstance(factory, SSHExecutorFactory)
    return factory


@pytest.fixture
def untrusted(make_kernel: Callable[..., Kernel], running_sshd: PrivateSSHD) -> SSHRemote:
    return make_remote(make_kernel(), running_sshd, trust=False)


@pytest.fixture
def marker(workdir: str) -> Path:
    return Path(workdir) / "ran"


@pytest.fixture(scope="module")
def many_keys_sshd(tbuser: str) -> Iterator[PrivateSSHD]:
    with PrivateSSHD(tbuser, key_types=("ed25519", "ecdsa", "rsa")) as server:
        yield server


@TESTBED
def test_unknown_host_key_is_refused_with_its_fingerprint(
    untrusted: SSHRemote, running_sshd: PrivateSSHD, marker: Path
) -> None:
    executor = untrusted.executor()
    with pytest.raises(HostKeyError) as caught:
        executor.run(["touch", str(marker)])
    message = str(caught.value)
    assert f"ssh-ed25519 {running_sshd.fingerprint()}" in message
    assert "unknown host key" in message
    assert "run: rosetta computing trust remote" in message
    assert not marker.exists()
    assert not executor.connected


@TESTBED
def test_changed_host_key_is_refused(untrusted: SSHRemote, running_sshd: PrivateSSHD, marker: Path) -> None:
    other = random_key()
    untrusted.kernel.store.trust_host_keys("remote", [other])
    with pytest.raises(HostKeyError) as caught:
        untrusted.executor().run(["touch", str(marker)])
    message = str(caught.value)
    assert running_sshd.fingerprint() in message and other.fingerprint in message
    assert "rosetta computing trust remote" in message
    assert not marker.exists()


@TESTBED
def test_trusted_type_the_server_lacks_is_refused(untrusted: SSHRemote, marker: Path) -> None:
    blob = base64.b64encode(b"\x00\x00\x00\x13ecdsa-sha2-nistp256" + os.urandom(40)).decode()
    untrusted.kernel.store.trust_host_keys(
        "remote", [HostKey(computing="remote", key_type="ecdsa-sha2-nistp256", key=blob)]
    )
    with pytest.raises(HostKeyError, match="offers no host key of the trusted types"):
        untrusted.executor().run(["touch", str(marker)])
    assert not marker.exists()


@TESTBED
def test_put_file_is_refused_too(untrusted: SSHRemote, marker: Path) -> None:
    with pytest.raises(HostKeyError):
        untrusted.executor().put_file(str(marker), b"x")
    assert not marker.exists()


@TESTBED
def test_scanned_keys_once_trusted_let_commands_run(untrusted: SSHRemote, running_sshd: PrivateSSHD) -> None:
    keys = ssh_factory(untrusted.kernel).scan_host_keys(untrusted.computing)
    assert [(k.key_type, k.key) for k in keys] == [
        (k.key_type, k.key) for k in running_sshd.host_keys("remote")
    ]
    untrusted.kernel.store.trust_host_keys("remote", keys)
    assert untrusted.executor().run(["echo", "ok"]).stdout == "ok\n"


@TESTBED
def test_scan_finds_every_key_type(many_keys_sshd: PrivateSSHD) -> None:
    target = SSHTarget(computing="many", host=many_keys_sshd.host, port=many_keys_sshd.port)
    keys = scan_host_keys(target, SSHOptions())
    assert {(k.key_type, k.key) for k in keys} == {
        (k.key_type, k.key) for k in many_keys_sshd.host_keys("many")
    }
    assert {k.key_type for k in keys} == {"ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"}


@TESTBED
@pytest.mark.parametrize("key_type", ["ssh-rsa", "ecdsa-sha2-nistp256", "ssh-ed25519"])
def test_the_server_presents_the_trusted_type(
    make_kernel: Callable[..., Kernel], many_keys_sshd: PrivateSSHD, key_type: str
) -> None:
    remote = make_remote(make_kernel(), many_keys_sshd, trust=False)
    chosen = [k for k in many_keys_sshd.host_keys("remote") if k.key_type == key_type]
    remote.kernel.store.trust_host_keys("remote", chosen)
    executor = remote.executor()
    assert executor.run(["true"]).ok
    assert executor.transport().get_remote_server_key().get_name() == key_type


@TESTBED
def test_wrong_user_key_fails_authentication(remote: SSHRemote, running_sshd: PrivateSSHD) -> None:
    create_user(remote.kernel, "mallory")
    remote.kernel.store.set_account(
        ComputingAccount(owner="mallory", computing="remote", account=remote.account)
    )
    with pytest.raises(AuthenticationFailed) as caught:
        remote.executor("mallory").run(["true"])
    message = str(caught.value)
    assert "'remote'" in message and repr(remote.account) in message
    assert "Traceback" not in message


def test_refused_port_is_unavailable(make_kernel: Callable[..., Kernel]) -> None:
    kernel = make_kernel(connect_timeout=2)
    port = free_port()
    computing = kernel.store.add(ssh_computing(port))
    create_user(kernel, "alice")
    kernel.store.trust_host_keys("remote", [random_key()])
    with pytest.raises(BackendUnavailable) as caught:
        kernel.executor_for(computing, "alice").run(["true"])
    assert f"'remote' (127.0.0.1:{port})" in str(caught.value)
    with pytest.raises(BackendUnavailable):
        ssh_factory(kernel).scan_host_keys(computing)


def test_silent_server_times_out_as_unavailable() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts, never speaks SSH
        target = SSHTarget(computing="mute", host="127.0.0.1", port=listener.getsockname()[1])
        with pytest.raises(BackendUnavailable, match=r"'mute'.*(did not finish|protocol banner)"):
            scan_host_keys(target, SSHOptions(connect_timeout=0.5))


def test_host_key_algorithms_follow_the_trusted_types() -> None:
    assert host_key_algorithms(["ssh-rsa"]) == ("rsa-sha2-512", "rsa-sha2-256")
    assert host_key_algorithms(["ssh-ed25519", "sk-ssh-ed25519@openssh.com"]) == ("ssh-ed25519",)
    assert set(host_key_algorithms(["ssh-ed25519", "ssh-rsa"])) >= {"ssh-ed25519", "rsa-sha2-512"}
    assert "rsa-sha2-512" in SCAN_ALGORITHMS and "ssh-rsa" not in SCAN_ALGORITHMS
