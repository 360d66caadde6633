"""Turning what a backend reports into task transitions.

One observation (a container's or a job's state) leads to at most one transition. A directly run
container that is missing while its task was starting, and never ran, is started again: the start
was cut short by a crash or an unreachable engine.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rosetta_core.engines import ContainerEngine, Observation, Observed
from rosetta_core.errors import BackendError
from rosetta_core.executors import Executor
from rosetta_core.model import Computing, Software, Task, TaskEvent, TaskStatus

if TYPE_CHECKING:
    from rosetta_core.orchestrator import Orchestrator

log = logging.getLogger(__name__)
S = TaskStatus

MAX_START_ATTEMPTS = 3
GONE_ONCE = "the scheduler does not know the job (once; it ends the task if the next pass agrees)"
STARTING_DETAIL = "starting container"
"""The detail of the events of starts the orchestrator made (counted against the limit)."""


class Observer:
    """Applies observations for an :class:`~rosetta_core.orchestrator.Orchestrator`."""

    def __init__(self, orchestrator: Orchestrator) -> None:
        self.orchestrator = orchestrator
        self._gone_count: dict[str, int] = {}

    def observe_container(self, task: Task, engine: ContainerEngine, executor: Executor) -> Task:
        """Poll a directly run task's container and apply the answer."""
        assert task.handle is not None
        try:
            obs = engine.poll(task.handle, executor)
        except BackendError as exc:
            obs = Observation(state=Observed.UNKNOWN, detail=str(exc))
        if obs.state is Observed.GONE and task.status in (S.STARTING, S.UNKNOWN) and not task.stop_requested:
            events = self.orchestrator.kernel.store.task_events(task.id)
            if not any(e.to_status is S.RUNNING for e in events):
                return self._restart(task, events, engine, executor)
        return self.apply(task, obs, batch=False)

    def _restart(
        self, task: Task, events: list[TaskEvent], engine: ContainerEngine, executor: Executor
    ) -> Task:
        """Start again a container whose start was cut short (a crash, an unreachable engine)."""
        if not self.orchestrator.lease_expired(task):
            return task  # a start may still be under way elsewhere
        if sum(1 for e in events if e.detail.startswith(STARTING_DETAIL)) >= MAX_START_ATTEMPTS:
            return self.orchestrator.move(
                task, S.FAILED, "container never appeared", error="the container never started"
            )
        sw = self.orchestrator.kernel.store.get(Software, task.software)
        comp = self.orchestrator.kernel.store.get(Computing, task.computing)
        log.info("task %s: container %s missing while starting; starting it again", task.id, task.handle)
        if task.status is S.STARTING:
            task = self.orchestrator.move(task, S.UNKNOWN, "container missing while starting")
        task = self.orchestrator.move(task, S.STARTING, f"{STARTING_DETAIL} again")
        return self.orchestrator.start_container(
            task, self.orchestrator.build_spec(task, sw, comp), engine, executor
        )

    def apply(self, task: Task, obs: Observation, *, batch: bool) -> Task:
        """Turn one backend observation into at most one transition.

        A batch job the scheduler says it does not know ends its task only when two answers in a
        row say so (counted in this process: a restart starts counting again).
        """
        if obs.state is not Observed.GONE:
            self._gone_count.pop(task.id, None)
        status = task.status
        if obs.state is Observed.UNKNOWN:
            return (
                task
                if status is S.UNKNOWN
                else self.orchestrator.move(task, S.UNKNOWN, obs.detail or "backend unavailable")
            )
        if obs.state is Observed.PENDING:
            if status is S.UNKNOWN or (batch and status in (S.STARTING, S.RUNNING)):
                target = S.QUEUED if batch else S.STARTING
                return self.orchestrator.move(
                    task, target, obs.detail or "pending", interface_host=None, interface_port=None
                )
            return task
        if obs.state is Observed.RUNNING:
            return self._apply_running(task, obs)
        if obs.state is Observed.EXITED:
            if obs.exit_code in (0, None):
                return self.orchestrator.move(task, S.EXITED, obs.detail or "exited", exit_code=obs.exit_code)
            reason = f"exited with code {obs.exit_code}"
            return self.orchestrator.move(
                task, S.FAILED, obs.detail or reason, exit_code=obs.exit_code, error=reason
            )
        if obs.state is Observed.FAILED:
            reason = obs.detail or "failed"
            return self.orchestrator.move(task, S.FAILED, reason, exit_code=obs.exit_code, error=reason)
        # GONE: the backend positively says it has no such container or job
        if batch and self._gone_count.get(task.id, 0) < 1:
            # a scheduler may briefly not list a job (a restart, a slow accounting database):
            # note it and end the task only if the next answer about it says the same
            self._gone_count[task.id] = 1
            self.orchestrator.note(task.id, GONE_ONCE)
            return self.orchestrator.kernel.store.get_task(task.id)
        self._gone_count.pop(task.id, None)
        reason = "the job is no longer known to the scheduler" if batch else "the container disappeared"
        return self.orchestrator.move(task, S.FAILED, reason, error=reason)

    def _apply_running(self, task: Task, obs: Observation) -> Task:
        sw = self.orchestrator.kernel.store.get(Software, task.software)
        if obs.port is None and sw.interface_port is not None:
            # the job or container runs, but where its interface listens is not known (yet)
            if task.status in (S.STARTING, S.RUNNING):
                return task
            return self.orchestrator.move(task, S.STARTING, "running, interface not known yet")
        if task.status is S.RUNNING:
            if (obs.host, obs.port) == (task.interface_host, task.interface_port):
                return task
            return self.orchestrator.kernel.store.update_task(
                task.id, interface_host=obs.host, interface_port=obs.port
            )
        return self.orchestrator.move(
            task, S.RUNNING, obs.detail or "running", interface_host=obs.host, interface_port=obs.port
        )
