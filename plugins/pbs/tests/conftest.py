"""Fixtures of the PBS plugin's tests (helpers live in :mod:`rosetta_pbs.testing`).

- ``pbs_ready``: skips, printing why, when ``qsub``/``qstat`` cannot run real jobs here.
- ``job_dir``: a fresh absolute job folder under /tmp, removed afterwards.
- ``tbuser``, ``sshd``, ``remote``: the testbed's unprivileged account reached over a private
  sshd as in the SSH plugin's tests (skipped, saying why, without root, sshd or that account).
- ``tbuser_job_dir``: a fresh folder name relative to ``tbuser``'s home, removed afterwards.
"""

from __future__ import annotations

import pwd
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import rosetta_ssh.plugin
from rosetta_core.kernel import Kernel
from rosetta_pbs.testing import unavailable_reason
from rosetta_ssh.testing import PrivateSSHD, SSHRemote, make_remote, sshd_account_or_skip, started_sshd


@pytest.fixture(scope="session")
def pbs_ready() -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def job_dir() -> Iterator[str]:
    # not tmp_path: a test id's brackets are characters the plugin refuses in job folders
    path = tempfile.mkdtemp(prefix="rosetta-pbs-test-", dir="/tmp")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def tbuser() -> str:
    return sshd_account_or_skip()


@pytest.fixture(scope="module")
def sshd(tbuser: str) -> Iterator[PrivateSSHD]:
    with started_sshd(tbuser) as server:
        yield server


@pytest.fixture
def remote(rosetta_kernel_factory: Callable[..., Kernel], sshd: PrivateSSHD) -> SSHRemote:
    kernel = rosetta_kernel_factory({"ssh": rosetta_ssh.plugin})
    return make_remote(kernel, sshd.start())


@pytest.fixture
def tbuser_job_dir(tbuser: str) -> Iterator[str]:
    """A job folder relative to tbuser's home (so the plugin must resolve it over SSH)."""
    name = f"rosetta-pbs-test-{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        shutil.rmtree(Path(pwd.getpwnam(tbuser).pw_dir) / name, ignore_errors=True)
