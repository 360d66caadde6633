"""The data model: frozen, keyword-only attrs records.

Records are values: change one with :func:`attrs.evolve`. Validators run on construction, so a
record that exists is a valid one. Build records from untrusted dictionaries with
:func:`rosetta_core.serde.structure`, which reports every problem with its field path.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from rosetta_core import validators as v


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """A fresh record id: 32 lowercase hex digits."""
    return uuid.uuid4().hex


def _frozen_map(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)


class TaskStatus(enum.StrEnum):
    """Where a task is in its life. ``UNKNOWN`` means the backend could not be asked."""

    CREATED = "created"
    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    EXITED = "exited"
    FAILED = "failed"
    STOPPED = "stopped"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_active(self) -> bool:
        """True while the task may hold a container or a job on a computing resource."""
        return self in ACTIVE_STATUSES


TERMINAL_STATUSES = frozenset({TaskStatus.EXITED, TaskStatus.FAILED, TaskStatus.STOPPED})
ACTIVE_STATUSES = frozenset({TaskStatus.QUEUED, TaskStatus.STARTING, TaskStatus.RUNNING, TaskStatus.UNKNOWN})


class InterfaceProtocol(enum.StrEnum):
    """How a task's interface is spoken to: web interfaces go through the proxy, TCP through a tunnel."""

    HTTP = "http"
    HTTPS = "https"
    TCP = "tcp"


class AuthConvention(enum.StrEnum):
    """What the container expects to protect its interface.

    ``none``: nothing. ``password``: it reads ``AUTH_PASS``. ``user_password``: it reads
    ``AUTH_USER`` and ``AUTH_PASS``.
    """

    NONE = "none"
    PASSWORD = "password"  # noqa: S105 - a convention's name, not a secret
    USER_PASSWORD = "user_password"  # noqa: S105


class ComputingKind(enum.StrEnum):
    """What sort of computing resource: this machine, a host over SSH, or a batch cluster."""

    LOCAL = "local"
    SSH = "ssh"
    CLUSTER = "cluster"


@attrs.frozen(kw_only=True)
class User:
    """A person who owns tasks, software, computing resources and storages."""

    name: str = attrs.field(validator=v.name)
    email: str = attrs.field(default="", validator=v.text)
    is_admin: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    id: str = attrs.field(factory=new_id, validator=v.matches(v.NAME_RE, "an id"))
    created_at: datetime = attrs.field(factory=utcnow)


@attrs.frozen(kw_only=True)
class KeyPair:
    """An SSH key pair. The private key is never stored: ``private_key_path`` points to a 0600 file."""

    owner: str = attrs.field(validator=v.name)
    name: str = attrs.field(validator=v.name)
    public_key: str = attrs.field(validator=v.text)
    private_key_path: str = attrs.field(validator=v.matches(v.PATH_RE, "an absolute path"))
    id: str = attrs.field(factory=new_id, validator=v.matches(v.NAME_RE, "an id"))
    created_at: datetime = attrs.field(factory=utcnow)


@attrs.frozen(kw_only=True)
class Software:
    """A container image and how to reach the interface it serves."""

    name: str = attrs.field(validator=v.name)
    image: str = attrs.field(validator=v.matches(v.IMAGE_RE, "an image repository name"))
    registry: str = attrs.field(default="", validator=v.matches(v.REGISTRY_RE, "a registry host, or empty"))
    tag: str = attrs.field(default="latest", validator=v.matches(v.TAG_RE, "an image tag"))
    digest: str | None = attrs.field(
        default=None, validator=v.optional_matches(v.DIGEST_RE, "a sha256 digest")
    )
    interface_port: int | None = attrs.field(default=None, validator=v.optional_port)
    protocol: InterfaceProtocol = attrs.field(
        default=InterfaceProtocol.HTTP, validator=attrs.validators.instance_of(InterfaceProtocol)
    )
    auth: AuthConvention = attrs.field(
        default=AuthConvention.NONE, validator=attrs.validators.instance_of(AuthConvention)
    )
    env: dict[str, str] = attrs.field(factory=dict, converter=_frozen_map, validator=v.env_vars)
    arch: str = attrs.field(default="amd64", validator=v.matches(v.ARCH_RE, "an architecture such as amd64"))
    #: the image's entrypoint must start as root inside the container (it creates or switches
    #: users, as an SSH server does); engines that run images as the calling user map it to
    #: their user-namespace root (Apptainer's ``--fakeroot``)
    needs_root: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    #: the web interface serves under the ``BASE_URL`` the platform passes (``/t/<task id>/``), so
    #: the proxy keeps that prefix; otherwise it serves at ``/`` and the proxy strips the prefix
    keeps_prefix: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    description: str = attrs.field(default="", validator=v.text)
    owner: str | None = attrs.field(default=None, validator=v.optional_name)
    id: str = attrs.field(factory=new_id, validator=v.matches(v.NAME_RE, "an id"))
    created_at: datetime = attrs.field(factory=utcnow)

    @property
    def image_ref(self) -> str:
        """The full reference engines pull or run: ``[registry/]image:tag[@digest]``."""
        ref = f"{self.registry}/{self.image}" if self.registry else self.image
        ref = f"{ref}:{self.tag}"
        return f"{ref}@{self.digest}" if self.digest else ref


@attrs.frozen(kw_only=True)
class Computing:
    """A computing resource: where tasks run, how commands reach it, which engines it offers."""

    name: str = attrs.field(validator=v.name)
    kind: ComputingKind = attrs.field(
        default=ComputingKind.LOCAL, validator=attrs.validators.instance_of(ComputingKind)
    )
    executor: str = attrs.field(default="local", validator=v.name)
    engines: tuple[str, ...] = attrs.field(validator=v.names_tuple)
    workload_manager: str = attrs.field(default="none", validator=v.name)
    options: dict[str, str | int | float | bool] = attrs.field(
        factory=dict, converter=_frozen_map, validator=v.scalar_options
    )
    description: str = attrs.field(default="", validator=v.text)
    owner: str | None = attrs.field(default=None, validator=v.optional_name)
    id: str = attrs.field(factory=new_id, validator=v.matches(v.NAME_RE, "an id"))
    created_at: datetime = attrs.field(factory=utcnow)

    @property
    def default_engine(self) -> str:
        return self.engines[0]


@attrs.frozen(kw_only=True)
class HostKey:
    """A host key trusted for a computing resource: ``key_type`` and ``key`` as in ``known_hosts``.

    Executors refuse a resource whose presented key is not among its trusted ones.
    """

    computing: str = attrs.field(validator=v.name)
    key_type: str = attrs.field(validator=v.matches(v.KEY_TYPE_RE, "an SSH key type such as ssh-ed25519"))
    key: str = attrs.field(validator=v.matches(v.BASE64_RE, "a base64 public key"))
    created_at: datetime = attrs.field(factory=utcnow)

    @property
    def fingerprint(self) -> str:
        """OpenSSH's form: ``SHA256:`` and the unpadded base64 SHA-256 of the key blob."""
        return v.ssh_fingerprint(self.key)


@attrs.frozen(kw_only=True)
class ComputingAccount:
    """The account name ``owner`` uses on ``computing`` (upstream's ``computing_user``)."""

    owner: str = attrs.field(validator=v.name)
    computing: str = attrs.field(validator=v.name)
    account: str = attrs.field(validator=v.matches(v.ACCOUNT_RE, "a POSIX account name"))


@attrs.frozen(kw_only=True)
class Storage:
    """A shared file system bound into tasks at ``bind_path`` and optionally browsable."""

    name: str = attrs.field(validator=v.name)
    kind: str = attrs.field(default="posix", validator=v.name)
    # may hold $USER (the task's owner) and $SSH_USER (the computing resource's user)
    base_path: str = attrs.field(validator=v.matches(v.PATH_TEMPLATE_RE, "an absolute path"))
    bind_path: str = attrs.field(validator=v.matches(v.PATH_TEMPLATE_RE, "an absolute path"))
    read_only: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    browsable: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    computing: str | None = attrs.field(default=None, validator=v.optional_name)
    owner: str | None = attrs.field(default=None, validator=v.optional_name)
    id: str = attrs.field(factory=new_id, validator=v.matches(v.NAME_RE, "an id"))
    created_at: datetime = attrs.field(factory=utcnow)


@attrs.frozen(kw_only=True)
class TaskOptions:
    """What a user may choose for one task. ``None`` means the computing resource's default."""

    engine: str | None = attrs.field(default=None, validator=v.optional_name)
    cpus: int | None = attrs.field(default=None, validator=v.optional_int_between(1, 4096))
    memory_mb: int | None = attrs.field(default=None, validator=v.optional_int_between(4, 64 * 1024 * 1024))
    partition: str | None = attrs.field(default=None, validator=v.optional_name)
    walltime_minutes: int | None = attrs.field(default=None, validator=v.optional_int_between(1, 525600))
    gpus: int | None = attrs.field(default=None, validator=v.optional_int_between(0, 64))


# not slotted: the store rebuilds thousands of tasks per listing by filling __dict__ directly
@attrs.frozen(kw_only=True, slots=False)
class Task:
    """One container with one interface, owned by one user, on one computing resource.

    ``handle`` is what the engine or scheduler knows the task by: the container name, stored before
    the engine is asked to start it; for a batch task first the job name (a claim, stored before
    submission), then the job id. So a crash never leaves an untracked container or job.
    ``stop_requested`` is stored before a stop is sent, so a stop cut short by a crash is finished
    by the next reconcile pass and the task ends ``stopped``, not ``failed``.
    """

    name: str = attrs.field(validator=v.name)
    owner: str = attrs.field(validator=v.name)
    software: str = attrs.field(validator=v.name)
    computing: str = attrs.field(validator=v.name)
    options: TaskOptions = attrs.field(factory=TaskOptions)
    status: TaskStatus = attrs.field(default=TaskStatus.CREATED)
    engine: str | None = attrs.field(default=None)
    handle: str | None = attrs.field(default=None)
    interface_host: str | None = attrs.field(default=None)
    interface_port: int | None = attrs.field(default=None, validator=v.optional_port)
    error: str | None = attrs.field(default=None)
    exit_code: int | None = attrs.field(default=None)
    stop_requested: bool = attrs.field(default=False)
    # the secret a container protected by an auth convention is started with; kept (not hashed)
    # because the container needs it at every start and the proxy injects it on the user's behalf
    auth_token: str | None = attrs.field(default=None, repr=False)
    id: str = attrs.field(factory=new_id, validator=v.matches(v.NAME_RE, "an id"))
    created_at: datetime = attrs.field(factory=utcnow)
    updated_at: datetime = attrs.field(factory=utcnow)


@attrs.frozen(kw_only=True)
class TaskEvent:
    """One persisted status transition of a task (``seq`` counts from 1 per task)."""

    task_id: str
    seq: int
    from_status: TaskStatus | None
    to_status: TaskStatus
    at: datetime = attrs.field(factory=utcnow)
    detail: str = ""
