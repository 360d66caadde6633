"""The reconcile pass: what it reports, and its rules for orphans and missing plugins."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs
import pytest

from conftest import add_defaults
from rosetta_core import hookimpl
from rosetta_core.engines import INSTANCE_LABEL, Observed, TaskSpec, handle_for
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, ComputingKind, Task, TaskStatus
from rosetta_core.reconcile import FAST_PERIOD, ORPHAN_RECHECK, ReconcileReport, next_delay
from rosetta_core.testing import FakeEngine, FakeWorkloadManager

S = TaskStatus


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def wm() -> FakeWorkloadManager:
    return FakeWorkloadManager()


@pytest.fixture
def kernel(
    rosetta_kernel_factory: Callable[..., Kernel], engine: FakeEngine, wm: FakeWorkloadManager
) -> Kernel:
    class Plugin:
        @hookimpl
        def rosetta_register_engines(self, register: Callable[[str, Any], None]) -> None:
            register("fake", engine)

        @hookimpl
        def rosetta_register_workload_managers(self, register: Callable[[str, Any], None]) -> None:
            register("fakebatch", wm)

    kernel = rosetta_kernel_factory({"plugin": Plugin()}, core_options={"action_lease": 0})
    add_defaults(kernel)
    kernel.store.add(
        Computing(name="hpc", kind=ComputingKind.CLUSTER, engines=("fake",), workload_manager="fakebatch")
    )
    return kernel


def run(kernel: Kernel, computing: str = "box") -> Task:
    return kernel.orchestrator.run_task(owner="ada", software="web", computing=computing)


def test_report_counts(kernel: Kernel, engine: FakeEngine) -> None:
    steady, ending = run(kernel), run(kernel)
    run(kernel, "hpc")
    engine.containers[ending.handle or ""].state = Observed.EXITED
    report = kernel.orchestrator.reconcile()
    assert report == ReconcileReport(checked=3, changed=1, unknown=0)
    assert kernel.store.get_task(steady.id).status is S.RUNNING


def test_a_vanished_computing_resource_makes_unknown(kernel: Kernel) -> None:
    task = run(kernel)
    with kernel.store.write() as db:  # bypass the delete protection, as a hand-edited store might
        db.execute("DELETE FROM computings WHERE name = 'box'")
    report = kernel.orchestrator.reconcile()
    assert report.unknown == 1 and kernel.store.get_task(task.id).status is S.UNKNOWN


def test_a_missing_scheduler_plugin_makes_unknown(kernel: Kernel) -> None:
    task = run(kernel, "hpc")
    kernel.workload_managers._items.pop("fakebatch")
    kernel.orchestrator.reconcile()
    assert kernel.store.get_task(task.id).status is S.UNKNOWN


def test_container_of_a_stopped_row_is_removed(kernel: Kernel, engine: FakeEngine) -> None:
    task = run(kernel)
    kernel.store.update_task(task.id, stop_requested=True)
    kernel.store.transition(task.id, S.RUNNING, S.STOPPED)  # recorded, but the container stayed
    report = kernel.orchestrator.reconcile()
    assert report.orphans_stopped == [task.handle] and engine.containers == {}


def test_long_finished_tasks_are_not_polled_again(kernel: Kernel, engine: FakeEngine) -> None:
    task = run(kernel)
    engine.containers[task.handle or ""].state = Observed.EXITED
    kernel.orchestrator.reconcile()
    old = kernel.store.get_task(task.id).updated_at - ORPHAN_RECHECK - timedelta(seconds=1)
    with kernel.store.write() as db:
        db.execute("UPDATE tasks SET updated_at = ? WHERE id = ?", [old.isoformat(), task.id])
    polls = 0
    real_poll = engine.poll

    def counting_poll(handle: str, executor: Any) -> Any:
        nonlocal polls
        polls += 1
        return real_poll(handle, executor)

    engine.poll = counting_poll  # type: ignore[method-assign]
    kernel.orchestrator.reconcile()
    assert polls == 0 and task.handle in engine.containers  # kept for its logs, not polled


def test_a_running_container_behind_an_ended_row_is_stopped(kernel: Kernel, engine: FakeEngine) -> None:
    task = run(kernel)
    kernel.store.transition(task.id, S.RUNNING, S.FAILED, error="marked failed by hand")
    report = kernel.orchestrator.reconcile()
    assert report.orphans_stopped == [task.handle]


def test_foreign_container_without_a_row_is_kept(kernel: Kernel, engine: FakeEngine) -> None:
    spec = TaskSpec(
        task_id="a" * 32, name=handle_for("a" * 32), image="x", labels={INSTANCE_LABEL: "elsewhere"}
    )
    engine.start(spec, executor=None)  # type: ignore[arg-type]
    assert kernel.orchestrator.reconcile().orphans_stopped == []
    mine = attrs.evolve(
        spec,
        task_id="b" * 32,
        name=handle_for("b" * 32),
        labels={INSTANCE_LABEL: kernel.orchestrator.instance_id},
    )
    engine.start(mine, executor=None)  # type: ignore[arg-type]
    assert kernel.orchestrator.reconcile().orphans_stopped == [mine.name]


def test_passes_are_jittered_and_faster_while_tasks_start() -> None:
    rng = random.Random(7)
    quiet = [next_delay(15.0, busy=False, rng=rng) for _ in range(200)]
    assert 12.0 <= min(quiet) < max(quiet) <= 18.0 and len(set(quiet)) > 100
    busy = [next_delay(15.0, busy=True, rng=rng) for _ in range(200)]
    assert max(busy) <= FAST_PERIOD * 1.2
    assert max(next_delay(0.5, busy=True, rng=rng) for _ in range(50)) <= 0.6  # never slower when busy
