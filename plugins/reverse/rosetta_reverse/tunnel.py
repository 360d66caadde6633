"""The ``reverse`` tunnel: task interfaces on nodes that accept no inbound connection.

The agent of a batch task dials out to the platform's :class:`~rosetta_reverse.platform_side.ReverseListener`
(the extension :meth:`ReverseTunnel.extension` ships in its job); opening the tunnel of a running
task gives it a :class:`~rosetta_reverse.platform_side.LoopbackPort` on the platform, whose every
connection is a new connection to the interface on the node. The proxy uses that port as the
task's upstream (``transport = "reverse"`` on the computing resource); used as a resource's
``tunnel`` it is the endpoint users connect to on the platform's machine.

Each task's agent signs its connections with a secret derived from the platform secret and the
task id: nothing per task is stored, and one task's secret opens no other's tunnel.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from rosetta_core.agent.extensions import AgentExtension
from rosetta_core.errors import BackendUnavailable
from rosetta_core.model import Computing, Task
from rosetta_core.tunnels import Endpoint
from rosetta_reverse.bundle import extension_source
from rosetta_reverse.options import ReverseOptions

if TYPE_CHECKING:
    from rosetta_reverse.platform_side import LoopbackPort, ReverseListener


def reverse_secret(platform_secret: str, task_id: str) -> str:
    """The secret the agent of ``task_id`` signs its tunnel with (hex)."""
    return hmac.new(
        platform_secret.encode(), b"rosetta-reverse:" + task_id.encode(), hashlib.sha256
    ).hexdigest()


class ReverseTunnel:
    """Accepts agents' tunnels and gives each open task a loopback port. Thread-safe.

    ``secret``: the platform secret (or a callable returning it). ``accepts(task_id)``: whether an
    agent of that task may connect now (the plugin passes: the task exists and has not ended);
    by default every task.
    """

    name = "reverse"

    def __init__(
        self,
        secret: str | Callable[[], str],
        options: ReverseOptions | None = None,
        *,
        accepts: Callable[[str], bool] | None = None,
    ) -> None:
        self.options = options or ReverseOptions()
        self._secret = secret
        self._accepts = accepts or (lambda _task: True)
        self._listener: ReverseListener | None = None
        self._ports: dict[str, LoopbackPort] = {}
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- the listener

    def _platform_secret(self) -> str:
        return self._secret() if callable(self._secret) else self._secret

    def _secret_for(self, task_id: str) -> str:
        if not self._accepts(task_id):
            raise KeyError(task_id)
        return reverse_secret(self._platform_secret(), task_id)

    def start(self) -> str:
        """Start accepting agents (idempotent); returns the URL agents dial.

        Raises :class:`BackendUnavailable` when ``listen`` cannot be bound (another process, such
        as ``rosetta serve``, may hold it: connect through that process).
        """
        # the listener's modules (WebSocket, ssl) are imported by a process that serves only
        from rosetta_reverse.platform_side import ReverseListener

        with self._lock:
            if self._listener is None:
                host, port = self.options.address
                try:
                    listener = ReverseListener(self._secret_for, host=host, port=port)
                except OSError as exc:
                    raise BackendUnavailable(
                        f"the reverse tunnel cannot listen on {self.options.listen}: {exc} "
                        "(is `rosetta serve` running? reach the task through it)"
                    ) from exc
                listener.start()
                self._listener = listener
            return self._agent_url(self._listener)

    serve = start
    """The kernel's ``serve()`` of a tunnel with a server of its own (``rosetta serve`` calls it)."""

    @property
    def agent_url(self) -> str:
        """The URL agents dial: ``agent_url`` from the options, else the listener's own address."""
        with self._lock:
            return self._agent_url(self._listener)

    def _agent_url(self, listener: ReverseListener | None) -> str:
        if self.options.agent_url:
            return self.options.agent_url
        host, port = listener.address if listener is not None else self.options.address
        return f"ws://{f'[{host}]' if ':' in host else host}:{port}/reverse"

    def connected(self, task_id: str, timeout: float = 0.0) -> bool:
        """Whether the agent of ``task_id`` has a tunnel (waiting up to ``timeout`` seconds)."""
        with self._lock:
            listener = self._listener
        return listener is not None and listener.connected(task_id, timeout)

    # ---------------------------------------------------------------- what the agent runs

    def extension(self, task: Task) -> AgentExtension:
        """The agent extension that dials this platform for ``task``."""
        return AgentExtension(
            name="reverse",
            source=extension_source(),
            config={
                "url": self.agent_url,
                "task": task.id,
                "secret": reverse_secret(self._platform_secret(), task.id),
            },
        )

    # ---------------------------------------------------------------- the Tunnel protocol

    def open(self, task: Task, computing: Computing) -> Endpoint:
        """The task's loopback port (made once; the listener is started if it is not)."""
        if task.interface_port is None:
            raise ValueError(f"task {task.id} has no interface address yet")
        from rosetta_reverse.platform_side import LoopbackPort

        self.start()
        with self._lock:
            port = self._ports.get(task.id)
            if port is None:
                assert self._listener is not None
                port = LoopbackPort(self._listener, task.id, wait=self.options.wait)
                port.start()
                self._ports[task.id] = port
            return Endpoint(host="127.0.0.1", port=port.port)

    def endpoint(self, task_id: str) -> Endpoint | None:
        with self._lock:
            port = self._ports.get(task_id)
            return None if port is None else Endpoint(host="127.0.0.1", port=port.port)

    def close(self, task_id: str) -> None:
        """Close the task's port and drop its agent's tunnel (an agent still running reconnects)."""
        with self._lock:
            port = self._ports.pop(task_id, None)
            listener = self._listener
        if port is not None:
            port.close()
        if listener is not None:
            listener.disconnect(task_id)

    def close_all(self) -> None:
        """Close every port and the listener (``start`` opens a new one)."""
        with self._lock:
            ports, self._ports = list(self._ports.values()), {}
            listener, self._listener = self._listener, None
        for port in ports:
            port.close()
        if listener is not None:
            listener.close()
