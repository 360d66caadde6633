"""The workload manager over SSH: the testbed's unprivileged account, reached through a private
sshd with the SSH plugin's executor, submits to the real Slurm (the usual way to a cluster)."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rosetta_core.engines import Observed, TaskSpec, handle_for
from rosetta_core.executors import Executor
from rosetta_core.kernel import Kernel
from rosetta_core.model import new_id
from rosetta_core.testing.contracts import WorkloadManagerContract
from rosetta_core.workload import WorkloadManager
from rosetta_slurm import SlurmOptions, SlurmWorkloadManager

ssh_testing = pytest.importorskip("rosetta_ssh.testing", reason="the SSH plugin is not installed")
ssh_plugin = pytest.importorskip("rosetta_ssh.plugin", reason="the SSH plugin is not installed")

pytestmark = [pytest.mark.testbed, pytest.mark.usefixtures("slurm")]


@pytest.fixture(scope="module")
def sshd() -> Iterator[Any]:
    with ssh_testing.started_sshd() as server:
        yield server


@pytest.fixture
def remote_executor(rosetta_kernel_factory: Callable[..., Kernel], sshd: Any) -> Executor:
    kernel = rosetta_kernel_factory({"ssh": ssh_plugin})
    remote = ssh_testing.make_remote(kernel, sshd)
    executor: Executor = remote.executor()
    return executor


@pytest.fixture
def relative_job_dir(sshd: Any) -> Iterator[str]:
    """A job folder under the account's home, removed afterwards."""
    relative = f".rosetta/test-jobs-{uuid.uuid4().hex[:12]}"
    yield relative
    home = Path(f"~{sshd.user}").expanduser()
    shutil.rmtree(home / relative, ignore_errors=True)


class TestSlurmContractOverSSH(WorkloadManagerContract):
    @pytest.fixture
    def workload_manager(self, relative_job_dir: str) -> WorkloadManager:
        return SlurmWorkloadManager(SlurmOptions(job_dir=relative_job_dir))

    @pytest.fixture
    def executor(self, remote_executor: Executor) -> Executor:
        return remote_executor

    @pytest.fixture
    def job_timeout(self) -> float:
        return 90.0


def test_a_failed_job_over_ssh_shows_its_log(
    remote_executor: Executor, relative_job_dir: str, sshd: Any
) -> None:
    manager = SlurmWorkloadManager(SlurmOptions(job_dir=relative_job_dir))
    task_id = new_id()
    spec = TaskSpec(task_id=task_id, name=handle_for(task_id), image="localhost/none:latest")
    job = manager.submit(
        manager.render_script(spec, ["sh", "-c", "echo boom >&2; exit 3"]), spec, remote_executor
    )
    try:
        deadline = time.monotonic() + 90
        while (obs := manager.query_many([job], remote_executor)[job]).state in (
            Observed.PENDING,
            Observed.RUNNING,
        ) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert (obs.state, obs.exit_code) == (Observed.FAILED, 3), obs
        assert obs.detail.endswith("boom")
        assert manager.logs(job, remote_executor) == "boom"
        home = Path(f"~{sshd.user}").expanduser()
        assert (home / relative_job_dir / f"{job}.log").is_file()
    finally:
        manager.cancel(job, remote_executor)
