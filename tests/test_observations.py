"""How one backend observation becomes at most one transition."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import add_defaults
from rosetta_core import hookimpl
from rosetta_core.engines import Observation, Observed
from rosetta_core.kernel import Kernel
from rosetta_core.model import Task, TaskStatus
from rosetta_core.observations import MAX_START_ATTEMPTS
from rosetta_core.testing import FakeEngine

S = TaskStatus


@pytest.fixture
def kernel(rosetta_kernel_factory: Callable[..., Kernel]) -> Kernel:
    engine = FakeEngine()

    class Plugin:
        @hookimpl
        def rosetta_register_engines(self, register: Callable[[str, Any], None]) -> None:
            register("fake", engine)

    kernel = rosetta_kernel_factory({"fake": Plugin()}, core_options={"action_lease": 0})
    add_defaults(kernel)
    return kernel


def task_in(kernel: Kernel, status: TaskStatus) -> Task:
    task = kernel.orchestrator.create_task(owner="ada", software="web", computing="box")
    path = {
        S.CREATED: [],
        S.QUEUED: [S.QUEUED],
        S.STARTING: [S.QUEUED, S.STARTING],
        S.RUNNING: [S.QUEUED, S.STARTING, S.RUNNING],
        S.UNKNOWN: [S.QUEUED, S.STARTING, S.UNKNOWN],
    }[status]
    for to in path:
        task, _ = kernel.store.transition(task.id, task.status, to, handle="rosetta-" + task.id)
    return task


@pytest.mark.parametrize(
    ("status", "obs", "batch", "expected"),
    [
        (S.RUNNING, Observation(state=Observed.UNKNOWN), False, S.UNKNOWN),
        (S.UNKNOWN, Observation(state=Observed.UNKNOWN), False, S.UNKNOWN),
        (S.UNKNOWN, Observation(state=Observed.RUNNING, host="h", port=9), False, S.RUNNING),
        (S.STARTING, Observation(state=Observed.RUNNING, host="h"), False, S.STARTING),  # no port yet
        (S.STARTING, Observation(state=Observed.RUNNING, host="h", port=9), False, S.RUNNING),
        (S.QUEUED, Observation(state=Observed.PENDING), True, S.QUEUED),
        (S.RUNNING, Observation(state=Observed.PENDING), True, S.QUEUED),  # requeued by the scheduler
        (S.RUNNING, Observation(state=Observed.PENDING), False, S.RUNNING),
        (S.RUNNING, Observation(state=Observed.EXITED, exit_code=0), False, S.EXITED),
        (S.RUNNING, Observation(state=Observed.EXITED, exit_code=137), False, S.FAILED),
        (S.RUNNING, Observation(state=Observed.FAILED, detail="oom"), True, S.FAILED),
        (S.RUNNING, Observation(state=Observed.GONE), False, S.FAILED),
        (S.QUEUED, Observation(state=Observed.GONE), True, S.QUEUED),  # once is not enough
    ],
)
def test_observation_to_status(
    kernel: Kernel, status: TaskStatus, obs: Observation, batch: bool, expected: TaskStatus
) -> None:
    task = task_in(kernel, status)
    after = kernel.orchestrator.apply(task, obs, batch=batch)
    assert after.status is expected
    events = kernel.store.task_events(task.id)
    assert len(events) == len({e.seq for e in events})  # at most one transition, recorded once
    assert (events[-1].to_status is expected) or after.status is status


def test_a_start_never_seen_is_tried_at_most_three_times(kernel: Kernel) -> None:
    engine = kernel.engines.get("fake")
    assert isinstance(engine, FakeEngine)
    task = kernel.orchestrator.create_task(owner="ada", software="web", computing="box")
    kernel.store.transition(task.id, S.CREATED, S.QUEUED)
    kernel.store.transition(
        task.id, S.QUEUED, S.STARTING, handle=f"rosetta-{task.id}", detail="starting container"
    )
    real_start = engine.start
    engine.start = lambda spec, executor: spec.name  # type: ignore[method-assign]  # "starts", nothing appears
    for _ in range(MAX_START_ATTEMPTS + 1):
        kernel.orchestrator.reconcile()
    got = kernel.store.get_task(task.id)
    assert got.status is S.FAILED and got.error == "the container never started"
    engine.start = real_start  # type: ignore[method-assign]


def test_a_batch_job_ends_only_when_the_scheduler_says_gone_twice_in_a_row(kernel: Kernel) -> None:
    task = task_in(kernel, S.RUNNING)
    gone = Observation(state=Observed.GONE)
    task = kernel.orchestrator.apply(task, gone, batch=True)
    assert task.status is S.RUNNING
    task = kernel.orchestrator.apply(task, Observation(state=Observed.RUNNING, host="h", port=9), batch=True)
    task = kernel.orchestrator.apply(task, gone, batch=True)  # not twice in a row: noted again
    assert task.status is S.RUNNING
    task = kernel.orchestrator.apply(task, gone, batch=True)
    assert task.status is S.FAILED and task.error == "the job is no longer known to the scheduler"
