"""Fixtures of the SSH plugin's tests (helpers live in :mod:`rosetta_ssh.testing`).

- ``make_kernel(**ssh_options)``: a started kernel with the plugin and that ``[plugin.ssh]``.
- ``tbuser``: the testbed's unprivileged account; tests using it are skipped, saying why, without
  root, sshd or that account.
- ``sshd``: a private sshd for the module letting ``tbuser`` in; ``running_sshd`` starts it again
  when a test left it stopped.
- ``remote``: :func:`~rosetta_ssh.testing.make_remote` on a fresh kernel: user ``alice`` with a
  key pair, resource ``remote`` with its host key trusted.
- ``workdir``: a folder in /tmp that ``tbuser`` owns, removed afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import rosetta_ssh.plugin
from rosetta_core.kernel import Kernel
from rosetta_ssh.testing import (
    PrivateSSHD,
    SSHRemote,
    make_remote,
    remote_workdir,
    sshd_account_or_skip,
    started_sshd,
)

KernelMaker = Callable[..., Kernel]


@pytest.fixture
def make_kernel(rosetta_kernel_factory: Callable[..., Kernel]) -> KernelMaker:
    def make(**ssh_options: Any) -> Kernel:
        return rosetta_kernel_factory({"ssh": rosetta_ssh.plugin}, plugin_options={"ssh": ssh_options})

    return make


@pytest.fixture(scope="module")
def tbuser() -> str:
    return sshd_account_or_skip()


@pytest.fixture(scope="module")
def sshd(tbuser: str) -> Iterator[PrivateSSHD]:
    with started_sshd(tbuser) as server:
        yield server


@pytest.fixture
def running_sshd(sshd: PrivateSSHD) -> PrivateSSHD:
    return sshd.start()


@pytest.fixture
def remote(make_kernel: KernelMaker, running_sshd: PrivateSSHD) -> SSHRemote:
    return make_remote(make_kernel(), running_sshd)


@pytest.fixture
def workdir(tbuser: str) -> Iterator[str]:
    with remote_workdir(tbuser) as path:
        yield path
