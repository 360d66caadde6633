"""The reconcile pass: compare the store with what engines and schedulers report, and act.

A pass asks each computing resource's scheduler once (``query_many``), polls each directly run
container, finishes stops that were cut short, finds submissions whose job id was never recorded,
and stops containers this platform instance started but no longer tracks. A problem with one task
(a lost race with another process, a deleted record, an unreachable backend) is recorded in the
report and never stops the pass.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

import attrs

from rosetta_core.engines import (
    INSTANCE_LABEL,
    ContainerEngine,
    Observation,
    Observed,
    handle_for,
    task_id_of,
)
from rosetta_core.errors import AccountRequired, BackendError, ConflictError, NotFoundError, PluginError
from rosetta_core.executors import Executor
from rosetta_core.model import ACTIVE_STATUSES, Computing, Task, TaskStatus, utcnow
from rosetta_core.workload import NO_WORKLOAD_MANAGER, WorkloadManager

if TYPE_CHECKING:
    from rosetta_core.orchestrator import Orchestrator

log = logging.getLogger(__name__)
S = TaskStatus

ORPHAN_RECHECK = timedelta(minutes=10)
"""How long after a task ended its container is still checked for running on (it is kept for its
logs); past that, only containers with no row or a ``stopped`` row are looked at."""


FAST_PERIOD = 2.0
JITTER = 0.2


def next_delay(period: float, *, busy: bool, rng: random.Random | None = None) -> float:
    """Seconds until the next pass: ``period`` (at most ``FAST_PERIOD`` while tasks are queued or
    starting, so a user sees their task come up quickly), spread by ±20% so that many platforms,
    or many resources, do not ask their schedulers in step."""
    base = min(period, FAST_PERIOD) if busy else period
    return base * (rng or random).uniform(1 - JITTER, 1 + JITTER)


@attrs.define
class ReconcileReport:
    """What one reconcile pass saw and did."""

    checked: int = 0
    changed: int = 0
    unknown: int = 0
    orphans_stopped: list[str] = attrs.field(factory=list)
    errors: list[str] = attrs.field(factory=list)


class Reconciler:
    """Runs reconcile passes for an :class:`~rosetta_core.orchestrator.Orchestrator`."""

    def __init__(self, orchestrator: Orchestrator) -> None:
        self.orchestrator = orchestrator
        self._unreachable: set[tuple[str, str, int]] = set()

    def run_pass(self) -> ReconcileReport:
        report = ReconcileReport()
        self._unreachable = set()
        store = self.orchestrator.kernel.store
        by_computing: dict[str, list[Task]] = defaultdict(list)
        for task in store.list_tasks(statuses=ACTIVE_STATUSES):
            by_computing[task.computing].append(task)
        computings = {c.name: c for c in store.all(Computing)}
        for name, tasks in by_computing.items():
            report.checked += len(tasks)
            comp = computings.get(name)
            if comp is None:
                for task in tasks:
                    self._guard(
                        report, task, partial(self._unknown, task, f"computing resource {name!r} is gone")
                    )
                continue
            tasks = self._finish_stops(tasks, report)
            if comp.workload_manager == NO_WORKLOAD_MANAGER:
                for task in tasks:
                    self._guard(report, task, partial(self._direct, task))
            else:
                self._batch(comp, tasks, report)
        for comp in computings.values():
            if comp.workload_manager == NO_WORKLOAD_MANAGER:
                self._stop_orphans(comp, report)
        return report

    # ---------------------------------------------------------------- per task

    def _guard(self, report: ReconcileReport, task: Task, action: Callable[[], Task]) -> Task | None:
        """Run one task's step; record, never raise, what goes wrong."""
        try:
            after = action()
        except ConflictError as exc:
            report.errors.append(f"task {task.id}: changed by another writer during the pass ({exc})")
            return None
        except (NotFoundError, PluginError, BackendError) as exc:
            report.errors.append(f"task {task.id}: {exc}")
            return None
        except Exception as exc:
            # a plugin's bug (or bad data from it) must cost one task its turn, not the whole pass
            log.exception("reconciling task %s failed", task.id)
            report.errors.append(f"task {task.id}: {type(exc).__name__}: {exc}")
            return None
        report.changed += after.status is not task.status
        report.unknown += after.status is S.UNKNOWN
        return after

    def _unknown(self, task: Task, detail: str) -> Task:
        return task if task.status is S.UNKNOWN else self.orchestrator.move(task, S.UNKNOWN, detail)

    def _finish_stops(self, tasks: list[Task], report: ReconcileReport) -> list[Task]:
        """Send again the stops that a crash cut short; return the tasks left to observe."""
        left: list[Task] = []
        for task in tasks:
            if not task.stop_requested:
                left.append(task)
                continue
            after = self._guard(report, task, partial(self.orchestrator.stop_task, task.id))
            if after is None or not after.status.is_terminal:
                left.append(task)
        return left

    def _direct(self, task: Task) -> Task:
        orchestrator = self.orchestrator
        try:
            _, engine, executor, _ = orchestrator.backend(task)
        except (PluginError, NotFoundError) as exc:
            return self._unknown(task, str(exc))  # an uninstalled engine says nothing about the container
        if task.handle is None:
            # never started: start it now (after an outage that left it unknown too)
            if task.status is S.UNKNOWN:
                task = orchestrator.move(task, S.QUEUED, "starting after an outage")
            return orchestrator.advance(task)
        key = (task.computing, engine.name, id(executor))
        if key in self._unreachable:
            # one timeout per engine per pass, not one per task
            return self._unknown(
                task, f"engine {engine.name!r} on {task.computing!r} did not answer in this pass"
            )
        after = orchestrator.observe_container(task, engine, executor)
        if after.status is S.UNKNOWN:
            self._unreachable.add(key)
        return after

    # ---------------------------------------------------------------- batch

    def _batch(self, comp: Computing, tasks: list[Task], report: ReconcileReport) -> None:
        """One scheduler query per account on ``comp`` (one in all where the platform's is used)."""
        kernel = self.orchestrator.kernel
        try:
            wm = kernel.workload_managers.get(comp.workload_manager)
        except PluginError as exc:
            for task in tasks:
                self._guard(report, task, partial(self._unknown, task, str(exc)))
            return
        groups: dict[int, tuple[Executor, list[Task]]] = {}
        for task in tasks:
            try:
                executor = kernel.executor_for(comp, task.owner)
            except (PluginError, BackendError) as exc:
                self._guard(report, task, partial(self._unknown, task, str(exc)))
                continue
            groups.setdefault(id(executor), (executor, []))[1].append(task)
        for executor, group in groups.values():
            self._batch_group(wm, executor, group, report)

    def _batch_group(
        self, wm: WorkloadManager, executor: Executor, tasks: list[Task], report: ReconcileReport
    ) -> None:
        orchestrator = self.orchestrator
        kernel = orchestrator.kernel
        unsubmitted = [t for t in tasks if t.handle is None]
        claimed = {handle_for(t.id): t for t in tasks if t.handle == handle_for(t.id)}
        submitted = [t for t in tasks if t.handle is not None and t.handle != handle_for(t.id)]
        for task in unsubmitted:
            self._guard(report, task, partial(self._submit_unsubmitted, task))
        if claimed:
            # only after a crash or an unreachable scheduler: look the jobs up by name
            try:
                found = wm.find_jobs(list(claimed), executor)
            except BackendError as exc:
                for task in claimed.values():
                    self._guard(
                        report, task, partial(self._unknown, task, f"cannot ask the scheduler: {exc}")
                    )
            else:
                for name, task in claimed.items():
                    job_id = found.get(name)
                    if job_id is not None:
                        self._guard(
                            report, task, partial(orchestrator.record_job, task, job_id, wm, executor)
                        )
                    elif orchestrator.lease_expired(task):
                        # never submit twice: a job that finished and left the queue would run again
                        reason = (
                            "the submission was interrupted and no job can be found; run the software again"
                        )
                        self._guard(
                            report, task, partial(orchestrator.move, task, S.FAILED, reason, error=reason)
                        )
        if not submitted:
            return
        try:
            answers = wm.query_many([t.handle for t in submitted if t.handle is not None], executor)
        except BackendError as exc:
            for task in submitted:
                self._guard(report, task, partial(self._unknown, task, f"cannot ask the scheduler: {exc}"))
            return
        for task in submitted:
            assert task.handle is not None
            obs = answers.get(
                task.handle, Observation(state=Observed.UNKNOWN, detail="no answer for this job")
            )
            obs = kernel.agents.refine(task, obs, executor)
            self._guard(report, task, partial(orchestrator.apply, task, obs, batch=True))

    def _submit_unsubmitted(self, task: Task) -> Task:
        if task.status is S.UNKNOWN:
            task = self.orchestrator.move(task, S.QUEUED, "submitting after an outage")
        return self.orchestrator.advance(task)

    # ---------------------------------------------------------------- orphans

    def _stop_orphans(self, comp: Computing, report: ReconcileReport) -> None:
        """Sweep ``comp`` once per distinct executor: the platform's, and each task owner's."""
        kernel = self.orchestrator.kernel
        executors: dict[int, Executor] = {}
        for owner in (None, *kernel.store.task_owners(comp.name)):
            try:
                executor = kernel.executor_for(comp, owner)
            except AccountRequired:
                continue  # each user's own account: swept below through the owners
            except (PluginError, BackendError) as exc:
                report.errors.append(f"{comp.name}: {exc}")
                continue
            executors.setdefault(id(executor), executor)
        for executor in executors.values():
            self._sweep(comp, executor, report)

    def _sweep(self, comp: Computing, executor: Executor, report: ReconcileReport) -> None:
        kernel = self.orchestrator.kernel
        for engine_name in comp.engines:
            if engine_name not in kernel.engines:
                continue
            engine = kernel.engines.get(engine_name)
            try:
                handles = engine.list_handles(executor)
            except BackendError as exc:
                report.errors.append(f"{comp.name}/{engine_name}: {exc}")
                continue
            for handle in handles:
                if self._is_orphan(handle, engine, executor):
                    try:
                        engine.stop(handle, executor)
                    except BackendError as exc:
                        report.errors.append(f"cannot stop orphan {handle}: {exc}")
                        continue
                    report.orphans_stopped.append(handle)
                    log.warning("stopped orphan container %s on %s", handle, comp.name)

    def _is_orphan(self, handle: str, engine: ContainerEngine, executor: Executor) -> bool:
        task_id = task_id_of(handle)
        if task_id is None:
            return False
        try:
            task: Task | None = self.orchestrator.kernel.store.get_task(task_id)
        except NotFoundError:
            task = None
        if task is not None:
            if task.status is S.STOPPED:
                return True
            if not task.status.is_terminal or utcnow() - task.updated_at > ORPHAN_RECHECK:
                return False  # active, or long finished and kept for its logs
        try:
            obs = engine.poll(handle, executor)
        except BackendError:
            return False
        if task is None:
            # no row: stop it only if this instance started it; another may share the engine
            return bool(obs.labels.get(INSTANCE_LABEL) == self.orchestrator.instance_id)
        return bool(obs.state is Observed.RUNNING)  # a row that says it ended, a container that runs
