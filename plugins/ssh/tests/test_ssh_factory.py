"""The ``ssh`` executor factory: who logs in with which key, one executor per account and key."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from rosetta_core.errors import AccountRequired, AuthenticationFailed, ExecutorError
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, ComputingAccount, User
from rosetta_core.users import create_user
from rosetta_ssh.executor import SSHExecutor
from rosetta_ssh.factory import SSHExecutorFactory
from rosetta_ssh.keys import public_key_fingerprint, user_key_pair
from rosetta_ssh.testing import PrivateSSHD, ssh_computing

TESTBED = pytest.mark.testbed
PORT = 2200  # nothing connects in the tests that do not need a server


def write_platform_key(path: Path, password: bytes | None = None) -> str:
    """Write a new ed25519 key to ``path`` (mode 0600); return its public line."""
    key = ed25519.Ed25519PrivateKey.generate()
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption)
    )
    path.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return public.decode() + " platform"


def ssh_executor(kernel: Kernel, computing_name: str, owner: str | None) -> SSHExecutor:
    executor = kernel.executor_for(kernel.store.get(Computing, computing_name), owner)
    assert isinstance(executor, SSHExecutor)
    return executor


@pytest.fixture
def kernel(make_kernel: Callable[..., Kernel]) -> Kernel:
    kernel = make_kernel()
    kernel.store.add(ssh_computing(PORT, "c1"))
    return kernel


def test_user_logs_in_as_their_account_with_their_key(kernel: Kernel) -> None:
    create_user(kernel, "alice")
    kernel.store.set_account(ComputingAccount(owner="alice", computing="c1", account="alice_hpc"))
    executor = ssh_executor(kernel, "c1", "alice")
    pair = user_key_pair(kernel, "alice")
    assert pair is not None
    assert executor.login == "alice_hpc"
    assert executor.key_fingerprint == public_key_fingerprint(pair.public_key)
    assert (executor.target.host, executor.target.port) == ("127.0.0.1", PORT)
    assert not executor.connected  # nothing connects before the first use


def test_without_an_account_the_user_name_is_the_login(kernel: Kernel) -> None:
    create_user(kernel, "bob")
    assert ssh_executor(kernel, "c1", "bob").login == "bob"


def test_user_name_that_cannot_be_an_account_needs_one(kernel: Kernel) -> None:
    create_user(kernel, "Carol.X")
    with pytest.raises(AccountRequired, match="set the account"):
        ssh_executor(kernel, "c1", "Carol.X")


def test_same_executor_for_the_same_account_and_key(kernel: Kernel) -> None:
    create_user(kernel, "alice")
    create_user(kernel, "bob")
    factory = kernel.executors.get("ssh")
    assert isinstance(factory, SSHExecutorFactory)
    computing = kernel.store.get(Computing, "c1")
    first = factory(computing, "alice")
    assert factory(computing, "alice") is first
    assert factory(computing, "bob") is not first
    assert factory.executors() == [first, factory(computing, "bob")]


def test_no_owner_on_user_keys_requires_an_account(kernel: Kernel) -> None:
    with pytest.raises(AccountRequired, match="each user's own account"):
        ssh_executor(kernel, "c1", None)


def test_user_without_key_pair_is_told_so(kernel: Kernel) -> None:
    kernel.store.add(User(name="dave"))  # made without the hook: no key pair
    with pytest.raises(AuthenticationFailed, match="user 'dave' has no SSH key pair"):
        ssh_executor(kernel, "c1", "dave")


def test_invalid_computing_options_are_an_executor_error(kernel: Kernel) -> None:
    kernel.store.add(ssh_computing(PORT, "c2", auth="password"))
    with pytest.raises(ExecutorError, match="invalid SSH options: auth"):
        ssh_executor(kernel, "c2", "alice")


def test_platform_keys_need_the_option(kernel: Kernel) -> None:
    kernel.store.add(ssh_computing(PORT, "shared", auth="platform_keys", account="svc"))
    with pytest.raises(AuthenticationFailed, match="platform_key names no private key file"):
        ssh_executor(kernel, "shared", None)


def test_platform_key_readable_by_others_is_refused(
    make_kernel: Callable[..., Kernel], tmp_path: Path
) -> None:
    path = tmp_path / "platform_key"
    write_platform_key(path)
    path.chmod(0o644)
    kernel = make_kernel(platform_key=str(path))
    kernel.store.add(ssh_computing(PORT, "shared", auth="platform_keys", account="svc"))
    with pytest.raises(AuthenticationFailed, match="readable by others"):
        ssh_executor(kernel, "shared", None)


def test_platform_keys_share_one_executor(make_kernel: Callable[..., Kernel], tmp_path: Path) -> None:
    path = tmp_path / "platform_key"
    public = write_platform_key(path)
    kernel = make_kernel(platform_key=str(path))
    kernel.store.add(ssh_computing(PORT, "shared", auth="platform_keys", account="svc"))
    create_user(kernel, "alice")
    platform = ssh_executor(kernel, "shared", None)
    assert ssh_executor(kernel, "shared", "alice") is platform
    assert platform.login == "svc"
    assert platform.key_fingerprint == public_key_fingerprint(public)


def test_platform_key_encrypted_with_the_secret(make_kernel: Callable[..., Kernel], tmp_path: Path) -> None:
    path = tmp_path / "platform_key"
    kernel = make_kernel(platform_key=str(path))
    public = write_platform_key(path, kernel.secret.encode())
    kernel.store.add(ssh_computing(PORT, "shared", auth="platform_keys", account="svc"))
    assert ssh_executor(kernel, "shared", None).key_fingerprint == public_key_fingerprint(public)


def test_a_replaced_platform_key_is_read_again(make_kernel: Callable[..., Kernel], tmp_path: Path) -> None:
    path = tmp_path / "platform_key"
    write_platform_key(path)
    kernel = make_kernel(platform_key=str(path))
    kernel.store.add(ssh_computing(PORT, "shared", auth="platform_keys", account="svc"))
    factory = kernel.executors.get("ssh")
    assert isinstance(factory, SSHExecutorFactory)
    computing = kernel.store.get(Computing, "shared")
    first = factory(computing, None)
    public = write_platform_key(path)
    os.utime(path, ns=(1, 1))  # a different modification time, however fast the test runs
    second = factory(computing, None)
    assert second is not first and second.key_fingerprint == public_key_fingerprint(public)


@TESTBED
def test_platform_keys_log_in(
    make_kernel: Callable[..., Kernel], running_sshd: PrivateSSHD, tmp_path: Path
) -> None:
    path = tmp_path / "platform_key"
    running_sshd.authorize(write_platform_key(path))
    kernel = make_kernel(platform_key=str(path))
    kernel.store.add(
        ssh_computing(running_sshd.port, "shared", auth="platform_keys", account=running_sshd.user)
    )
    kernel.store.trust_host_keys("shared", running_sshd.host_keys("shared"))
    create_user(kernel, "alice")
    executor = ssh_executor(kernel, "shared", None)
    assert executor.run(["id", "-un"]).stdout == f"{running_sshd.user}\n"
    assert ssh_executor(kernel, "shared", "alice") is executor
