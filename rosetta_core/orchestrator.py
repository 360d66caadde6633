"""The task lifecycle: the one place where a task's status changes.

::

    created -> queued -> starting -> running -> exited | failed | stopped
                  \\________\\___________\\____> unknown (the backend cannot be asked) -> back

Every transition is a compare-and-set on the task row plus an event row, in one transaction, and
only then are the event hooks called. The backend is asked to act only after the task row records
what it will be known by (the container name, or the job name), so a crash at any point leaves a
row that the next reconcile pass can match with what the engines and schedulers report.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from rosetta_core.engines import (
    INSTANCE_LABEL,
    ContainerEngine,
    Observation,
    Observed,
    Resources,
    TaskSpec,
    handle_for,
    task_id_of,
)
from rosetta_core.errors import (
    BackendError,
    BackendUnavailable,
    ConflictError,
    InvalidTransition,
    NotFoundError,
    PluginError,
    ValidationError,
)
from rosetta_core.executors import Executor
from rosetta_core.model import (
    ACTIVE_STATUSES,
    Computing,
    Software,
    Task,
    TaskEvent,
    TaskOptions,
    TaskStatus,
    new_id,
)
from rosetta_core.serde import structure
from rosetta_core.workload import NO_WORKLOAD_MANAGER, WorkloadManager

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel

log = logging.getLogger(__name__)

S = TaskStatus
ALLOWED: Mapping[TaskStatus, frozenset[TaskStatus]] = {
    S.CREATED: frozenset({S.QUEUED, S.FAILED, S.STOPPED}),
    S.QUEUED: frozenset({S.STARTING, S.RUNNING, S.EXITED, S.FAILED, S.STOPPED, S.UNKNOWN}),
    S.STARTING: frozenset({S.RUNNING, S.EXITED, S.FAILED, S.STOPPED, S.UNKNOWN}),
    S.RUNNING: frozenset({S.EXITED, S.FAILED, S.STOPPED, S.UNKNOWN}),
    S.UNKNOWN: frozenset({S.QUEUED, S.STARTING, S.RUNNING, S.EXITED, S.FAILED, S.STOPPED}),
    S.EXITED: frozenset(),
    S.FAILED: frozenset(),
    S.STOPPED: frozenset(),
}
_STATUS_HOOKS = {
    S.CREATED: "rosetta_task_created",
    S.QUEUED: "rosetta_task_queued",
    S.RUNNING: "rosetta_task_started",
    S.EXITED: "rosetta_task_exited",
    S.FAILED: "rosetta_task_failed",
    S.STOPPED: "rosetta_task_stopped",
}
MAX_START_ATTEMPTS = 3


@attrs.define
class ReconcileReport:
    """What one reconcile pass saw and did."""

    checked: int = 0
    changed: int = 0
    unknown: int = 0
    orphans_stopped: list[str] = attrs.field(factory=list)
    errors: list[str] = attrs.field(factory=list)


class Orchestrator:
    """Creates, starts, stops and reconciles tasks. Safe to call from several threads."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self._lock = threading.RLock()
        self._instance_id: str | None = None

    @property
    def instance_id(self) -> str:
        """This platform instance's id (from the store), labelled on every container it starts."""
        if self._instance_id is None:
            self._instance_id = self.kernel.store.instance_id
        return self._instance_id

    # ---------------------------------------------------------------- creating and starting

    def create_task(
        self,
        *,
        owner: str,
        software: str,
        computing: str,
        name: str | None = None,
        options: TaskOptions | Mapping[str, Any] | None = None,
    ) -> Task:
        """Validate and store a new task (status ``created``); nothing runs yet.

        Raises :class:`ValidationError` for bad options, :class:`NotFoundError` for an unknown
        software or computing resource, :class:`PluginError` when the engine or workload manager
        it needs is not installed. Nothing is written when it raises.
        """
        store = self.kernel.store
        sw = store.get(Software, software)
        comp = store.get(Computing, computing)
        opts = options if isinstance(options, TaskOptions) else structure(dict(options or {}), TaskOptions)
        engine = opts.engine or comp.default_engine
        if engine not in comp.engines:
            raise ValidationError(
                "task options",
                [f"$.engine: {engine!r} is not offered by {comp.name!r} ({', '.join(comp.engines)})"],
            )
        self.kernel.engines.get(engine)
        if comp.workload_manager != NO_WORKLOAD_MANAGER:
            self.kernel.workload_managers.get(comp.workload_manager)
        task_id = new_id()
        fields: dict[str, Any] = {
            "id": task_id,
            "name": name if name is not None else f"{sw.name}-{task_id[:8]}",
            "owner": owner,
            "software": sw.name,
            "computing": comp.name,
            "options": opts,
            "engine": engine,
        }
        task = structure_task(fields)
        event = store.create_task(task, detail="created")
        self._emit(task, event)
        return task

    def start_task(self, task_id: str) -> Task:
        """Queue a created task and start it; returns the task as stored afterwards.

        Backend failures while starting are recorded on the task (``failed`` or ``unknown``), not
        raised.
        """
        with self._lock:
            task = self.kernel.store.get_task(task_id)
            task = self._move(task, S.QUEUED, "accepted")
            return self._advance(task)

    def run_task(self, **create_args: Any) -> Task:
        """Create and start a task in one call (see :meth:`create_task`)."""
        return self.start_task(self.create_task(**create_args).id)

    def build_spec(self, task: Task, software: Software, computing: Computing) -> TaskSpec:
        """The engine-neutral description of ``task``."""
        opts = task.options
        return TaskSpec(
            task_id=task.id,
            name=handle_for(task.id),
            image=software.image_ref,
            interface_port=software.interface_port,
            protocol=software.protocol,
            auth=software.auth,
            env=dict(software.env),
            resources=Resources(
                cpus=opts.cpus,
                memory_mb=opts.memory_mb,
                partition=opts.partition,
                walltime_minutes=opts.walltime_minutes,
            ),
            arch=software.arch,
            labels={"rosetta.task": task.id, "rosetta.owner": task.owner, INSTANCE_LABEL: self.instance_id},
        )

    def _advance(self, task: Task) -> Task:
        """Act on a queued task that the backend has not been asked about yet."""
        try:
            comp, engine, executor, wm = self._backend(task)
            sw = self.kernel.store.get(Software, task.software)
        except (NotFoundError, PluginError, BackendError) as exc:
            return self._move(task, S.FAILED, str(exc), error=str(exc))
        spec = self.build_spec(task, sw, comp)
        if wm is None:
            task = self._move(task, S.STARTING, "starting container", handle=spec.name)
            return self._start_container(task, spec, engine, executor)
        try:
            script = wm.render_script(spec, engine.build_command(spec))
            job_id = wm.submit(script, spec, executor)
        except BackendUnavailable as exc:
            return self._move(task, S.UNKNOWN, f"cannot submit: {exc}")
        except BackendError as exc:
            return self._move(task, S.FAILED, f"submission failed: {exc}", error=f"submission failed: {exc}")
        return self.kernel.store.update_task(task.id, handle=job_id)

    def _start_container(
        self, task: Task, spec: TaskSpec, engine: ContainerEngine, executor: Executor
    ) -> Task:
        try:
            engine.start(spec, executor)
        except BackendUnavailable as exc:
            return self._move(task, S.UNKNOWN, f"cannot reach engine: {exc}")
        except BackendError as exc:
            return self._move(task, S.FAILED, f"start failed: {exc}", error=f"start failed: {exc}")
        return self._observe_one(task, engine, executor)

    # ---------------------------------------------------------------- stopping, logs

    def stop_task(self, task_id: str) -> Task:
        """Stop a task and record ``stopped``. A task already finished is returned unchanged.

        The request is stored before the backend is asked, so a stop cut short (a crash, an
        unreachable backend) is finished by a later reconcile pass. Raises
        :class:`BackendUnavailable`, status unchanged, when the backend cannot be asked now.
        """
        with self._lock:
            task = self.kernel.store.get_task(task_id)
            if task.status.is_terminal:
                return task
            if task.status is S.CREATED:
                return self._move(task, S.STOPPED, "stopped before it ran")
            _, engine, executor, wm = self._backend(task)
            if not task.stop_requested:
                task = self.kernel.store.update_task(task.id, stop_requested=True)
            handle = task.handle
            if handle is None and wm is not None:
                # a submission whose job id was never recorded may still have reached the scheduler
                handle = wm.find_jobs([handle_for(task.id)], executor).get(handle_for(task.id))
            if handle is None:
                return self._move(task, S.STOPPED, "stopped before it ran")
            try:
                if wm is None:
                    engine.stop(handle, executor)
                else:
                    wm.cancel(handle, executor)
            except BackendUnavailable:
                raise
            except BackendError as exc:
                raise BackendError(f"cannot stop task {task.id}: {exc}") from exc
            task = self.kernel.store.get_task(task_id)
            if task.status.is_terminal:
                return task
            return self._move(task, S.STOPPED, "stopped on request")

    def logs(self, task_id: str, *, tail: int = 1000) -> str:
        """The task's output as the engine or scheduler keeps it (at most ``tail`` lines)."""
        task = self.kernel.store.get_task(task_id)
        if task.handle is None:
            return ""
        _, engine, executor, wm = self._backend(task)
        if wm is None:
            return engine.logs(task.handle, executor, tail=tail)
        return wm.logs(task.handle, executor, tail=tail)

    # ---------------------------------------------------------------- reconcile

    def reconcile(self) -> ReconcileReport:
        """Match every active task with what its backend reports, and stop orphan containers.

        One scheduler query per computing resource per pass; a backend that cannot be asked turns
        its tasks ``unknown``, never ``failed``.
        """
        report = ReconcileReport()
        with self._lock:
            store = self.kernel.store
            by_computing: dict[str, list[Task]] = defaultdict(list)
            for task in store.list_tasks(statuses=ACTIVE_STATUSES):
                by_computing[task.computing].append(task)
            computings = {c.name: c for c in store.all(Computing)}
            for name, tasks in by_computing.items():
                report.checked += len(tasks)
                tasks = self._finish_stops(tasks, report)
                comp = computings.get(name)
                if comp is None:
                    for task in tasks:
                        self._unknown(task, f"computing resource {name!r} no longer exists", report)
                    continue
                if comp.workload_manager == NO_WORKLOAD_MANAGER:
                    self._reconcile_direct(tasks, report)
                else:
                    self._reconcile_batch(comp, tasks, report)
            for comp in computings.values():
                if comp.workload_manager == NO_WORKLOAD_MANAGER:
                    self._stop_orphans(comp, report)
        return report

    def run_forever(self, stop: threading.Event, interval: float | None = None) -> None:
        """Reconcile every ``interval`` seconds (the configured one by default) until ``stop`` is set."""
        period = interval if interval is not None else self.kernel.config.rosetta.reconcile_interval
        while not stop.is_set():
            try:
                self.reconcile()
            except Exception:
                log.exception("reconcile pass failed")
            stop.wait(period)

    def _finish_stops(self, tasks: list[Task], report: ReconcileReport) -> list[Task]:
        """Send again the stops that a crash cut short; return the tasks left to observe."""
        left: list[Task] = []
        for task in tasks:
            if not task.stop_requested:
                left.append(task)
                continue
            try:
                if self.stop_task(task.id).status.is_terminal:
                    report.changed += 1
                    continue
            except (BackendError, PluginError, NotFoundError) as exc:
                report.errors.append(f"cannot finish stopping task {task.id}: {exc}")
            left.append(task)
        return left

    def _reconcile_direct(self, tasks: list[Task], report: ReconcileReport) -> None:
        for task in tasks:
            before = task.status
            try:
                _, engine, executor, _ = self._backend(task)
            except (PluginError, NotFoundError, BackendError) as exc:
                self._unknown(task, str(exc), report)
                continue
            task = self._advance(task) if task.handle is None else self._observe_one(task, engine, executor)
            report.changed += task.status is not before
            report.unknown += task.status is S.UNKNOWN

    def _reconcile_batch(self, comp: Computing, tasks: list[Task], report: ReconcileReport) -> None:
        try:
            wm = self.kernel.workload_managers.get(comp.workload_manager)
            executor = self.kernel.executor_for(comp)
        except (PluginError, BackendError) as exc:
            for task in tasks:
                self._unknown(task, str(exc), report)
            return
        unsubmitted = [t for t in tasks if t.handle is None]
        if unsubmitted:
            try:
                found = wm.find_jobs([handle_for(t.id) for t in unsubmitted], executor)
            except BackendError as exc:
                for task in unsubmitted:
                    self._unknown(task, f"cannot ask the scheduler: {exc}", report)
                found = None
            if found is not None:
                for task in unsubmitted:
                    job_id = found.get(handle_for(task.id))
                    if job_id is not None:
                        self.kernel.store.update_task(task.id, handle=job_id)
                    elif task.status in (S.QUEUED, S.UNKNOWN):
                        base = task if task.status is S.QUEUED else self._move(task, S.QUEUED, "resubmitting")
                        self._advance(base)
                        report.changed += 1
        submitted = [self.kernel.store.get_task(t.id) for t in tasks if t.handle is not None]
        if not submitted:
            return
        try:
            answers = wm.query_many([t.handle for t in submitted if t.handle is not None], executor)
        except BackendError as exc:
            for task in submitted:
                self._unknown(task, f"cannot ask the scheduler: {exc}", report)
            return
        for task in submitted:
            assert task.handle is not None
            obs = answers.get(task.handle, Observation(state=Observed.UNKNOWN, detail="no answer for job"))
            before = task.status
            task = self._apply(task, obs, batch=True)
            report.changed += task.status is not before
            report.unknown += task.status is S.UNKNOWN

    def _stop_orphans(self, comp: Computing, report: ReconcileReport) -> None:
        try:
            executor = self.kernel.executor_for(comp)
        except (PluginError, BackendError) as exc:
            report.errors.append(f"{comp.name}: {exc}")
            return
        for engine_name in comp.engines:
            if engine_name not in self.kernel.engines:
                continue
            engine = self.kernel.engines.get(engine_name)
            try:
                handles = engine.list_handles(executor)
            except BackendError as exc:
                report.errors.append(f"{comp.name}/{engine_name}: {exc}")
                continue
            for handle in handles:
                task_id = task_id_of(handle)
                if task_id is None:
                    continue
                try:
                    task: Task | None = self.kernel.store.get_task(task_id)
                except NotFoundError:
                    task = None
                if task is not None and not task.status.is_terminal:
                    continue
                try:
                    obs = engine.poll(handle, executor)
                except BackendError:
                    continue
                if task is None and obs.labels.get(INSTANCE_LABEL) != self.instance_id:
                    continue  # another platform instance's container, or one we cannot vouch for
                if task is not None and task.status is not S.STOPPED and obs.state is not Observed.RUNNING:
                    continue  # a finished task keeps its container for its logs
                try:
                    engine.stop(handle, executor)
                    report.orphans_stopped.append(handle)
                    log.warning("stopped orphan container %s on %s", handle, comp.name)
                except BackendError as exc:
                    report.errors.append(f"cannot stop orphan {handle}: {exc}")

    # ---------------------------------------------------------------- observations

    def _observe_one(self, task: Task, engine: ContainerEngine, executor: Executor) -> Task:
        assert task.handle is not None
        try:
            obs = engine.poll(task.handle, executor)
        except BackendError as exc:
            obs = Observation(state=Observed.UNKNOWN, detail=str(exc))
        if obs.state is Observed.GONE and task.status in (S.STARTING, S.UNKNOWN):
            events = self.kernel.store.task_events(task.id)
            if not any(e.to_status is S.RUNNING for e in events):
                # the start was cut short (a crash, an unreachable engine): start it again
                attempts = sum(1 for e in events if e.to_status is S.STARTING)
                if attempts >= MAX_START_ATTEMPTS:
                    return self._move(
                        task, S.FAILED, "container never appeared", error="the container never started"
                    )
                sw = self.kernel.store.get(Software, task.software)
                comp = self.kernel.store.get(Computing, task.computing)
                log.info(
                    "task %s: container %s missing while starting; starting it again", task.id, task.handle
                )
                if task.status is S.STARTING:
                    task = self._move(task, S.UNKNOWN, "container missing while starting")
                task = self._move(task, S.STARTING, "starting container again")
                return self._start_container(task, self.build_spec(task, sw, comp), engine, executor)
        return self._apply(task, obs, batch=False)

    def _apply(self, task: Task, obs: Observation, *, batch: bool) -> Task:
        """Turn one backend observation into at most one transition."""
        status = task.status
        if obs.state is Observed.UNKNOWN:
            return (
                task
                if status is S.UNKNOWN
                else self._move(task, S.UNKNOWN, obs.detail or "backend unavailable")
            )
        if obs.state is Observed.PENDING:
            target = S.QUEUED if batch else S.STARTING
            return self._move(task, target, obs.detail or "pending") if status is S.UNKNOWN else task
        if obs.state is Observed.RUNNING:
            sw = self.kernel.store.get(Software, task.software)
            has_address = obs.port is not None or sw.interface_port is None
            if has_address:
                if status is S.RUNNING and (obs.host, obs.port) == (task.interface_host, task.interface_port):
                    return task
                if status is S.RUNNING:
                    return self.kernel.store.update_task(
                        task.id, interface_host=obs.host, interface_port=obs.port
                    )
                return self._move(
                    task, S.RUNNING, obs.detail or "running", interface_host=obs.host, interface_port=obs.port
                )
            return (
                task
                if status is S.STARTING
                else self._move(task, S.STARTING, "running, interface not known yet")
            )
        if task.stop_requested and obs.state in (Observed.EXITED, Observed.FAILED, Observed.GONE):
            return self._move(task, S.STOPPED, "stopped on request", exit_code=obs.exit_code)
        if obs.state is Observed.EXITED:
            if obs.exit_code in (0, None):
                return self._move(task, S.EXITED, obs.detail or "exited", exit_code=obs.exit_code)
            reason = f"exited with code {obs.exit_code}"
            return self._move(task, S.FAILED, obs.detail or reason, exit_code=obs.exit_code, error=reason)
        if obs.state is Observed.FAILED:
            reason = obs.detail or "failed"
            return self._move(task, S.FAILED, reason, exit_code=obs.exit_code, error=reason)
        # GONE: the backend positively says it has no such container or job
        reason = "the job is no longer known to the scheduler" if batch else "the container disappeared"
        return self._move(task, S.FAILED, reason, error=reason)

    # ---------------------------------------------------------------- helpers

    def _backend(self, task: Task) -> tuple[Computing, ContainerEngine, Executor, WorkloadManager | None]:
        comp = self.kernel.store.get(Computing, task.computing)
        engine = self.kernel.engines.get(task.engine or comp.default_engine)
        executor = self.kernel.executor_for(comp)
        wm = None
        if comp.workload_manager != NO_WORKLOAD_MANAGER:
            wm = self.kernel.workload_managers.get(comp.workload_manager)
        return comp, engine, executor, wm

    def _unknown(self, task: Task, detail: str, report: ReconcileReport) -> None:
        report.unknown += 1
        if task.status is not S.UNKNOWN:
            self._move(task, S.UNKNOWN, detail)
            report.changed += 1

    def _move(self, task: Task, to: TaskStatus, detail: str, **changes: Any) -> Task:
        """Persist one transition (with its event), then call the hooks. Re-reads on a lost race."""
        if to not in ALLOWED[task.status]:
            current = self.kernel.store.get_task(task.id)
            if current.status is not task.status and to in ALLOWED[current.status]:
                task = current
            else:
                raise InvalidTransition(f"task {task.id} cannot go from {task.status.value} to {to.value}")
        try:
            updated, event = self.kernel.store.transition(
                task.id, task.status, to, detail=detail[:2000], **changes
            )
        except InvalidTransition:
            current = self.kernel.store.get_task(task.id)
            if to not in ALLOWED[current.status]:
                raise
            updated, event = self.kernel.store.transition(
                task.id, current.status, to, detail=detail[:2000], **changes
            )
        self._emit(updated, event)
        return updated

    def _emit(self, task: Task, event: TaskEvent) -> None:
        hook = self.kernel.pm.hook
        try:
            hook.rosetta_task_event(task=task, event=event, kernel=self.kernel)
            name = _STATUS_HOOKS.get(event.to_status)
            if name is not None:
                getattr(hook, name)(task=task, kernel=self.kernel)
        except Exception:
            # the transition is committed; a failing observer must not undo or block it
            log.exception("a task event hook failed for task %s (%s)", task.id, event.to_status.value)


def structure_task(fields: Mapping[str, Any]) -> Task:
    """Build a new task, reporting bad fields as :class:`ValidationError`."""
    try:
        return Task(**fields)
    except (TypeError, ValueError) as exc:
        field = getattr(exc, "field", None)
        raise ValidationError("task", [f"$.{field}: {exc}" if field else f"$: {exc}"]) from None


__all__ = ["ALLOWED", "ConflictError", "Orchestrator", "ReconcileReport", "structure_task"]
