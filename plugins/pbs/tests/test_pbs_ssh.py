"""The contract and a real job over SSH: the testbed's PBS-style commands as ``tbuser``, through
a private sshd and the SSH executor (``rosetta_ssh.testing``), with a job folder relative to that
account's home, which the plugin must find over the connection.

Skipped, saying why, without ``qsub``, root, sshd or the testbed account.
"""

from __future__ import annotations

import contextlib
import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest

from rosetta_core.engines import Observed, TaskSpec, handle_for
from rosetta_core.errors import BackendError
from rosetta_core.executors import Executor
from rosetta_core.model import new_id
from rosetta_core.testing.contracts import WorkloadManagerContract, wait_for
from rosetta_core.testing.counting import CountingExecutor
from rosetta_pbs.manager import PBSWorkloadManager
from rosetta_pbs.testing import wrapper_options
from rosetta_ssh.testing import SSHRemote

pytestmark = [pytest.mark.testbed, pytest.mark.usefixtures("pbs_ready")]

JOB_TIMEOUT = 60.0


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
