"""The workload manager contract and the orchestrator's batch path, through the real Slurm of the
testbed (a one-file scheduler plugin, tests/slurm_minimal.py)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
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
