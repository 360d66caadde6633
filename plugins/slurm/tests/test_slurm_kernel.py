"""Tasks through the kernel on a Slurm computing resource: the real Slurm of the testbed runs the
real Podman engine's argv as a batch job.

Until the in-job agent runs the engine, ``scancel`` stops the job but not the container that
``podman run`` started in it, so every container these tests start carries a label unique to
this run and is removed at the end. The interface's host and port of a batch task are not known
yet either: the software here declares no interface.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

import rosetta_podman.plugin
import rosetta_slurm.plugin
from rosetta_core.engines import Observed
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, ComputingKind, Software, Task, TaskStatus
from rosetta_slurm import SlurmWorkloadManager

pytestmark = [pytest.mark.testbed, pytest.mark.usefixtures("slurm")]

IMAGE = "localhost/testbed-busybox:latest"
RUN_LABEL = f"rosetta.test-run={uuid.uuid4().hex}"
S = TaskStatus


def podman(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *argv], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def image() -> str:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (run testbed/setup.sh)")
    if podman("image", "exists", IMAGE).returncode != 0:
        pytest.skip(f"podman has no image {IMAGE} (run testbed/setup.sh)")
    return IMAGE


@pytest.fixture(scope="module", autouse=True)
def remove_containers() -> Iterator[None]:
    yield
    if shutil.which("podman") is None:
        return
    ids = podman("ps", "-aq", "--filter", f"label={RUN_LABEL}").stdout.split()
    if ids:
        podman("rm", "-f", "-t", "0", *ids)


@pytest.fixture
def kernel(rosetta_kernel_factory: Callable[..., Kernel], image: str, job_dir: str) -> Kernel:
    kernel = rosetta_kernel_factory(
        {"podman": rosetta_podman.plugin, "slurm": rosetta_slurm.plugin},
        plugin_options={
            # --init: busybox httpd as PID 1 ignores SIGTERM
            "podman": {"pull_policy": "never", "extra_args": ["--init", "--label", RUN_LABEL]},
            "slurm": {"job_dir": job_dir},
        },
    )
    kernel.store.add(Software(name="bb", image="testbed-busybox", registry="localhost"))
    kernel.store.add(Software(name="missing", image="testbed-no-such-image", registry="localhost"))
    kernel.store.add(
        Computing(
            name="cluster",
            kind=ComputingKind.CLUSTER,
            engines=("podman",),
            workload_manager="slurm",
            options={"partition": "debug", "directives": "--comment=rosetta-test\n--nice=0"},
        )
    )
    return kernel


def reconcile_until(kernel: Kernel, task: Task, done: Callable[[Task], bool], timeout: float = 90) -> Task:
    deadline = time.monotonic() + timeout
    task = kernel.store.get_task(task.id)
    while not done(task) and time.monotonic() < deadline:
        time.sleep(0.3)
        report = kernel.orchestrator.reconcile()
        assert report.errors == [], report
        task = kernel.store.get_task(task.id)
    return task


def running_containers(task: Task) -> list[str]:
    found = podman("ps", "-q", "--filter", f"label=rosetta.task={task.id}", "--filter", "status=running")
    return found.stdout.split()


def test_a_container_task_runs_as_a_job_and_stops(kernel: Kernel) -> None:
    task = kernel.orchestrator.run_task(owner="ada", software="bb", computing="cluster")
    assert task.status is S.QUEUED and task.handle and task.handle.isdigit(), task
    job = task.handle
    fields = subprocess.run(
        ["squeue", "--noheader", "--jobs", job, "--Format=Partition:|,Comment:|,Name:"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert fields == f"debug|rosetta-test|rosetta-{task.id}"  # the resource's options reached the job

    task = reconcile_until(kernel, task, lambda t: t.status is S.RUNNING)
    assert task.status is S.RUNNING, kernel.store.task_events(task.id)
    deadline = time.monotonic() + 30
    while len(running_containers(task)) != 1 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert len(running_containers(task)) == 1  # the engine's argv runs in the job

    stopped = kernel.orchestrator.stop_task(task.id)
    assert stopped.status is S.STOPPED
    wm = kernel.workload_managers.get("slurm")
    executor = kernel.executor_for(kernel.store.get(Computing, "cluster"), "ada")
    deadline = time.monotonic() + 30
    while (obs := wm.query_many([job], executor)[job]).state in (Observed.PENDING, Observed.RUNNING):
        assert time.monotonic() < deadline, f"the job still runs after the stop: {obs}"
        time.sleep(0.3)
    kernel.orchestrator.reconcile()
    assert kernel.store.get_task(task.id).status is S.STOPPED
    statuses = [e.to_status for e in kernel.store.task_events(task.id)]
    assert statuses == [S.CREATED, S.QUEUED, S.RUNNING, S.STOPPED], statuses


def test_a_failing_container_fails_its_task_with_the_job_log(kernel: Kernel) -> None:
    task = kernel.orchestrator.run_task(owner="ada", software="missing", computing="cluster")
    assert task.status is S.QUEUED, task
    task = reconcile_until(kernel, task, lambda t: t.status.is_terminal)
    assert task.status is S.FAILED, task
    assert task.exit_code == 125  # podman's "cannot run the container"
    assert task.error is not None and "testbed-no-such-image" in task.error
    wm = kernel.workload_managers.get("slurm")
    assert isinstance(wm, SlurmWorkloadManager)
    assert task.handle is not None and "testbed-no-such-image" in kernel.orchestrator.logs(task.id)


def test_a_refused_directive_fails_the_submission(kernel: Kernel) -> None:
    kernel.store.add(
        Computing(
            name="bad",
            kind=ComputingKind.CLUSTER,
            engines=("podman",),
            workload_manager="slurm",
            options={"directives": "--qos=normal\n--comment=$(id)"},
        )
    )
    task = kernel.orchestrator.run_task(owner="ada", software="bb", computing="bad")
    assert task.status is S.FAILED
    assert task.error is not None and "--comment=$(id)" in task.error
