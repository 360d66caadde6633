"""The contract and a real job over SSH: the testbed's PBS-style commands as ``tbuser``, through
a private sshd and the SSH executor (``rosetta_ssh.testing``), with a job folder relative to that
account's home, which the plugin must find over the connection.

Skipped, saying why, without ``qsub``, root, sshd or the testbed account.
"""

from __future__ import annotations

import contextlib
import pwd
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

import rosetta_pbs.plugin
import rosetta_podman.plugin
import rosetta_ssh.plugin
from rosetta_core.engines import Observed, TaskSpec, handle_for
from rosetta_core.errors import BackendError
from rosetta_core.executors import Executor
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, ComputingKind, Software, TaskStatus, new_id
from rosetta_core.testing.contracts import WorkloadManagerContract, wait_for
from rosetta_core.testing.counting import CountingExecutor
from rosetta_pbs.manager import PBSWorkloadManager
from rosetta_pbs.testing import wrapper_options
from rosetta_ssh.testing import PrivateSSHD, SSHRemote, make_remote

pytestmark = [pytest.mark.testbed, pytest.mark.usefixtures("pbs_ready")]

JOB_TIMEOUT = 60.0
BUSYBOX = "localhost/testbed-busybox:latest"


class TestPBSContractOverSSH(WorkloadManagerContract):
    @pytest.fixture
    def workload_manager(self, tbuser_job_dir: str) -> PBSWorkloadManager:
        return PBSWorkloadManager(wrapper_options(job_dir=tbuser_job_dir))

    @pytest.fixture
    def executor(self, remote: SSHRemote) -> Executor:
        return remote.executor()

    @pytest.fixture
    def job_timeout(self) -> float:
        return JOB_TIMEOUT


@pytest.fixture
def wm(tbuser_job_dir: str) -> PBSWorkloadManager:
    return PBSWorkloadManager(wrapper_options(job_dir=tbuser_job_dir))


@pytest.fixture
def jobs(wm: PBSWorkloadManager, remote: SSHRemote) -> Iterator[list[str]]:
    submitted: list[str] = []
    yield submitted
    for job in submitted:
        with contextlib.suppress(BackendError):
            wm.cancel(job, remote.executor())


def test_a_job_runs_as_the_account_in_its_home_folder(
    wm: PBSWorkloadManager, remote: SSHRemote, tbuser: str, tbuser_job_dir: str, jobs: list[str]
) -> None:
    executor = CountingExecutor(remote.executor())
    task_id = new_id()
    spec = TaskSpec(task_id=task_id, name=handle_for(task_id), image="localhost/none:latest")
    job = wm.submit(
        wm.render_script(spec, ["sh", "-c", "id -un; pwd; echo 'oops' >&2; exit 4"]), spec, executor
    )
    jobs.append(job)
    obs = wait_for(
        lambda: wm.query_many([job], executor)[job],
        lambda o: o.state in (Observed.EXITED, Observed.FAILED),
        JOB_TIMEOUT,
    )
    folder = Path(pwd.getpwnam(tbuser).pw_dir) / tbuser_job_dir
    assert obs.detail.endswith(f"its output:\n{tbuser}\n{folder}\noops"), obs
    assert wm.logs(job, executor) == f"{tbuser}\n{folder}\noops\n"
    assert folder.stat().st_uid == pwd.getpwnam(tbuser).pw_uid and folder.stat().st_mode & 0o777 == 0o700
    assert wm.find_jobs([spec.name], executor) == {spec.name: job}
    # the home folder was asked for once, at submission; besides, only qstat ran (once a poll)
    assert [argv[0] for argv in executor.calls if argv[0] != "qstat"] == ["sh", "qsub", "ln"]


def test_a_podman_task_runs_as_a_pbs_job_over_ssh(
    rosetta_kernel_factory: Callable[..., Kernel], sshd: PrivateSSHD, tbuser_job_dir: str
) -> None:
    """Through the whole kernel: the job is submitted over SSH as the user's account, its agent
    (rootless Podman on the node) reports the address in the account's home, the platform
    reaches the interface, and stopping leaves no container."""
    kernel = rosetta_kernel_factory(
        {"ssh": rosetta_ssh.plugin, "pbs": rosetta_pbs.plugin, "podman": rosetta_podman.plugin},
        plugin_options={
            "pbs": {"dialect": "torque", "absent_is_gone": True, "job_dir": tbuser_job_dir},
            "podman": {"pull_policy": "never", "extra_args": ["--init"]},
        },
    )
    remote = make_remote(kernel, sshd.start())
    executor = remote.executor()
    if executor.run(["podman", "image", "exists", BUSYBOX], timeout=60).returncode != 0:
        pytest.skip(f"the account's podman has no {BUSYBOX} (testbed/setup.sh)")
    kernel.store.delete(Computing, remote.computing.name)
    kernel.store.add(attrs.evolve(remote.computing, kind=ComputingKind.CLUSTER, workload_manager="pbs"))
    kernel.forget_executors(remote.computing.name)
    kernel.store.add(Software(name="web", image="testbed-busybox", registry="localhost", interface_port=8080))
    task = kernel.orchestrator.run_task(owner=remote.user, software="web", computing=remote.computing.name)
    try:
        deadline = time.monotonic() + JOB_TIMEOUT
        while kernel.store.get_task(task.id).status is not TaskStatus.RUNNING and time.monotonic() < deadline:
            time.sleep(0.5)
            kernel.orchestrator.reconcile()
        task = kernel.store.get_task(task.id)
        assert task.status is TaskStatus.RUNNING and task.interface_port is not None, task
        with urllib.request.urlopen(
            f"http://{task.interface_host}:{task.interface_port}/", timeout=10
        ) as reply:
            assert b"testbed-busybox OK" in reply.read()
    finally:
        assert kernel.orchestrator.stop_task(task.id).status is TaskStatus.STOPPED
    name = handle_for(task.id)
    deadline = time.monotonic() + JOB_TIMEOUT
    while executor.run(["podman", "ps", "-aq", "--filter", f"name={name}"]).stdout.strip():
        assert time.monotonic() < deadline, "the container outlived its cancelled job"
        time.sleep(0.5)
