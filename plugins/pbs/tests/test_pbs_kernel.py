"""Batch tasks through the kernel: a computing resource with ``workload_manager = "pbs"`` runs the
testbed's busybox image with the podman plugin inside a job (the in-job agent starts it), is
reconciled until running, and is stopped; a failing container fails its task.

Needs the testbed's PBS-style commands, podman and ``localhost/testbed-busybox:latest``; skipped,
saying which is missing. Every container carries a label unique to this run, and whatever a
failing test leaves is removed by that label.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator

import pytest

import rosetta_pbs.plugin
import rosetta_podman.plugin
from rosetta_core.engines import Observed
from rosetta_core.errors import BackendError
from rosetta_core.executors import Executor
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, ComputingKind, Software, Task, TaskStatus
from rosetta_pbs.jobids import is_job_id
from rosetta_pbs.manager import PBSWorkloadManager

IMAGE = "localhost/testbed-busybox:latest"
PAGE = "testbed-busybox OK"
PODMAN = shutil.which("podman")
if PODMAN is None:
    pytest.skip("podman is not installed (run testbed/setup.sh)", allow_module_level=True)
if subprocess.run([PODMAN, "image", "exists", IMAGE], check=False).returncode != 0:
    pytest.skip(f"podman has no image {IMAGE} (run testbed/setup.sh)", allow_module_level=True)

pytestmark = [pytest.mark.testbed, pytest.mark.usefixtures("pbs_ready")]

RUN_LABEL = f"rosetta.test-run={uuid.uuid4().hex}"
TIMEOUT = 60.0
S = TaskStatus


def containers(label: str, *, running: bool = False) -> list[str]:
    assert PODMAN is not None
    argv = [PODMAN, "ps", "-q", "--filter", f"label={label}"]
    argv += ["--filter", "status=running"] if running else ["-a"]
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.split()


def remove(label: str) -> None:
    assert PODMAN is not None
    for _ in range(10):
        ids = containers(label)
        if not ids:
            return
        subprocess.run([PODMAN, "rm", "-f", "-t", "0", *ids], capture_output=True, check=False)


@pytest.fixture(scope="module", autouse=True)
def remove_leftovers() -> Iterator[None]:
    yield
    remove(RUN_LABEL)


@pytest.fixture
def kernel(rosetta_kernel_factory: Callable[..., Kernel], job_dir: str) -> Iterator[Kernel]:
    kernel = rosetta_kernel_factory(
        {"podman": rosetta_podman.plugin, "pbs": rosetta_pbs.plugin},
        plugin_options={
            # --init: busybox httpd as PID 1 ignores SIGTERM
            "podman": {"pull_policy": "never", "extra_args": ["--init", "--label", RUN_LABEL]},
            "pbs": {"dialect": "torque", "absent_is_gone": True, "job_dir": job_dir},
        },
    )
    kernel.store.add(Software(name="bb", image="testbed-busybox", registry="localhost", interface_port=8080))
    kernel.store.add(Software(name="missing", image="testbed-no-such-image", registry="localhost"))
    kernel.store.add(
        Computing(
            name="batch",
            kind=ComputingKind.CLUSTER,
            engines=("podman",),
            workload_manager="pbs",
            options={"partition": "debug", "directives": "-r n\n-m n"},
        )
    )
    yield kernel
    # every job of the test ends before its containers go: no `podman run` is left half-way
    wm, executor = manager(kernel)
    for task in kernel.store.list_tasks():
        if task.handle is not None and is_job_id(task.handle):
            with contextlib.suppress(BackendError):
                wm.cancel(task.handle, executor)
            job_ended(wm, executor, task.handle)
        remove(f"rosetta.task={task.id}")


def manager(kernel: Kernel) -> tuple[PBSWorkloadManager, Executor]:
    wm = kernel.workload_managers.get("pbs")
    assert isinstance(wm, PBSWorkloadManager)
    return wm, kernel.executor_for(kernel.store.get(Computing, "batch"), "ada")


def job_ended(wm: PBSWorkloadManager, executor: Executor, job: str) -> bool:
    """Wait until ``job`` neither waits nor runs; whether it did within the timeout."""
    deadline = time.monotonic() + TIMEOUT
    while wm.query_many([job], executor)[job].state in (Observed.PENDING, Observed.RUNNING):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.3)
    return True


def reconcile_until(kernel: Kernel, task: Task, done: Callable[[Task], bool]) -> Task:
    deadline = time.monotonic() + TIMEOUT
    task = kernel.store.get_task(task.id)
    while not done(task) and time.monotonic() < deadline:
        time.sleep(0.3)
        report = kernel.orchestrator.reconcile()
        assert report.errors == [], report
        task = kernel.store.get_task(task.id)
    return task


def test_a_batch_task_runs_and_stops(kernel: Kernel) -> None:
    wm, executor = manager(kernel)
    task = kernel.orchestrator.run_task(owner="ada", software="bb", computing="batch")
    job = task.handle
    assert task.status is S.QUEUED and job is not None and is_job_id(job), task
    queue = subprocess.run(["qstat", "-f", job], capture_output=True, text=True, check=False).stdout
    assert "queue = debug" in queue  # the resource's partition reached the job

    task = reconcile_until(kernel, task, lambda t: t.status is S.RUNNING)
    assert task.status is S.RUNNING, kernel.store.task_events(task.id)
    assert task.interface_host == "127.0.0.1" and task.interface_port is not None  # from the agent
    with urllib.request.urlopen(f"http://127.0.0.1:{task.interface_port}/", timeout=10) as response:
        assert PAGE in response.read().decode()
    assert len(containers(f"rosetta.task={task.id}", running=True)) == 1

    stopped = kernel.orchestrator.stop_task(task.id)
    assert stopped.status is S.STOPPED
    assert job_ended(wm, executor, job), "the job still runs after the stop"
    # qdel's signal reached the agent (the script execs it), which removed the container
    deadline = time.monotonic() + TIMEOUT
    while containers(f"rosetta.task={task.id}") and time.monotonic() < deadline:
        time.sleep(0.3)
    assert containers(f"rosetta.task={task.id}") == []
    kernel.orchestrator.reconcile()
    statuses = [e.to_status for e in kernel.store.task_events(task.id)]
    assert statuses[0:2] == [S.CREATED, S.QUEUED] and statuses[-2:] == [S.RUNNING, S.STOPPED], statuses


def test_a_failing_container_fails_its_task_with_the_job_output(kernel: Kernel) -> None:
    task = kernel.orchestrator.run_task(owner="ada", software="missing", computing="batch")
    assert task.status is S.QUEUED, task
    task = reconcile_until(kernel, task, lambda t: t.status.is_terminal)
    assert task.status is S.FAILED, kernel.store.task_events(task.id)
    # the wrappers' qstat has no exit status: the code is the agent's, the words the job output's
    assert task.exit_code == 125  # podman's "cannot run the container"
    assert task.error is not None and "testbed-no-such-image:latest: image not known" in task.error
    assert "testbed-no-such-image" in kernel.orchestrator.logs(task.id)


def test_a_refused_directive_fails_the_submission(kernel: Kernel) -> None:
    kernel.store.add(
        Computing(
            name="bad",
            kind=ComputingKind.CLUSTER,
            engines=("podman",),
            workload_manager="pbs",
            options={"directives": "-r n\n-l mem=$(id)"},
        )
    )
    task = kernel.orchestrator.run_task(owner="ada", software="bb", computing="bad")
    assert task.status is S.FAILED and task.handle is not None and not is_job_id(task.handle)
    assert task.error is not None and "-l mem=$(id)" in task.error
