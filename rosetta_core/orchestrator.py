"""The task lifecycle: the one place where a task's status changes.

::

    created -> queued -> starting -> running -> exited | failed | stopped
                  \\________\\___________\\____> unknown (the backend cannot be asked) -> back

Every transition is a compare-and-set on the task row plus an event row, in one transaction, and
only then are the event hooks called. A transition that loses a race (another thread or process
moved the task first) raises :class:`~rosetta_core.errors.InvalidTransition` and changes nothing:
the next reconcile pass looks again. The backend is asked to act only after the task row records
what the backend will know it by (the container name, or a claim on the job name), so a crash at
any point leaves a row that the next pass can match with what engines and schedulers report.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rosetta_core.engines import (
    ContainerEngine,
    Observation,
    ProgressReport,
    PullingEngine,
    TaskSpec,
    handle_for,
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
    AuthConvention,
    Computing,
    Software,
    Storage,
    Task,
    TaskEvent,
    TaskOptions,
    TaskStatus,
    new_id,
    utcnow,
)
from rosetta_core.observations import MAX_START_ATTEMPTS, STARTING_DETAIL, Observer
from rosetta_core.reconcile import Reconciler, ReconcileReport, next_delay
from rosetta_core.serde import structure
from rosetta_core.specs import build_spec, new_token
from rosetta_core.workload import NO_WORKLOAD_MANAGER, WorkloadManager

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel

log = logging.getLogger(__name__)

S = TaskStatus
ALLOWED: Mapping[TaskStatus, frozenset[TaskStatus]] = {
    S.CREATED: frozenset({S.QUEUED, S.FAILED, S.STOPPED}),
    S.QUEUED: frozenset({S.STARTING, S.RUNNING, S.EXITED, S.FAILED, S.STOPPED, S.UNKNOWN}),
    # back to queued: a scheduler may requeue a job (preemption, node failure)
    S.STARTING: frozenset({S.QUEUED, S.RUNNING, S.EXITED, S.FAILED, S.STOPPED, S.UNKNOWN}),
    S.RUNNING: frozenset({S.QUEUED, S.EXITED, S.FAILED, S.STOPPED, S.UNKNOWN}),
    S.UNKNOWN: frozenset({S.QUEUED, S.STARTING, S.RUNNING, S.EXITED, S.FAILED, S.STOPPED}),
    S.EXITED: frozenset(),
    S.FAILED: frozenset(),
    S.STOPPED: frozenset(),
}
PROGRESS_INTERVAL = 1.0  # seconds between two progress events of one task

_STATUS_HOOKS = {
    S.CREATED: "rosetta_task_created",
    S.QUEUED: "rosetta_task_queued",
    S.RUNNING: "rosetta_task_started",
    S.EXITED: "rosetta_task_exited",
    S.FAILED: "rosetta_task_failed",
    S.STOPPED: "rosetta_task_stopped",
}

__all__ = ["ALLOWED", "MAX_START_ATTEMPTS", "Orchestrator", "ReconcileReport", "structure_task"]


class Orchestrator:
    """Creates, starts, stops and reconciles tasks. Safe to call from several threads, and from
    several processes sharing one store (the compare-and-set transitions arbitrate)."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self._lock = threading.RLock()
        self._instance_id: str | None = None
        self._reconciler = Reconciler(self)
        self._observer = Observer(self)

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
            offered = ", ".join(comp.engines)
            raise ValidationError(
                "task options", [f"$.engine: {engine!r} is not offered by {comp.name!r} ({offered})"]
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
            "auth_token": new_token() if sw.auth is not AuthConvention.NONE else None,
        }
        task = structure_task(fields)
        event = store.create_task(task, detail="created")
        self._emit(task, event)
        return task

    def start_task(self, task_id: str) -> Task:
        """Queue a ``created`` task and start it; returns the task as stored afterwards.

        Raises :class:`InvalidTransition` for a task that is not ``created`` (a task is started at
        most once). Backend failures while starting are recorded on the task (``failed`` or
        ``unknown``), not raised.
        """
        with self._lock:
            task = self.kernel.store.get_task(task_id)
            if task.status is not S.CREATED:
                raise InvalidTransition(
                    f"task {task.id} is {task.status.value}; only a created task can be started"
                )
            task = self.move(task, S.QUEUED, "accepted")
            try:
                return self.advance(task)
            except ConflictError:
                # another process (a reconcile pass) took the task over: report what it did
                return self.kernel.store.get_task(task_id)

    def run_task(self, **create_args: Any) -> Task:
        """Create and start a task in one call (see :meth:`create_task`)."""
        return self.start_task(self.create_task(**create_args).id)

    def build_spec(self, task: Task, software: Software, computing: Computing) -> TaskSpec:
        """The engine-neutral description of ``task`` (see :mod:`rosetta_core.specs`)."""
        store = self.kernel.store
        account = store.account(task.owner, computing.name)
        return build_spec(task, software, computing, store.all(Storage), self.instance_id, account)

    def advance(self, task: Task) -> Task:
        """Act on a queued task that the backend has not been asked about yet."""
        try:
            comp, engine, executor, wm = self.backend(task)
            sw = self.kernel.store.get(Software, task.software)
        except (NotFoundError, PluginError, BackendError) as exc:
            return self.move(task, S.FAILED, str(exc), error=str(exc))
        spec = self.build_spec(task, sw, comp)
        if wm is None:
            task = self.move(task, S.STARTING, STARTING_DETAIL, handle=spec.name)
            if isinstance(engine, PullingEngine):
                try:
                    engine.pull(spec, executor, self._progress_reporter(task))
                except BackendUnavailable as exc:
                    reason = f"engine {engine.name!r} is not available: {exc}"
                    return self.move(self.kernel.store.get_task(task.id), S.FAILED, reason, error=reason)
                except BackendError as exc:
                    reason = f"cannot get image {spec.image}: {exc}"
                    return self.move(self.kernel.store.get_task(task.id), S.FAILED, reason, error=reason)
            return self.start_container(task, spec, engine, executor)
        return self._submit(task, spec, engine, executor, wm)

    def _progress_reporter(self, task: Task) -> ProgressReport:
        """A progress callback recording at most one event a second (and always the first)."""
        last = [0.0]

        def report(line: str) -> None:
            now = time.monotonic()
            if now - last[0] < PROGRESS_INTERVAL:
                return
            last[0] = now
            self.note(task.id, line)

        return report

    def note(self, task_id: str, detail: str) -> None:
        """Record a progress event on a task and call ``rosetta_task_progress``."""
        event = self.kernel.store.note(task_id, detail)
        task = self.kernel.store.get_task(task_id)
        try:
            self.kernel.pm.hook.rosetta_task_progress(task=task, event=event, kernel=self.kernel)
        except Exception:
            log.exception("a task progress hook failed for task %s", task_id)

    def _submit(
        self, task: Task, spec: TaskSpec, engine: ContainerEngine, executor: Executor, wm: WorkloadManager
    ) -> Task:
        store = self.kernel.store
        # claim the submission first: a second process, or a pass after a crash, finds the claim
        # (the job name) and looks the job up instead of submitting it again
        if not store.claim_handle(task.id, spec.name):
            return store.get_task(task.id)
        try:
            argv = self.kernel.agents.launch_argv(spec, engine, executor, task)
            job_id = wm.submit(wm.render_script(spec, argv), spec, executor)
        except BackendUnavailable as exc:
            return self.move(store.get_task(task.id), S.UNKNOWN, f"cannot reach the scheduler: {exc}")
        except BackendError as exc:
            return self.move(
                store.get_task(task.id),
                S.FAILED,
                f"submission failed: {exc}",
                error=f"submission failed: {exc}",
            )
        return self.record_job(store.get_task(task.id), job_id, wm, executor)

    def record_job(self, task: Task, job_id: str, wm: WorkloadManager, executor: Executor) -> Task:
        """Store the scheduler's job id; cancel the job at once if a stop came meanwhile."""
        task = self.kernel.store.update_task(task.id, handle=job_id)
        if task.status.is_terminal or task.stop_requested:
            try:
                wm.cancel(job_id, executor)
            except BackendError as exc:
                log.warning("cannot cancel job %s of stopped task %s: %s", job_id, task.id, exc)
            return task if task.status.is_terminal else self._settle_stop(task.id, "stopped on request")
        if task.status is S.UNKNOWN:
            return self.move(task, S.QUEUED, f"submitted as job {job_id}")
        return task

    def start_container(
        self, task: Task, spec: TaskSpec, engine: ContainerEngine, executor: Executor
    ) -> Task:
        try:
            engine.start(spec, executor)
        except BackendUnavailable as exc:
            # a task is not left waiting on an engine that is down: it fails, naming the engine
            # and the cause; should the container exist after all, the orphan sweep removes it
            reason = f"engine {engine.name!r} is not available: {exc}"
            return self.move(task, S.FAILED, reason, error=reason)
        except BackendError as exc:
            return self.move(task, S.FAILED, f"start failed: {exc}", error=f"start failed: {exc}")
        fresh = self.kernel.store.get_task(task.id)
        if fresh.status.is_terminal or fresh.stop_requested:
            # a stop arrived while the engine was starting the container: it must not run on
            try:
                engine.stop(spec.name, executor)
            except BackendError as exc:
                log.warning("cannot stop container %s of stopped task %s: %s", spec.name, task.id, exc)
            return fresh if fresh.status.is_terminal else self._settle_stop(task.id, "stopped on request")
        return self.observe_container(fresh, engine, executor)

    # ---------------------------------------------------------------- stopping, logs

    def stop_task(self, task_id: str) -> Task:
        """Stop a task and record ``stopped``. A task already finished is returned unchanged.

        The request is stored before the backend is asked, so a stop cut short (a crash, an
        unreachable backend, a submission still under way elsewhere) is finished by a later
        reconcile pass, and the task then ends ``stopped`` whatever the container did meanwhile;
        until then the task is returned with ``stop_requested`` set and its status unchanged.
        Raises :class:`BackendUnavailable`, status unchanged, when the backend cannot be asked now.
        """
        with self._lock:
            store = self.kernel.store
            task = store.get_task(task_id)
            if task.status.is_terminal:
                return task
            if task.status is S.CREATED:
                try:
                    return self.move(task, S.STOPPED, "stopped before it ran")
                except InvalidTransition:
                    task = store.get_task(task_id)  # started meanwhile by another process
                    if task.status.is_terminal:
                        return task
            if not task.stop_requested:
                task = store.update_task(task.id, stop_requested=True)
            if task.handle is None:
                # never started or submitted; a starter still busy elsewhere sees the request
                return self._settle_stop(task_id, "stopped before it ran")
            _, engine, executor, wm = self.backend(task)
            handle: str | None = task.handle
            if wm is not None and handle == handle_for(task.id):
                # a claimed submission: the job may exist without its id recorded
                handle = wm.find_jobs([handle], executor).get(handle)
                if handle is None:
                    if not self.lease_expired(task):
                        return task  # sbatch may still be running elsewhere: a later pass finishes
                    return self._settle_stop(task_id, "stopped; the interrupted submission left no job")
                task = store.update_task(task.id, handle=handle)
            assert handle is not None
            try:
                if wm is None:
                    engine.stop(handle, executor)
                else:
                    wm.cancel(handle, executor)
            except BackendUnavailable:
                raise
            except BackendError as exc:
                raise BackendError(f"cannot stop task {task.id}: {exc}") from exc
            return self._settle_stop(task_id, "stopped on request")

    def _settle_stop(self, task_id: str, detail: str) -> Task:
        """Record ``stopped`` on the row as it is now (a few tries if other writers touch it)."""
        for _ in range(5):
            task = self.kernel.store.get_task(task_id)
            if task.status.is_terminal:
                return task
            try:
                return self.move(task, S.STOPPED, detail)
            except InvalidTransition:
                continue
        return self.kernel.store.get_task(task_id)

    def logs(self, task_id: str, *, tail: int = 1000) -> str:
        """The task's output as the engine or scheduler keeps it (at most ``tail`` lines)."""
        task = self.kernel.store.get_task(task_id)
        if task.handle is None:
            return ""
        _, engine, executor, wm = self.backend(task)
        if wm is None:
            return engine.logs(task.handle, executor, tail=tail)
        if task.handle == handle_for(task.id):
            return ""  # submitted, job id not known yet
        return wm.logs(task.handle, executor, tail=tail)

    # ---------------------------------------------------------------- reconcile

    def reconcile(self) -> ReconcileReport:
        """Match every active task with what its backend reports, and stop orphan containers.

        One scheduler query per computing resource per pass; a backend that cannot be asked turns
        its tasks ``unknown``, never ``failed``. A problem with one task is recorded in the report
        and never stops the pass.
        """
        with self._lock:
            return self._reconciler.run_pass()

    def run_forever(self, stop: threading.Event, interval: float | None = None) -> None:
        """Reconcile about every ``interval`` seconds (the configured one by default) until ``stop``
        is set: jittered, and faster while tasks are queued or starting (see :func:`next_delay`)."""
        period = interval if interval is not None else self.kernel.config.rosetta.reconcile_interval
        if not period > 0:
            raise ValueError(f"the reconcile interval must be positive, got {period}")
        while not stop.is_set():
            busy = False
            try:
                self.reconcile()
                self.kernel.connections.keep_open()
                busy = bool(self.kernel.store.list_tasks(statuses=(S.QUEUED, S.STARTING), limit=1))
            except Exception:
                log.exception("reconcile pass failed")
            stop.wait(next_delay(period, busy=busy))

    # ---------------------------------------------------------------- observations

    def lease_expired(self, task: Task) -> bool:
        """Whether an action begun on ``task`` (a start, a submission) is old enough to be taken
        as cut short rather than still under way in another process."""
        age = (utcnow() - task.updated_at).total_seconds()
        return age >= self.kernel.config.rosetta.action_lease

    def observe_container(self, task: Task, engine: ContainerEngine, executor: Executor) -> Task:
        """Poll a directly run task's container and apply the answer (see :mod:`observations`)."""
        return self._observer.observe_container(task, engine, executor)

    def apply(self, task: Task, obs: Observation, *, batch: bool) -> Task:
        """Turn one backend observation into at most one transition."""
        return self._observer.apply(task, obs, batch=batch)

    # ---------------------------------------------------------------- helpers

    def backend(self, task: Task) -> tuple[Computing, ContainerEngine, Executor, WorkloadManager | None]:
        """The computing resource, engine, executor and workload manager (``None``) of a task."""
        comp = self.kernel.store.get(Computing, task.computing)
        engine = self.kernel.engines.get(task.engine or comp.default_engine)
        executor = self.kernel.executor_for(comp, task.owner)
        wm = None
        if comp.workload_manager != NO_WORKLOAD_MANAGER:
            wm = self.kernel.workload_managers.get(comp.workload_manager)
        return comp, engine, executor, wm

    def move(self, task: Task, to: TaskStatus, detail: str, **changes: Any) -> Task:
        """Persist one transition (with its event), then call the hooks.

        Raises :class:`InvalidTransition`, writing nothing, when the transition is not allowed
        from the task's status or when another writer changed the row since ``task`` was read.
        """
        if to not in ALLOWED[task.status]:
            raise InvalidTransition(f"task {task.id} cannot go from {task.status.value} to {to.value}")
        # the decision was made on ``task`` as read: if the row changed since, it no longer holds
        updated, event = self.kernel.store.transition(
            task.id, task.status, to, detail=detail[:2000], unchanged_since=task.updated_at, **changes
        )
        self._emit(updated, event)
        return updated

    def _emit(self, task: Task, event: TaskEvent) -> None:
        hook = self.kernel.pm.hook
        try:
            hook.rosetta_task_event(task=task, event=event, kernel=self.kernel)
            if event.to_status.is_terminal:
                self.kernel.connections.close(task)
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
