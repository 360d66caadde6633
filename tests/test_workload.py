"""The workload manager contract and the orchestrator's batch path, through the real Slurm of the
testbed (a one-file scheduler plugin, tests/slurm_minimal.py)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sleep_engine
from slurm_minimal import MinimalSlurm

from rosetta_core import hookimpl
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, ComputingKind, Software, TaskStatus
from rosetta_core.testing.contracts import WorkloadManagerContract
from rosetta_core.workload import NO_WORKLOAD_MANAGER, WorkloadManager


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
