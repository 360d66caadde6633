"""The store: one SQLite file through sqlite-utils, one write path.

Every write goes through :meth:`Store.write`, which holds a process-wide lock and one
``BEGIN IMMEDIATE`` transaction, so a multi-row change (a task transition and its event) commits
whole or not at all. The file runs in WAL mode with ``synchronous=FULL``: a crash of the process,
even SIGKILL, loses no committed row. Other processes may read and write the same file.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import attrs
from sqlite_utils import Database, Migrations

from rosetta_core.errors import ConflictError, InvalidTransition, NotFoundError, ValidationError
from rosetta_core.model import (
    Computing,
    ComputingAccount,
    HostKey,
    Software,
    Task,
    TaskEvent,
    TaskStatus,
    utcnow,
)
from rosetta_core.store.rows import (
    TABLES,
    TASK_COLUMNS,
    event_from_row,
    from_row,
    task_from_tuple,
    tasks_from_rows,
    to_row,
)
from rosetta_core.store.schema import core_migrations

T = TypeVar("T")

_TASK_SELECT = "SELECT " + ", ".join(f'"{c}"' for c in TASK_COLUMNS) + " FROM tasks"  # noqa: S608 - fixed names


class Store:
    """Records and task history in one SQLite database.

    Safe to share between threads of one process. ``path`` may be ``":memory:"`` for tests.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path) if str(path) != ":memory:" else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30.0)
        _enable_wal(conn, deadline=time.monotonic() + 30.0)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        self.db = Database(conn)
        self._conn = conn
        self._lock = threading.RLock()

    # ---------------------------------------------------------------- plumbing

    @contextmanager
    def write(self) -> Iterator[Database]:
        """The one write path: a locked, immediate transaction; nested calls join the outer one."""
        with self._lock:
            if self._conn.in_transaction:
                with self.db.atomic():
                    yield self.db
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self._conn.execute("COMMIT")
            except BaseException:
                # also after a failed COMMIT: never leave the connection inside a transaction
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def migrate(self, sets: Iterable[Migrations] = ()) -> list[str]:
        """Apply the core migrations, then each set in order; return ``set:name`` of those applied."""
        applied: list[str] = []
        # one immediate transaction: processes starting together on a new store take turns
        with self.write():
            for migrations in (core_migrations, *sets):
                pending = [m.name for m in migrations.pending(self.db)]
                migrations.apply(self.db)
                applied.extend(f"{migrations.name}:{name}" for name in pending)
        return applied

    @property
    def instance_id(self) -> str:
        """The random id of this store (and so of this platform instance), made by its migrations."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'instance_id'").fetchone()
        if row is None:
            raise NotFoundError("the store has no instance id; run migrate() first")
        return str(row[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # ---------------------------------------------------------------- generic records

    def add(self, record: T) -> T:
        """Insert a new record; a duplicate name raises :class:`ConflictError`."""
        table = TABLES[type(record)]
        try:
            with self.write() as db:
                db.table(table).insert(to_row(record))
        except sqlite3.IntegrityError as exc:
            name = getattr(record, "name", "?")
            raise ConflictError(f"{table} {name!r} already exists") from exc
        return record

    def get(self, cls: type[T], name: str) -> T:
        """The record of ``cls`` called ``name``; raises :class:`NotFoundError`."""
        table = TABLES[cls]
        with self._lock:
            rows = list(self.db.table(table).rows_where("name = ?", [name], limit=1))
        if not rows:
            raise NotFoundError(f"no {table} named {name!r}")
        return from_row(cls, rows[0])

    def all(self, cls: type[T]) -> list[T]:
        """Every record of ``cls``, ordered by name."""
        with self._lock:
            rows = list(self.db.table(TABLES[cls]).rows_where(order_by="name"))
        return [from_row(cls, row) for row in rows]

    def delete(self, cls: type[Any], name: str) -> None:
        """Delete a record by name. A software or computing resource that a task not yet ended
        uses is refused with :class:`ConflictError`: the task could no longer be followed."""
        table = TABLES[cls]
        with self.write() as db:
            column = {Software: "software", Computing: "computing"}.get(cls)
            if column is not None:
                in_use = db.execute(
                    f"SELECT COUNT(*) FROM tasks WHERE {column} = ? "  # noqa: S608 - fixed column names
                    "AND status NOT IN ('exited', 'failed', 'stopped')",
                    [name],
                ).fetchone()[0]
                if in_use:
                    raise ConflictError(f"{table} {name!r} is used by {in_use} task(s) that have not ended")
            cursor = db.execute(f"DELETE FROM [{table}] WHERE name = ?", [name])  # noqa: S608 - fixed table names
            if cursor.rowcount == 0:
                raise NotFoundError(f"no {table} named {name!r}")

    # ---------------------------------------------------------------- tasks

    def create_task(self, task: Task, detail: str = "") -> TaskEvent:
        """Insert ``task`` and its first event in one transaction."""
        event = TaskEvent(task_id=task.id, seq=1, from_status=None, to_status=task.status, detail=detail)
        with self.write() as db:
            db.table("tasks").insert(to_row(task))
            db.table("task_events").insert(_event_row(event))
        return event

    def add_tasks(self, tasks: Sequence[Task]) -> None:
        """Insert many tasks with their first events in one transaction (imports, benchmarks)."""
        columns = ", ".join(f'"{c}"' for c in TASK_COLUMNS)
        marks = ", ".join("?" * len(TASK_COLUMNS))
        with self.write() as db:
            # executemany: sqlite-utils' insert_all builds a dict per row, 5x slower for bulk loads
            db.conn.executemany(
                f"INSERT INTO tasks ({columns}) VALUES ({marks})",  # noqa: S608 - fixed column names
                (tuple(to_row(t).values()) for t in tasks),
            )
            db.conn.executemany(
                "INSERT INTO task_events (task_id, seq, from_status, to_status, at, detail) "
                "VALUES (?, 1, NULL, ?, ?, '')",
                ((t.id, t.status.value, t.created_at.isoformat()) for t in tasks),
            )

    def transition(
        self,
        task_id: str,
        expected: TaskStatus,
        to: TaskStatus,
        *,
        detail: str = "",
        unchanged_since: datetime | None = None,
        **changes: Any,
    ) -> tuple[Task, TaskEvent]:
        """Move a task from ``expected`` to ``to``, applying ``changes``, and record the event.

        Compare-and-set: if another writer moved the task first (or, with ``unchanged_since``,
        changed the row at all since the caller read it), nothing is written and
        :class:`InvalidTransition` is raised. The row and the event commit together. A task whose
        stop was requested ends ``stopped`` even when asked to end ``exited`` or ``failed``.
        """
        with self.write() as db:
            task = self.get_task(task_id)
            if task.status is not expected:
                raise InvalidTransition(
                    f"task {task_id} is {task.status.value}, not {expected.value}; cannot make it {to.value}"
                )
            if unchanged_since is not None and task.updated_at != unchanged_since:
                raise InvalidTransition(f"task {task_id} changed since it was read; not making it {to.value}")
            if task.stop_requested and to in (TaskStatus.EXITED, TaskStatus.FAILED):
                # decided on the row as it is now: the user's stop explains the end
                to, detail = TaskStatus.STOPPED, "stopped on request"
                changes.pop("error", None)
            now = utcnow()
            updated = attrs.evolve(task, status=to, updated_at=now, **changes)
            row = to_row(updated)
            del row["id"]
            db.table("tasks").update(task_id, row)
            seq = db.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM task_events WHERE task_id = ?", [task_id]
            ).fetchone()[0]
            event = TaskEvent(
                task_id=task_id, seq=seq, from_status=expected, to_status=to, at=now, detail=detail
            )
            db.table("task_events").insert(_event_row(event))
        return updated, event

    def note(self, task_id: str, detail: str) -> TaskEvent:
        """Record a progress event: the task's status does not change (``from_status`` equals
        ``to_status``) and the row is not touched, so no compare-and-set is disturbed."""
        with self.write() as db:
            task = self.get_task(task_id)
            seq = db.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM task_events WHERE task_id = ?", [task_id]
            ).fetchone()[0]
            event = TaskEvent(
                task_id=task_id, seq=seq, from_status=task.status, to_status=task.status, detail=detail[:2000]
            )
            db.table("task_events").insert(_event_row(event))
        return event

    def claim_handle(self, task_id: str, handle: str) -> bool:
        """Set the handle of an active task that has none; ``False`` if it has one (or ended)."""
        with self.write() as db:
            cursor = db.execute(
                "UPDATE tasks SET handle = ?, updated_at = ? WHERE id = ? AND handle IS NULL "
                "AND status NOT IN ('exited', 'failed', 'stopped')",
                [handle, utcnow().isoformat(), task_id],
            )
            return bool(cursor.rowcount == 1)

    def update_task(self, task_id: str, **changes: Any) -> Task:
        """Change fields of a task without a status change (no event)."""
        if "status" in changes:
            raise ValueError("use transition() to change a task's status")
        with self.write() as db:
            task = attrs.evolve(self.get_task(task_id), updated_at=utcnow(), **changes)
            row = to_row(task)
            del row["id"]
            db.table("tasks").update(task_id, row)
        return task

    def get_task(self, task_id: str) -> Task:
        with self._lock:
            row = self._conn.execute(_TASK_SELECT + " WHERE id = ?", [task_id]).fetchone()
        if row is None:
            raise NotFoundError(f"no task {task_id!r}")
        return task_from_tuple(row)

    def find_task(self, key: str) -> Task:
        """A task by id, unique name, or unique id prefix (at least 4 characters), in that order.

        A key that names one task and is the id prefix of another is refused as ambiguous, so a
        short name never silently picks someone else's task.
        """
        with self._lock:
            row = self._conn.execute(_TASK_SELECT + " WHERE id = ?", [key]).fetchone()
            if row is not None:
                return task_from_tuple(row)
            by_name = self._conn.execute(_TASK_SELECT + " WHERE name = ? LIMIT 2", [key]).fetchall()
            by_prefix: list[Any] = []
            if len(key) >= 4 and all(c in "0123456789abcdef" for c in key):
                by_prefix = self._conn.execute(
                    _TASK_SELECT + " WHERE id LIKE ? LIMIT 2", [key + "%"]
                ).fetchall()
        if len(by_name) + len(by_prefix) > 1:
            raise ConflictError(f"{key!r} matches more than one task; give its full id")
        if not by_name and not by_prefix:
            raise NotFoundError(f"no task {key!r}")
        return task_from_tuple((by_name or by_prefix)[0])

    def list_tasks(
        self,
        *,
        owner: str | None = None,
        statuses: Iterable[TaskStatus] | None = None,
        computing: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Task]:
        """Tasks, most recently created first, filtered by owner, statuses and computing resource;
        at most ``limit`` of them after skipping the ``offset`` newest (a page of a listing)."""
        where: list[str] = []
        params: list[Any] = []
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        if computing is not None:
            where.append("computing = ?")
            params.append(computing)
        if statuses is not None:
            wanted = [s.value for s in statuses]
            where.append("status IN (" + ", ".join("?" * len(wanted)) + ")")
            params.extend(wanted)
        sql = _TASK_SELECT
        if where:
            sql += " WHERE " + " AND ".join(where)
        # rows are inserted in creation order: rowid order avoids sorting the whole table
        sql += " ORDER BY rowid DESC"
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params.extend([-1 if limit is None else int(limit), int(offset)])
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return tasks_from_rows(rows)

    def task_events(self, task_id: str) -> list[TaskEvent]:
        with self._lock:
            rows = list(self.db.table("task_events").rows_where("task_id = ?", [task_id], order_by="seq"))
        return [event_from_row(row) for row in rows]

    def count_events(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM task_events").fetchone()[0])

    def task_owners(self, computing: str) -> list[str]:
        """The users who have tasks (of any status) on ``computing``, sorted."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT owner FROM tasks WHERE computing = ? ORDER BY owner", [computing]
            ).fetchall()
        return [row[0] for row in rows]

    # ---------------------------------------------------------------- host keys, accounts

    def host_keys(self, computing: str) -> list[HostKey]:
        """The host keys trusted for ``computing`` (none: the resource is not trusted yet)."""
        with self._lock:
            rows = list(
                self.db.table("host_keys").rows_where("computing = ?", [computing], order_by="key_type")
            )
        return [from_row(HostKey, row) for row in rows]

    def trust_host_keys(self, computing: str, keys: Sequence[HostKey], *, replace: bool = False) -> None:
        """Record ``keys`` as trusted for ``computing``; with ``replace``, forget the others first."""
        self.get(Computing, computing)  # NotFoundError for an unknown resource
        if any(k.computing != computing for k in keys):
            raise ValidationError("host_keys", [f"$.computing: every key must be for {computing!r}"])
        with self.write() as db:
            if replace:
                db.execute("DELETE FROM host_keys WHERE computing = ?", [computing])
            db.table("host_keys").upsert_all([to_row(k) for k in keys], pk=("computing", "key_type", "key"))

    def set_account(self, account: ComputingAccount) -> None:
        """Record the account ``account.owner`` uses on ``account.computing`` (replacing any)."""
        self.get(Computing, account.computing)
        with self.write() as db:
            db.table("computing_accounts").upsert(to_row(account), pk=("owner", "computing"))

    def account(self, owner: str, computing: str) -> str | None:
        """The account ``owner`` set for ``computing``, or ``None``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT account FROM computing_accounts WHERE owner = ? AND computing = ?", [owner, computing]
            ).fetchone()
        return None if row is None else str(row[0])

    def accounts(self, owner: str) -> list[ComputingAccount]:
        """Every account ``owner`` set, by computing resource."""
        with self._lock:
            rows = list(
                self.db.table("computing_accounts").rows_where("owner = ?", [owner], order_by="computing")
            )
        return [from_row(ComputingAccount, row) for row in rows]


def _event_row(event: TaskEvent) -> dict[str, Any]:
    return {
        "task_id": event.task_id,
        "seq": event.seq,
        "from_status": event.from_status.value if event.from_status else None,
        "to_status": event.to_status.value,
        "at": event.at.isoformat(),
        "detail": event.detail,
    }


def _enable_wal(conn: sqlite3.Connection, deadline: float) -> None:
    """Switch the file to WAL, waiting out other processes doing the same.

    Changing the journal mode of a new file needs it to itself, and SQLite reports "database is
    locked" at once rather than through the busy timeout, so processes starting together on a new
    store would fail without this retry.
    """
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
