"""Building the engine-neutral :class:`~rosetta_core.engines.TaskSpec` of a task.

The platform's container conventions, which software may rely on:

- ``BASE_PORT``: the port the interface must listen on (the software's ``interface_port``; an
  engine sharing the host network, such as Singularity, replaces it with a free port);
- ``AUTH_USER`` / ``AUTH_PASS``: set from the task's token when the software declares the
  ``password`` (``AUTH_PASS`` only) or ``user_password`` convention; ``AUTH_USER`` is the owner;
- ``BASE_URL``: for software that declares ``keeps_prefix``, the path its web interface is served
  under through the platform's proxy, ``/t/<task id>/`` (the interface serves there itself);
  other software is served at ``/`` and the proxy strips the prefix;
- storages bound at their ``bind_path``, with ``$USER`` (the task's owner) and ``$SSH_USER`` (the
  owner's account on the computing resource) expanded in both paths.

The platform's variables win over a software's own ``env``, so a catalogue entry cannot replace
a task's credentials.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from rosetta_core.engines import INSTANCE_LABEL, Bind, Resources, TaskSpec, handle_for
from rosetta_core.errors import ValidationError
from rosetta_core.model import AuthConvention, Computing, Software, Storage, Task
from rosetta_core.validators import PATH_RE

TOKEN_BYTES = 24


def new_token() -> str:
    """A fresh task token: 32 URL-safe characters from the system's secure random source."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def task_path(task_id: str) -> str:
    """The path a task's web interface is reached under through the platform: ``/t/<id>/``."""
    return f"/t/{task_id}/"


def convention_env(task: Task, software: Software) -> dict[str, str]:
    """The platform's environment variables for ``task`` (see the module docstring)."""
    env: dict[str, str] = {}
    if software.interface_port is not None:
        env["BASE_PORT"] = str(software.interface_port)
    if software.keeps_prefix:
        env["BASE_URL"] = task_path(task.id)
    if software.auth is not AuthConvention.NONE and task.auth_token:
        env["AUTH_PASS"] = task.auth_token
        if software.auth is AuthConvention.USER_PASSWORD:
            env["AUTH_USER"] = task.owner
    return env


def expand_path(template: str, *, user: str, ssh_user: str) -> str:
    """Expand ``$USER`` and ``$SSH_USER``; the result must still be a clean absolute path."""
    path = template.replace("$SSH_USER", ssh_user).replace("$USER", user)
    if not PATH_RE.fullmatch(path):
        raise ValidationError(
            "storage path", [f"{template!r} expands to {path!r}, which is not a clean absolute path"]
        )
    return path


def storage_binds(
    task: Task, computing: Computing, storages: Iterable[Storage], account: str | None = None
) -> tuple[Bind, ...]:
    """Binds for the storages of ``computing`` (and those attached to no computing resource).

    ``$SSH_USER`` is the account the task runs as on the resource: ``account`` (the owner's own,
    from the store), else the resource's ``account`` (or older ``user``) option, else the owner.
    """
    ssh_user = str(account or computing.options.get("account") or computing.options.get("user") or task.owner)
    return tuple(
        Bind(
            source=expand_path(s.base_path, user=task.owner, ssh_user=ssh_user),
            target=expand_path(s.bind_path, user=task.owner, ssh_user=ssh_user),
            read_only=s.read_only,
        )
        for s in storages
        if s.computing in (None, computing.name)
    )


def _text_option(computing: Computing, key: str) -> str | None:
    value = computing.options.get(key)
    return value if isinstance(value, str) and value else None


def build_spec(
    task: Task,
    software: Software,
    computing: Computing,
    storages: Iterable[Storage],
    instance_id: str,
    account: str | None = None,
) -> TaskSpec:
    """The engine-neutral description of ``task``."""
    opts = task.options
    return TaskSpec(
        task_id=task.id,
        name=handle_for(task.id),
        image=software.image_ref,
        interface_port=software.interface_port,
        protocol=software.protocol,
        auth=software.auth,
        env={**software.env, **convention_env(task, software)},
        binds=storage_binds(task, computing, storages, account),
        resources=Resources(
            cpus=opts.cpus,
            memory_mb=opts.memory_mb,
            partition=opts.partition or _text_option(computing, "partition"),
            walltime_minutes=opts.walltime_minutes,
            gpus=opts.gpus,
            account=_text_option(computing, "scheduler_account"),
            directives=tuple(
                line.strip()
                for line in (_text_option(computing, "directives") or "").splitlines()
                if line.strip()
            ),
        ),
        arch=software.arch,
        needs_root=software.needs_root,
        labels={"rosetta.task": task.id, "rosetta.owner": task.owner, INSTANCE_LABEL: instance_id},
    )
