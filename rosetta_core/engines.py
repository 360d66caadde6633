"""The container engine interface and the engine-neutral description of a task.

The orchestrator builds one :class:`TaskSpec` per task from the software, the computing resource and
the user's options; engines never see database rows. ``build_command`` is pure, so a workload manager
can embed its argv in a batch script; the other methods act through an :class:`Executor`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

import attrs

from rosetta_core.executors import Executor
from rosetta_core.model import AuthConvention, InterfaceProtocol

INSTANCE_LABEL = "rosetta.instance"
"""Label naming the platform instance (one store) that started a container."""

HANDLE_PREFIX = "rosetta-"
"""Every container or job the platform starts is named with this prefix and the task id."""


def handle_for(task_id: str) -> str:
    """The name a task's container or job gets: known before the backend is asked, so never lost."""
    return f"{HANDLE_PREFIX}{task_id}"


def task_id_of(handle: str) -> str | None:
    """The task id inside a platform handle, or ``None`` for a name the platform did not give."""
    return handle[len(HANDLE_PREFIX) :] if handle.startswith(HANDLE_PREFIX) else None


@attrs.frozen(kw_only=True)
class Bind:
    """A host path mounted into the container."""

    source: str
    target: str
    read_only: bool = False


@attrs.frozen(kw_only=True)
class Resources:
    """Limits asked for the task; ``None`` leaves the engine's or scheduler's default."""

    cpus: int | None = None
    memory_mb: int | None = None
    partition: str | None = None
    walltime_minutes: int | None = None
    gpus: int | None = None
    #: the scheduler account (project) the job is charged to
    account: str | None = None
    #: extra scheduler directives, each the text after ``#SBATCH `` or ``#PBS `` (the workload
    #: manager validates them against its own allow-list)
    directives: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class TaskSpec:
    """Everything an engine or scheduler needs to run one task, and nothing from the store."""

    task_id: str
    name: str
    image: str
    interface_port: int | None = None
    protocol: InterfaceProtocol = InterfaceProtocol.HTTP
    auth: AuthConvention = AuthConvention.NONE
    env: Mapping[str, str] = attrs.field(factory=dict)
    binds: tuple[Bind, ...] = ()
    resources: Resources = attrs.field(factory=Resources)
    arch: str | None = None
    #: the entrypoint must start as root inside the container (``Software.needs_root``)
    needs_root: bool = False
    command: tuple[str, ...] = ()
    labels: Mapping[str, str] = attrs.field(factory=dict)


class Observed(enum.StrEnum):
    """What a backend said about a container or job.

    ``GONE`` is a positive answer ("no such container/job"); ``UNKNOWN`` means the backend could not
    be asked and must never be read as gone.
    """

    PENDING = "pending"
    RUNNING = "running"
    EXITED = "exited"
    FAILED = "failed"
    GONE = "gone"
    UNKNOWN = "unknown"


@attrs.frozen(kw_only=True)
class Observation:
    """One answer from a backend about one handle."""

    state: Observed
    exit_code: int | None = None
    host: str | None = None
    port: int | None = None
    detail: str = ""
    labels: Mapping[str, str] = attrs.field(factory=dict)


@runtime_checkable
class ContainerEngine(Protocol):
    """A container engine (Docker, Podman, Singularity, ...).

    Contract (checked by :class:`rosetta_core.testing.contracts.EngineContract`):

    - ``build_command(spec)`` is pure and returns a foreground argv that runs the container.
    - ``start(spec, executor)`` starts it detached, named ``spec.name``, and returns the handle
      (usually ``spec.name``). It raises :class:`~rosetta_core.errors.BackendError` on failure.
    - ``poll(handle, executor)`` never raises for an unknown handle: it returns ``GONE``. When the
      engine cannot be asked it raises :class:`~rosetta_core.errors.BackendUnavailable`. The
      observation carries the labels the container was started with (``spec.labels``): the
      kernel only ever removes an orphan whose ``rosetta.instance`` label is its own.
      ``poll`` gets only the handle: an engine that needs more to answer (the interface port whose
      host binding to report, say) records it on the container at ``start``, e.g. as a label.
    - ``start`` may be called again with the same spec after a crash cut an earlier call short
      (the orchestrator only does so after ``poll`` answered ``GONE``); it must then start the
      container or raise, never start a second one under the same name.
    - ``stop(handle, executor)`` stops and removes; stopping a gone handle is not an error.
    - ``logs`` returns at most ``tail`` lines of output, and ``""`` for a gone handle.
    - ``list_handles(executor)`` lists the handles this platform started (prefix ``rosetta-``),
      running or not, so the orchestrator can find orphans.
    """

    name: str

    def build_command(self, spec: TaskSpec) -> list[str]: ...

    def start(self, spec: TaskSpec, executor: Executor) -> str: ...

    def poll(self, handle: str, executor: Executor) -> Observation: ...

    def stop(self, handle: str, executor: Executor) -> None: ...

    def logs(self, handle: str, executor: Executor, *, tail: int = 1000) -> str: ...

    def list_handles(self, executor: Executor) -> Sequence[str]: ...


ProgressReport = Callable[[str], None]
"""Receives one line of progress (``"pulling layer 3/7: 41 MB"``); calls may be frequent."""


@runtime_checkable
class PullingEngine(Protocol):
    """An engine that can make an image available before starting it, reporting progress.

    The orchestrator calls ``pull`` (when the engine has it) after the task is ``starting`` and
    before ``start``; each progress line becomes a progress event of the task. ``pull`` honours
    the engine's pull policy (a local image and a policy of ``missing`` means nothing to do) and
    raises :class:`~rosetta_core.errors.BackendError` when the image cannot be had.
    """

    def pull(self, spec: TaskSpec, executor: Executor, progress: ProgressReport) -> None: ...


def published_address(ports: object, port: object) -> tuple[str, int | None]:
    """Where ``port/tcp`` is published, from Docker-style inspect output (``NetworkSettings.Ports``,
    which Podman writes too): ``(host, host_port)``, or ``("127.0.0.1", None)`` when it is not.
    A wildcard binding is reported as loopback, where it is reachable too."""
    bindings = ports.get(f"{port}/tcp") if isinstance(ports, Mapping) else None
    for binding in bindings if isinstance(bindings, list) else []:
        entry = binding if isinstance(binding, Mapping) else {}
        host_port = str(entry.get("HostPort", ""))
        if host_port.isdigit() and 0 < int(host_port) < 65536:
            host_ip = str(entry.get("HostIp") or "")
            return ("127.0.0.1" if host_ip in ("", "0.0.0.0", "::") else host_ip), int(host_port)  # noqa: S104
    return "127.0.0.1", None
