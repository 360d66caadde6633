"""The storage interface: shared file systems bound into tasks and browsed by users."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs

from rosetta_core.engines import Bind
from rosetta_core.executors import Executor
from rosetta_core.model import Storage


@attrs.frozen(kw_only=True)
class Entry:
    """One item of a directory listing."""

    name: str
    is_dir: bool
    size: int


@runtime_checkable
class StorageBackend(Protocol):
    """A kind of storage (``Storage.kind``).

    ``bind`` says how the storage is mounted into a task of ``user``; ``list_dir`` lists a path
    relative to the storage's base and must refuse any path that escapes it.
    """

    name: str

    def bind(self, storage: Storage, user: str) -> Bind: ...

    def list_dir(self, storage: Storage, user: str, path: str, executor: Executor) -> Sequence[Entry]: ...
