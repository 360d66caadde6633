"""A plugin written in one file (tests/sleep_engine.py) is picked up and passes the engine contract."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import sleep_engine
from rosetta_core.engines import ContainerEngine
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, TaskStatus
from rosetta_core.testing.contracts import EngineContract


class TestSleepEngineContract(EngineContract):
    @pytest.fixture
    def engine(self, rosetta_kernel_factory: Callable[..., Kernel], tmp_path: Path) -> ContainerEngine:
        kernel = rosetta_kernel_factory(
            {"sleep": sleep_engine}, plugin_options={"sleep": {"state_dir": str(tmp_path / "state")}}
        )
        return kernel.engines.get("sleep")

    @pytest.fixture
    def image(self) -> str:
        return "local/sleep:latest"


def test_kernel_lists_what_the_plugin_registers(sleep_kernel: Kernel) -> None:
    assert sleep_kernel.plugin_registrations("sleep") == {"engines": ["sleep"], "options": ["SleepOptions"]}


def test_a_task_runs_and_stops_through_the_plugin(sleep_kernel: Kernel) -> None:
    orchestrator = sleep_kernel.orchestrator
    task = orchestrator.run_task(owner="ada", software="sleeper", computing="here")
    assert task.status is TaskStatus.RUNNING
    executor = sleep_kernel.executor_for(sleep_kernel.store.get(Computing, "here"))
    assert task.handle in sleep_kernel.engines.get("sleep").list_handles(executor)
    stopped = orchestrator.stop_task(task.id)
    assert stopped.status is TaskStatus.STOPPED
    statuses = [e.to_status for e in sleep_kernel.store.task_events(task.id)]
    assert statuses == [
        TaskStatus.CREATED,
        TaskStatus.QUEUED,
        TaskStatus.STARTING,
        TaskStatus.RUNNING,
        TaskStatus.STOPPED,
    ]
