"""The tunnel interface: how a user reaches a running task's interface."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs

from rosetta_core.model import Computing, Task


@attrs.frozen(kw_only=True)
class Endpoint:
    """Where a user connects: ``url`` for web interfaces, ``host``/``port`` for raw TCP."""

    host: str
    port: int
    url: str | None = None


@runtime_checkable
class Tunnel(Protocol):
    """Makes a task's interface reachable.

    Contract (checked by :class:`rosetta_core.testing.contracts.TunnelContract`): ``open`` is
    idempotent (opening twice gives the same endpoint), ``close`` of an unknown task is a no-op,
    ``endpoint`` returns ``None`` when nothing is open for the task.
    """

    name: str

    def open(self, task: Task, computing: Computing) -> Endpoint: ...

    def endpoint(self, task_id: str) -> Endpoint | None: ...

    def close(self, task_id: str) -> None: ...


class DirectTunnel:
    """The identity tunnel: the interface is already reachable where the task listens."""

    name = "direct"

    def __init__(self) -> None:
        self._open: dict[str, Endpoint] = {}

    def open(self, task: Task, computing: Computing) -> Endpoint:
        if task.interface_host is None or task.interface_port is None:
            raise ValueError(f"task {task.id} has no interface address yet")
        endpoint = Endpoint(host=task.interface_host, port=task.interface_port)
        return self._open.setdefault(task.id, endpoint)

    def endpoint(self, task_id: str) -> Endpoint | None:
        return self._open.get(task_id)

    def close(self, task_id: str) -> None:
        self._open.pop(task_id, None)
