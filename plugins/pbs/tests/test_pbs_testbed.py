"""The workload-manager contract and real jobs, against the testbed's PBS-style commands.

The testbed has no PBS server: ``qsub``/``qstat``/``qdel`` are Slurm's Torque wrappers
(``slurm-wlm-torque``) over a real single-node Slurm, driven here with
:func:`~rosetta_pbs.testing.wrapper_options`. Skipped, saying why, without them. Every job a test
submits is cancelled afterwards.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rosetta_core.engines import Observation, Observed, Resources, TaskSpec, handle_for
from rosetta_core.errors import BackendError
from rosetta_core.executors import Executor, LocalExecutor
from rosetta_core.model import new_id
from rosetta_core.testing.contracts import WorkloadManagerContract, wait_for
from rosetta_core.testing.counting import CountingExecutor
from rosetta_pbs.manager import PBSWorkloadManager
from rosetta_pbs.testing import wrapper_options

pytestmark = [pytest.mark.testbed, pytest.mark.usefixtures("pbs_ready")]

JOB_TIMEOUT = 60.0  # the one node is shared with other test runs: a job may queue a while
ENDED = (Observed.EXITED, Observed.FAILED)


def new_spec(**resources: Any) -> TaskSpec:
    task_id = new_id()
    resources_asked = Resources(**resources)
    return TaskSpec(
        task_id=task_id, name=handle_for(task_id), image="localhost/none:latest", resources=resources_asked
    )


class TestPBSContract(WorkloadManagerContract):
    @pytest.fixture
    def workload_manager(self, job_dir: str) -> PBSWorkloadManager:
        return PBSWorkloadManager(wrapper_options(job_dir=job_dir))

    @pytest.fixture
    def job_timeout(self) -> float:
        return JOB_TIMEOUT


@pytest.fixture
def wm(job_dir: str) -> PBSWorkloadManager:
    return PBSWorkloadManager(wrapper_options(job_dir=job_dir, timeout=60))


@pytest.fixture
def executor() -> Executor:
    return LocalExecutor()


@pytest.fixture
def jobs(wm: PBSWorkloadManager, executor: Executor) -> Iterator[list[str]]:
    submitted: list[str] = []
    yield submitted
    for job in submitted:
        with contextlib.suppress(BackendError):
            wm.cancel(job, executor)


def run(
    wm: PBSWorkloadManager, executor: Executor, argv: list[str], jobs: list[str], **resources: Any
) -> str:
    spec = new_spec(**resources)
    job = wm.submit(wm.render_script(spec, argv), spec, executor)
    jobs.append(job)
    return job


def ended(wm: PBSWorkloadManager, executor: Executor, job: str) -> Observation:
    obs = wait_for(lambda: wm.query_many([job], executor)[job], lambda o: o.state in ENDED, JOB_TIMEOUT)
    assert obs.state in ENDED, obs
    return obs


def test_a_failing_job_shows_why(wm: PBSWorkloadManager, executor: Executor, jobs: list[str]) -> None:
    argv = ["sh", "-c", "echo 'loading weights'; echo 'error: weights.bin is missing' >&2; exit 7"]
    obs = ended(wm, executor, run(wm, executor, argv, jobs, walltime_minutes=5))
    assert obs.detail.endswith("last lines of its output:\nloading weights\nerror: weights.bin is missing"), (
        obs
    )
    # the wrappers' qstat has no exit status for a finished job (PBS Pro's and Torque's have:
    # test_pbs_manager checks FAILED with the code on their recorded output)
    assert (obs.state, obs.exit_code) == (Observed.EXITED, None)
    assert "no exit status" in obs.detail


def test_a_completing_job_exits(wm: PBSWorkloadManager, executor: Executor, jobs: list[str]) -> None:
    job = run(wm, executor, ["sh", "-c", "pwd; echo all good"], jobs, cpus=1, memory_mb=64)
    obs = ended(wm, executor, job)
    assert obs.state is Observed.EXITED and obs.exit_code is None  # None: see the test above
    assert wm.logs(job, executor) == f"{wm.options.job_dir}\nall good\n"  # it ran in the job folder
    assert wm.logs(job, executor, tail=1) == "all good\n"


def test_a_running_job_reports_its_host_and_output(
    wm: PBSWorkloadManager, executor: Executor, jobs: list[str]
) -> None:
    job = run(wm, executor, ["sh", "-c", "echo started; exec sleep 300"], jobs)
    obs = wait_for(
        lambda: wm.query_many([job], executor)[job], lambda o: o.state is Observed.RUNNING, JOB_TIMEOUT
    )
    assert obs.state is Observed.RUNNING and obs.host, obs
    deadline = time.monotonic() + 10
    while wm.logs(job, executor) != "started\n" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert wm.logs(job, executor) == "started\n"


def test_one_qstat_per_query_whatever_the_number_of_ids(
    wm: PBSWorkloadManager, executor: Executor, jobs: list[str]
) -> None:
    started = [run(wm, executor, ["sleep", "300"], jobs) for _ in range(3)]
    counting = CountingExecutor(executor)
    bogus = [str(999_999_000 + n) for n in range(20)]
    answers = wm.query_many([*started, *bogus], counting)
    assert counting.count("qstat") == 1
    assert set(answers) == {*started, *bogus}
    assert all(answers[j].state is Observed.GONE for j in bogus)
    assert all(answers[j].state in (Observed.PENDING, Observed.RUNNING) for j in started)
    wm.query_many(started[:1], counting)
    assert counting.count("qstat") == 2
    for job in started:
        wm.cancel(job, counting)
    passes = wait_for_all_ended(wm, counting, started)
    assert counting.count("qstat") == 2 + passes  # one per pass, ended or not


def wait_for_all_ended(wm: PBSWorkloadManager, executor: Executor, job_ids: list[str]) -> int:
    passes = 0
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        passes += 1
        answers = wm.query_many(job_ids, executor)
        if all(o.state not in (Observed.PENDING, Observed.RUNNING) for o in answers.values()):
            return passes
        assert time.monotonic() < deadline, answers
        time.sleep(0.2)


def test_a_refused_submission_says_why(wm: PBSWorkloadManager, executor: Executor, jobs: list[str]) -> None:
    with pytest.raises(BackendError, match="Invalid partition name"):
        run(wm, executor, ["true"], jobs, partition="rosetta-no-such-queue")
    assert jobs == []


def test_script_and_output_live_in_the_job_folder(
    wm: PBSWorkloadManager, executor: Executor, jobs: list[str]
) -> None:
    spec = new_spec()
    job = wm.submit(wm.render_script(spec, ["true"]), spec, executor)
    jobs.append(job)
    ended(wm, executor, job)
    folder = Path(wm.options.job_dir)
    name = f"r{spec.task_id[:14]}"  # the Torque dialect's 15-character name
    assert (folder / f"{name}.pbs").stat().st_mode & 0o777 == 0o700
    assert (folder / f"{job}.out").resolve() == folder / f"{name}.out"
