"""How the proxy reaches a task's interface: :class:`Transports`.

A computing resource's ``transport`` option names the tunnel between the platform and the
interface: ``direct`` (the default: the interface's own address is reachable from the proxy, as
for a task on this machine), ``ssh-forward`` (a port forwarded over the resource's SSH
connection), ``reverse`` (the in-job agent dials out to the platform), or any other tunnel a
plugin registers. The proxy's route to the task then leads to the platform's end of that tunnel.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from rosetta_core.errors import PluginError
from rosetta_core.model import Computing, Task

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel

log = logging.getLogger(__name__)

DIRECT = "direct"


def transport_name(computing: Computing) -> str:
    """The tunnel ``computing``'s ``transport`` option names (default ``direct``)."""
    name = computing.options.get("transport", DIRECT)
    if not isinstance(name, str) or name == "proxy":
        raise PluginError(
            f"computing {computing.name!r}: transport must name a tunnel other than the proxy, "
            "such as direct, ssh-forward or reverse"
        )
    return name


class Transports:
    """Opens and closes the transports of a kernel's proxied tasks. Thread-safe."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self._opened: dict[str, str] = {}
        self._lock = threading.Lock()

    def upstream(self, task: Task, computing: Computing) -> tuple[str, int]:
        """Where the proxy connects for ``task``: its interface, or the platform's end of its
        transport (opened here, idempotently). Raises ``ValueError`` when the task has no
        interface address, the tunnel's errors when it cannot be opened."""
        if task.interface_host is None or task.interface_port is None:
            raise ValueError(f"task {task.id} has no interface address yet")
        name = transport_name(computing)
        if name == DIRECT:
            return task.interface_host, task.interface_port
        endpoint = self.kernel.tunnels.get(name).open(task, computing)
        with self._lock:
            self._opened[task.id] = name
        return endpoint.host, endpoint.port

    def release(self, task_id: str) -> None:
        """Close the transport opened for ``task_id``, if any; never raises (logged)."""
        with self._lock:
            name = self._opened.pop(task_id, None)
        if name is None:
            return
        try:
            self.kernel.tunnels.get(name).close(task_id)
        except Exception:
            log.exception("closing the %s transport of task %s failed", name, task_id)
