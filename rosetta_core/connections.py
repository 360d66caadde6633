"""Connections: which tunnel reaches a task's interface, opened on demand and kept open.

A computing resource names its tunnel in its options (``tunnel = "<name>"``; default ``direct``, the
identity). :meth:`Connections.connect` opens it for a running task (idempotent); the orchestrator
closes it when the task ends; a long-running process (``rosetta serve``) calls :meth:`keep_open`
after every reconcile pass, so tunnels come back after a restart or after the resource was
unreachable for a while, and starts the servers of tunnels that serve users themselves
(:meth:`Connections.serve`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rosetta_core.errors import ConfigError, ConflictError, NotFoundError, PluginError, RosettaError
from rosetta_core.model import Computing, Task, TaskStatus
from rosetta_core.tunnels import Endpoint, Tunnel

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel

log = logging.getLogger(__name__)

DEFAULT_TUNNEL = "direct"


def tunnel_name(computing: Computing) -> str:
    """The tunnel ``computing`` names in its ``tunnel`` option, or ``direct``."""
    name = computing.options.get("tunnel", DEFAULT_TUNNEL)
    if not isinstance(name, str):
        raise PluginError(f"computing {computing.name!r}: the tunnel option must be a tunnel's name")
    return name


class Connections:
    """Opens, keeps and closes the tunnels of a kernel's tasks."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def tunnel_for(self, computing: Computing) -> Tunnel:
        """The tunnel of ``computing``; raises :class:`UnknownNameError` if no plugin offers it."""
        return self.kernel.tunnels.get(tunnel_name(computing))

    def connect(self, task_ref: str) -> Endpoint:
        """Open (or return the open) tunnel to a running task's interface.

        Raises :class:`ConflictError` when the task is not running or has no interface address yet,
        and the tunnel's :class:`~rosetta_core.errors.BackendError` when it cannot be opened.
        """
        task = self.kernel.store.find_task(task_ref)
        if task.status is not TaskStatus.RUNNING:
            raise ConflictError(
                f"task {task.name} is {task.status.value}: only a running task can be reached"
            )
        if task.interface_port is None:
            raise ConflictError(f"task {task.name} has no interface address (yet)")
        computing = self.kernel.store.get(Computing, task.computing)
        return self.tunnel_for(computing).open(task, computing)

    def serve(self) -> dict[str, str]:
        """Start the servers of the tunnels that serve users themselves; tunnel name -> users' URL.

        Such a tunnel (the proxy: one listening port for every task) offers ``serve() -> str``,
        which starts its server (idempotently) and returns the URL users reach it at; its plugin
        stops it at shutdown. Only a long-running process (``rosetta serve``) calls this: a one-off
        command opens routes but serves nobody.
        """
        urls: dict[str, str] = {}
        for name in self.kernel.tunnels:
            serve = getattr(self.kernel.tunnels.get(name), "serve", None)
            if callable(serve):
                try:
                    urls[name] = str(serve())
                except OSError as exc:  # a port taken by another program: say which, plainly
                    raise ConfigError(f"the {name} tunnel cannot start its server: {exc}") from exc
        return urls

    def close(self, task: Task) -> None:
        """Close ``task``'s tunnel if one is open; never raises (a failure is logged)."""
        try:
            computing = self.kernel.store.get(Computing, task.computing)
            self.tunnel_for(computing).close(task.id)
        except NotFoundError:
            return
        except Exception:
            log.exception("closing the tunnel of task %s failed", task.id)

    def keep_open(self) -> int:
        """Open the tunnel of every running task on a resource with a tunnel other than ``direct``.

        Returns how many are open. A tunnel that cannot be opened now is logged and retried on the
        next call.
        """
        computings = {
            c.name: c
            for c in self.kernel.store.all(Computing)
            if c.options.get("tunnel", DEFAULT_TUNNEL) != DEFAULT_TUNNEL
        }
        if not computings:
            return 0
        opened = 0
        for task in self.kernel.store.list_tasks(statuses=[TaskStatus.RUNNING]):
            computing = computings.get(task.computing)
            if computing is None or task.interface_port is None:
                continue
            try:
                self.tunnel_for(computing).open(task, computing)
                opened += 1
            except RosettaError as exc:
                log.warning("cannot open the tunnel of task %s yet: %s", task.id, exc)
            except Exception:
                log.exception("the tunnel of task %s failed to open", task.id)
        return opened
