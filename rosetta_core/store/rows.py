"""Conversion between model records and store rows.

Rows hold scalars; mappings and tuples are JSON text. Records read back from the store were validated
when written, so tasks (the hot path: listings of thousands) are rebuilt without running validators
again; other records go through the lenient converter, which ignores columns a newer migration added.
"""

from __future__ import annotations

import functools
import gc
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import attrs

from rosetta_core.model import (
    Computing,
    KeyPair,
    Software,
    Storage,
    Task,
    TaskEvent,
    TaskOptions,
    TaskStatus,
    User,
)
from rosetta_core.serde import make_converter

T = TypeVar("T")

TABLES: dict[type[Any], str] = {
    User: "users",
    KeyPair: "keypairs",
    Software: "software",
    Computing: "computings",
    Storage: "storages",
    Task: "tasks",
}
JSON_COLUMNS = frozenset({"env", "engines", "options"})
TASK_COLUMNS: tuple[str, ...] = tuple(f.name for f in attrs.fields(Task))

_LENIENT = make_converter(strict=False)
_DEFAULT_OPTIONS = TaskOptions()


def to_row(record: Any) -> dict[str, Any]:
    """A record as a row: JSON text for mappings and tuples, ISO text for timestamps."""
    row: dict[str, Any] = {}
    for field in attrs.fields(type(record)):
        value = getattr(record, field.name)
        if attrs.has(type(value)):
            # unset options are left out: most rows then hold "{}", which reads back for free
            plain = {k: v for k, v in _LENIENT.unstructure(value).items() if v is not None}
            value = json.dumps(plain, sort_keys=True)
        elif isinstance(value, Mapping | tuple | list):
            value = json.dumps(list(value) if isinstance(value, tuple) else value, sort_keys=True)
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, bool):
            value = int(value)
        row[field.name] = value
    return row


def from_row(cls: type[T], row: Mapping[str, Any]) -> T:
    """A record of ``cls`` from a row the store wrote."""
    data = {k: (json.loads(v) if k in JSON_COLUMNS and isinstance(v, str) else v) for k, v in row.items()}
    for field in attrs.fields(cls):  # type: ignore[arg-type]
        if field.type in ("bool", bool) and isinstance(data.get(field.name), int):
            data[field.name] = bool(data[field.name])
        # a NULL in a plain-text column means "not set": let the field's default apply
        if data.get(field.name, attrs.NOTHING) is None and field.type in ("str", str):
            data.pop(field.name)
    if "engines" in data and isinstance(data["engines"], list):
        data["engines"] = tuple(data["engines"])
    known = {f.name for f in attrs.fields(cls)}  # type: ignore[arg-type]
    return _LENIENT.structure({k: v for k, v in data.items() if k in known}, cls)


@functools.lru_cache(maxsize=4096)
def _options_from_json(text: str | None) -> TaskOptions:
    # cached by text: rows repeat a handful of option sets, and TaskOptions is frozen
    if not text or text == "{}":
        return _DEFAULT_OPTIONS
    data = json.loads(text)
    options = object.__new__(TaskOptions)
    for field in attrs.fields(TaskOptions):
        object.__setattr__(options, field.name, data.get(field.name))
    return options


_STATUS = {s.value: s for s in TaskStatus}
_fromiso = datetime.fromisoformat


def task_from_tuple(values: Sequence[Any]) -> Task:
    """A task from a row tuple in :data:`TASK_COLUMNS` order, trusted: no validators run."""
    (
        name,
        owner,
        software,
        computing,
        options,
        status,
        engine,
        handle,
        interface_host,
        interface_port,
        error,
        exit_code,
        stop_requested,
        auth_token,
        task_id,
        created_at,
        updated_at,
    ) = values
    task = object.__new__(Task)
    # Task is frozen: set its whole __dict__ at once, as its own __init__ would have left it
    object.__setattr__(
        task,
        "__dict__",
        {
            "name": name,
            "owner": owner,
            "software": software,
            "computing": computing,
            "options": _options_from_json(options),
            "status": _STATUS[status],
            "engine": engine,
            "handle": handle,
            "interface_host": interface_host,
            "interface_port": interface_port,
            "error": error,
            "exit_code": exit_code,
            "stop_requested": bool(stop_requested),
            "auth_token": auth_token,
            "id": task_id,
            "created_at": _fromiso(created_at),
            "updated_at": _fromiso(updated_at),
        },
    )
    return task


def tasks_from_rows(rows: Sequence[Sequence[Any]]) -> list[Task]:
    """Many tasks at once. The cyclic garbage collector is paused meanwhile: these objects hold no
    cycles, and its passes over thousands of new objects cost a third of the time."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return [task_from_tuple(row) for row in rows]
    finally:
        if paused:
            gc.enable()


def event_from_row(row: Mapping[str, Any]) -> TaskEvent:
    return TaskEvent(
        task_id=row["task_id"],
        seq=row["seq"],
        from_status=TaskStatus(row["from_status"]) if row["from_status"] else None,
        to_status=TaskStatus(row["to_status"]),
        at=datetime.fromisoformat(row["at"]),
        detail=row["detail"] or "",
    )
