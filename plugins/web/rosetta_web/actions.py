"""What a signed-in user may see and do: the one place the pages and the API ask.

:class:`Actions` binds a kernel and a user. Every read returns only what the user may see (their
own tasks; software, computing resources and storages that are public or theirs), and every
change checks who asks first: a task of another user is "not found" (its existence is not
revealed), adding a computing resource needs an admin (:class:`Forbidden`). Input arrives as
plain mappings (a form or a JSON body) and is structured strictly: bad input raises
:class:`~rosetta_core.errors.ValidationError` naming each field, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from rosetta_auth_local import ApiToken, api_tokens, create_api_token, revoke_api_token
from rosetta_auth_local.tables import API_TOKENS, digest
from rosetta_core.errors import ConflictError, NotFoundError, RosettaError, ValidationError
from rosetta_core.model import (
    Computing,
    ComputingAccount,
    Software,
    Storage,
    Task,
    TaskOptions,
    TaskStatus,
    User,
)
from rosetta_core.serde import structure
from rosetta_core.users import key_pairs
from rosetta_core.validators import NAME_RE

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel

T = TypeVar("T", Software, Computing)
MAX_LOG_LINES = 5000
MAX_LOG_CHARS = 1024 * 1024
TASK_FIELDS = ("software", "computing", "name")
OPTION_FIELDS = tuple(f.name for f in attrs.fields(TaskOptions))
# fields a user never sets: made by the platform
_MADE = ("id", "created_at", "owner")


class Forbidden(RosettaError):
    """The user may not do this (for example: only admins add computing resources)."""


def _visible(owner: str | None, user: User) -> bool:
    return owner is None or owner == user.name or user.is_admin


def _plain(data: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``data`` as a dict without the fields only the platform sets; a non-mapping is refused."""
    if not isinstance(data, Mapping):
        raise ValidationError(what, ["$: must be an object"])
    made = [key for key in _MADE if key in data]
    if made:
        raise ValidationError(what, [f"$.{key}: is set by the platform" for key in made])
    return dict(data)


def _name_and_option_problems(fields: Mapping[str, Any]) -> list[str]:
    """Problems of a new task's ``name`` and options, found before anything is written (so one
    answer names every bad field)."""
    problems: list[str] = []
    name = fields.get("name")
    if name not in (None, "") and not (isinstance(name, str) and NAME_RE.fullmatch(name)):
        problems.append(
            "$.name: must be 1-63 characters of letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    options = {k: fields[k] for k in OPTION_FIELDS if fields.get(k) not in (None, "")}
    try:
        structure(options, TaskOptions, what="task")
    except ValidationError as exc:
        problems.extend(exc.problems)
    return problems


@attrs.frozen
class Actions:
    """The operations of ``user`` on ``kernel`` (thread-safe as the kernel is)."""

    kernel: Kernel
    user: User

    # ---------------------------------------------------------------- software

    def software(self, query: str = "") -> list[Software]:
        """Software the user may run, by name; ``query`` keeps those whose name, description or
        image contains it (case-insensitive)."""
        words = query.strip().lower()
        found = [s for s in self.kernel.store.all(Software) if _visible(s.owner, self.user)]
        if words:
            found = [s for s in found if words in f"{s.name} {s.description} {s.image_ref}".lower()]
        return sorted(found, key=lambda s: s.name)

    def add_software(self, data: Mapping[str, Any]) -> Software:
        """Add a software (owned by the user; an admin's is public). Raises ``ValidationError``
        and ``ConflictError`` (the name is taken)."""
        fields = _plain(data, "software")
        fields["owner"] = None if self.user.is_admin else self.user.name
        software = structure(fields, Software, what="software")
        return self._add(software, Software)

    def one_software(self, name: str) -> Software:
        """The software ``name`` if the user may run it; ``NotFoundError`` otherwise (a private
        software of another user is not revealed)."""
        return self._one(Software, name, "software")

    # ---------------------------------------------------------------- computing and storages

    def computing(self) -> list[Computing]:
        """Computing resources the user may use, by name."""
        found = [c for c in self.kernel.store.all(Computing) if _visible(c.owner, self.user)]
        return sorted(found, key=lambda c: c.name)

    def add_computing(self, data: Mapping[str, Any]) -> Computing:
        """Add a computing resource; admins only (:class:`Forbidden`)."""
        self.check_may_add_computing()
        computing = structure(_plain(data, "computing resource"), Computing, what="computing resource")
        return self._add(computing, Computing)

    def one_computing(self, name: str) -> Computing:
        """The computing resource ``name`` if the user may use it; ``NotFoundError`` otherwise."""
        return self._one(Computing, name, "computing resource")

    def check_may_add_computing(self) -> None:
        """Raise :class:`Forbidden` unless the user is an admin (who alone add computing resources)."""
        if not self.user.is_admin:
            raise Forbidden("only admins add computing resources")

    def storages(self) -> list[Storage]:
        """Storages the user may see, by name."""
        found = [s for s in self.kernel.store.all(Storage) if _visible(s.owner, self.user)]
        return sorted(found, key=lambda s: s.name)

    def _one(self, cls: type[T], name: str, what: str) -> T:
        try:
            record = self.kernel.store.get(cls, name)
        except NotFoundError:
            record = None
        if record is None or not _visible(record.owner, self.user):
            raise NotFoundError(f"no {what} named {str(name)[:64]!r}")
        return record

    def _add(self, record: T, cls: type[T]) -> T:
        try:
            self.kernel.store.get(cls, record.name)
        except NotFoundError:
            return self.kernel.store.add(record)
        raise ConflictError(f"the name {record.name!r} is taken")

    # ---------------------------------------------------------------- tasks

    def tasks(
        self, *, limit: int | None = None, status: TaskStatus | None = None, offset: int = 0
    ) -> list[Task]:
        """The user's own tasks, newest first (admins too see only their own here); only those in
        ``status`` when it is given; at most ``limit`` after skipping the ``offset`` newest."""
        statuses = None if status is None else [status]
        return self.kernel.store.list_tasks(
            owner=self.user.name, statuses=statuses, limit=limit, offset=offset
        )

    def task(self, task_id: str) -> Task:
        """The user's task ``task_id``; ``NotFoundError`` for anything else, another user's task
        included."""
        try:
            task = self.kernel.store.get_task(task_id) if isinstance(task_id, str) else None
        except (NotFoundError, ValueError):
            task = None
        if task is None or task.owner != self.user.name:
            raise NotFoundError(f"no task {str(task_id)[:64]!r}")
        return task

    def new_task(self, data: Mapping[str, Any]) -> Task:
        """Create and start a task from ``{software, computing, name?, engine?, cpus?, memory_mb?,
        partition?, walltime_minutes?, gpus?}``; returns it as stored after the start.

        The software and the computing resource must be ones the user may use. Raises
        ``ValidationError`` (every bad field named) before anything is written.
        """
        fields = _plain(data, "task")
        unknown = sorted(set(fields) - set(TASK_FIELDS) - set(OPTION_FIELDS))
        problems = [f"$.{key}: is not a task field" for key in unknown]
        for key in ("software", "computing"):
            value = fields.get(key)
            if not isinstance(value, str) or not value:
                problems.append(f"$.{key}: is required")
        problems.extend(_name_and_option_problems(fields))
        if problems:
            raise ValidationError("task", problems)
        visible = {s.name for s in self.software()}, {c.name for c in self.computing()}
        if fields["software"] not in visible[0]:
            problems.append(f"$.software: no software named {str(fields['software'])[:64]!r}")
        if fields["computing"] not in visible[1]:
            problems.append(f"$.computing: no computing resource named {str(fields['computing'])[:64]!r}")
        if problems:
            raise ValidationError("task", problems)
        options = {k: fields[k] for k in OPTION_FIELDS if fields.get(k) not in (None, "")}
        name = fields.get("name") or None
        task = self.kernel.orchestrator.create_task(
            owner=self.user.name,
            software=fields["software"],
            computing=fields["computing"],
            name=name,
            options=options,
        )
        return self.kernel.orchestrator.start_task(task.id)

    def stop_task(self, task_id: str) -> Task:
        """Stop the user's task (a task already ended is returned as it is)."""
        task = self.task(task_id)
        if task.status.is_terminal:
            return task
        return self.kernel.orchestrator.stop_task(task.id)

    def logs(self, task_id: str, *, tail: int = 200) -> str:
        """The last ``tail`` lines (1 to 5000) of the user's task's output, at most its last
        :data:`MAX_LOG_CHARS` characters."""
        if isinstance(tail, bool) or not isinstance(tail, int) or not 1 <= tail <= MAX_LOG_LINES:
            raise ValidationError("logs", [f"$.tail: must be between 1 and {MAX_LOG_LINES}"])
        text = self.kernel.orchestrator.logs(self.task(task_id).id, tail=tail)
        # a line without end could be any size: keep the tail a page can show
        return text[-MAX_LOG_CHARS:]

    def connect(self, task_id: str) -> str:
        """Where the user's browser goes to open the task's interface: a single-use sign-in link
        when the task's tunnel authenticates users (the proxy), else the endpoint's URL or
        ``host:port``. Raises ``ConflictError`` when the task is not running."""
        task = self.task(task_id)
        if task.status is not TaskStatus.RUNNING:
            raise ConflictError(f"task {task.name} is {task.status.value}: only a running task can be opened")
        endpoint = self.kernel.connections.connect(task.id)
        computing = self.kernel.store.get(Computing, task.computing)
        open_link = getattr(self.kernel.connections.tunnel_for(computing), "open_link", None)
        if callable(open_link):
            return str(open_link(task))
        return endpoint.url or f"{endpoint.host}:{endpoint.port}"

    # ---------------------------------------------------------------- account

    def public_keys(self) -> list[str]:
        """The user's SSH public keys (``type base64 comment`` lines)."""
        return [k.public_key for k in key_pairs(self.kernel, self.user.name)]

    def accounts(self) -> list[ComputingAccount]:
        """The user's account name on each computing resource where one is set."""
        return self.kernel.store.accounts(self.user.name)

    def set_account(self, computing: str, account: str) -> ComputingAccount:
        """Set the user's account name on ``computing`` (one the user may use)."""
        if computing not in {c.name for c in self.computing()}:
            raise ValidationError(
                "account", [f"$.computing: no computing resource named {str(computing)[:64]!r}"]
            )
        record = structure(
            {"owner": self.user.name, "computing": computing, "account": account},
            ComputingAccount,
            what="account",
        )
        self.kernel.store.set_account(record)
        return record

    def api_tokens(self) -> list[ApiToken]:
        return api_tokens(self.kernel, self.user)

    def create_api_token(self, label: str) -> str:
        """A new API token (shown once)."""
        return create_api_token(self.kernel, self.user, label)

    def new_api_token(self, label: str) -> tuple[str, str]:
        """A new API token as ``(id, token)``: the id revokes it later, the token is shown once."""
        token = self.create_api_token(label)
        rows = self.kernel.store.db.query(
            f"SELECT id FROM [{API_TOKENS}] WHERE token_hash = ?",  # noqa: S608 - fixed names
            [digest(token)],
        )
        return next(iter(rows))["id"], token

    def revoke_api_token(self, token_id: str) -> None:
        revoke_api_token(self.kernel, self.user, token_id)
