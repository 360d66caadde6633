"""The workload manager contract and the orchestrator's batch path, through the real Slurm of the
testbed (a one-file scheduler plugin, tests/slurm_minimal.py)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import sleep_engine
from rosetta_core import create_kernel, hookimpl
from rosetta_core.config import parse_config
from rosetta_core.engines import handle_for
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, ComputingKind, Software, TaskStatus
from rosetta_core.testing.contracts import WorkloadManagerContract
from rosetta_core.workload import NO_WORKLOAD_MANAGER, WorkloadManager
from slurm_minimal import MinimalSlurm


def slurm_is_up() -> bool:
    if shutil.which("sbatch") is None:
        return False
    return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=10, check=False).returncode == 0


pytestmark = [
    pytest.mark.testbed,
    pytest.mark.skipif(not slurm_is_up(), reason="no running Slurm (run testbed/setup.sh as root)"),
]


class TestMinimalSlurmContract(WorkloadManagerContract):
    @pytest.fixture
    def workload_manager(self, tmp_path: Path) -> WorkloadManager:
        return MinimalSlurm(str(tmp_path))


def test_protocol_and_reserved_name(tmp_path: Path) -> None:
    assert isinstance(MinimalSlurm(str(tmp_path)), WorkloadManager)
    assert NO_WORKLOAD_MANAGER == "none"


def test_a_task_runs_through_slurm(rosetta_kernel_factory: Callable[..., Kernel], tmp_path: Path) -> None:
    class Batch:
        @hookimpl
        def rosetta_register_workload_managers(self, register: Callable[[str, Any], None]) -> None:
            register("slurm-minimal", MinimalSlurm(str(tmp_path)))

    kernel = rosetta_kernel_factory(
        {"sleep": sleep_engine, "batch": Batch()},
        plugin_options={"sleep": {"state_dir": str(tmp_path / "state")}},
    )
    kernel.store.add(Software(name="sleeper", image="local/sleep"))
    kernel.store.add(
        Computing(
            name="cluster", kind=ComputingKind.CLUSTER, engines=("sleep",), workload_manager="slurm-minimal"
        )
    )
    task = kernel.orchestrator.run_task(owner="ada", software="sleeper", computing="cluster")
    assert task.status is TaskStatus.QUEUED and task.handle
    try:
        deadline = time.monotonic() + 30
        while kernel.store.get_task(task.id).status is not TaskStatus.RUNNING and time.monotonic() < deadline:
            time.sleep(0.2)
            kernel.orchestrator.reconcile()
        assert kernel.store.get_task(task.id).status is TaskStatus.RUNNING
    finally:
        stopped = kernel.orchestrator.stop_task(task.id)
    assert stopped.status is TaskStatus.STOPPED
    kernel.orchestrator.reconcile()  # the cancelled job must not change a stopped task
    assert kernel.store.get_task(task.id).status is TaskStatus.STOPPED
    statuses = [e.to_status for e in kernel.store.task_events(task.id)]
    assert statuses == [
        TaskStatus.CREATED,
        TaskStatus.QUEUED,
        TaskStatus.STARTING,
        TaskStatus.RUNNING,
        TaskStatus.STOPPED,
    ] or statuses == [TaskStatus.CREATED, TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.STOPPED]


BATCH_CHILD = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[1])
import sleep_engine
from slurm_minimal import MinimalSlurm
from rosetta_core import create_kernel, hookimpl
from rosetta_core.config import parse_config
from rosetta_core.model import Computing, ComputingKind, Software

store, state, point = sys.argv[2], sys.argv[3], sys.argv[4]
slurm = MinimalSlurm(state)

class Plugin:
    seen = 0
    @hookimpl
    def rosetta_register_workload_managers(self, register):
        register("slurm-minimal", slurm)
    @hookimpl
    def rosetta_task_event(self, event):
        Plugin.seen += 1
        if point == "after-queued" and Plugin.seen == 2:
            os.kill(os.getpid(), signal.SIGKILL)

if point == "after-sbatch":
    real_submit = slurm.submit
    def submit_then_die(script, spec, executor):
        real_submit(script, spec, executor)
        os.kill(os.getpid(), signal.SIGKILL)
    slurm.submit = submit_then_die

config = parse_config({"rosetta": {"store": store}, "plugin": {"sleep": {"state_dir": state}}})
kernel = create_kernel(config, plugins={"sleep": sleep_engine, "batch": Plugin()}).start()
kernel.store.add(Software(name="sleeper", image="local/sleep"))
kernel.store.add(Computing(name="cluster", kind=ComputingKind.CLUSTER, engines=("sleep",),
                           workload_manager="slurm-minimal"))
kernel.orchestrator.run_task(owner="ada", software="sleeper", computing="cluster", name="victim")
"""


def jobs_named(name: str) -> list[str]:
    out = subprocess.run(
        ["squeue", "-h", "--states=all", "-o", "%i|%j|%T"], capture_output=True, text=True, check=True
    ).stdout
    return [
        line.split("|")[0]
        for line in out.splitlines()
        if line.split("|")[1] == name and line.split("|")[2] in ("PENDING", "RUNNING", "CONFIGURING")
    ]


@pytest.mark.parametrize("point", ["after-queued", "after-sbatch"])
def test_kill_while_submitting_then_reconcile(tmp_path: Path, point: str) -> None:
    """SIGKILL before the submission, and after sbatch but before the job id is recorded: the next
    start-up submits the job once, or finds it by name; never twice."""
    store, state = tmp_path / "store.sqlite", tmp_path / "state"
    state.mkdir()
    child = subprocess.run(
        [sys.executable, "-c", BATCH_CHILD, str(Path(__file__).parent), str(store), str(state), point],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr

    class Batch:
        @hookimpl
        def rosetta_register_workload_managers(self, register: Callable[[str, Any], None]) -> None:
            register("slurm-minimal", MinimalSlurm(str(state)))

    config = parse_config(
        {"rosetta": {"store": str(store), "action_lease": 0}, "plugin": {"sleep": {"state_dir": str(state)}}}
    )
    with create_kernel(config, plugins={"sleep": sleep_engine, "batch": Batch()}) as kernel:
        kernel.start()
        task = kernel.store.find_task("victim")
        try:
            assert task.handle is not None and task.handle.isdigit(), task
            assert jobs_named(handle_for(task.id)) == [task.handle]  # exactly one job
        finally:
            kernel.orchestrator.stop_task(task.id)
        assert kernel.store.get_task(task.id).status is TaskStatus.STOPPED
        assert jobs_named(handle_for(task.id)) == []


def podman_has_busybox() -> bool:
    if shutil.which("podman") is None:
        return False
    probe = ["podman", "image", "exists", "localhost/testbed-busybox:latest"]
    return subprocess.run(probe, capture_output=True, timeout=60, check=False).returncode == 0


@pytest.fixture
def podman_batch(rosetta_kernel_factory: Callable[..., Kernel], tmp_path: Path) -> Kernel:
    """A kernel with Podman and the one-file Slurm plugin (resource ``cluster``); the agent runs on
    this Python."""
    if not podman_has_busybox():
        pytest.skip("podman or localhost/testbed-busybox:latest is missing (testbed/setup.sh)")
    import rosetta_podman.plugin

    class Batch:
        @hookimpl
        def rosetta_register_workload_managers(self, register: Callable[[str, Any], None]) -> None:
            register("slurm-minimal", MinimalSlurm(str(tmp_path)))

    kernel = rosetta_kernel_factory(
        {"podman": rosetta_podman.plugin, "batch": Batch()},
        plugin_options={"podman": {"pull_policy": "never", "extra_args": ["--init"]}},
        core_options={"agent_python": sys.executable},
    )
    kernel.store.add(
        Computing(
            name="cluster", kind=ComputingKind.CLUSTER, engines=("podman",), workload_manager="slurm-minimal"
        )
    )
    return kernel


def test_the_agent_reports_where_a_batch_container_listens_and_dies_with_the_job(
    podman_batch: Kernel,
) -> None:
    """A Podman task as a real Slurm job: the platform learns host and port from the agent and
    reaches the interface; stopping cancels the job, and no container survives it."""
    kernel = podman_batch
    kernel.store.add(Software(name="web", image="testbed-busybox", registry="localhost", interface_port=8080))
    task = kernel.orchestrator.run_task(owner="ada", software="web", computing="cluster")
    try:
        deadline = time.monotonic() + 60
        while kernel.store.get_task(task.id).status is not TaskStatus.RUNNING and time.monotonic() < deadline:
            time.sleep(0.3)
            kernel.orchestrator.reconcile()
        task = kernel.store.get_task(task.id)
        assert task.status is TaskStatus.RUNNING and task.interface_port not in (None, 8080), task
        with urllib.request.urlopen(
            f"http://{task.interface_host}:{task.interface_port}/", timeout=10
        ) as reply:
            assert b"testbed-busybox OK" in reply.read()
    finally:
        stopped = kernel.orchestrator.stop_task(task.id)
    assert stopped.status is TaskStatus.STOPPED
    name = handle_for(task.id)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        left = subprocess.run(
            ["podman", "ps", "-aq", "--filter", f"name={name}"], capture_output=True, text=True, check=True
        ).stdout
        if not left.strip():
            break
        time.sleep(0.5)
    assert not left.strip(), "the container outlived its cancelled job"


def test_a_failing_batch_container_fails_its_task_with_the_exit_code(podman_batch: Kernel) -> None:
    kernel = podman_batch
    # an image that is not there: podman run fails at once inside the job
    kernel.store.add(
        Software(name="broken", image="no-such-image", registry="localhost", interface_port=8080)
    )
    task = kernel.orchestrator.run_task(owner="ada", software="broken", computing="cluster")
    deadline = time.monotonic() + 60
    while not kernel.store.get_task(task.id).status.is_terminal and time.monotonic() < deadline:
        time.sleep(0.3)
        kernel.orchestrator.reconcile()
    task = kernel.store.get_task(task.id)
    assert task.status is TaskStatus.FAILED and task.exit_code not in (None, 0), task
