"""The ``ssh-forward`` tunnel: a supervised local port forward to a task's interface over SSH.

For a task on an SSH-reached host, the interface listens on that host's loopback (the engines
publish on 127.0.0.1 only). This tunnel listens on a platform port (loopback by default) and
forwards every connection through the resource's SSH connection (a ``direct-tcpip`` channel) to
the task's ``interface_host:interface_port`` as seen from the host.

- **Ports** come from a configured range. The store holds one row per open tunnel (port primary
  key, task id unique), so two tunnels never get the same port, even across processes, and a
  restarted platform opens a task's tunnel on the port it had.
- **Supervision**: each accepted connection asks the executor for a live transport, which
  reconnects after a drop; the listener itself stays up while the host is unreachable
  (connections made meanwhile are closed at once), so the tunnel works again as soon as SSH does.
- **Closing** stops the listener, ends its connections and frees the port row.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database, Migrations

from rosetta_core.errors import BackendError, ConflictError
from rosetta_core.model import Computing, Task, utcnow
from rosetta_core.tunnels import Endpoint

if TYPE_CHECKING:
    import paramiko

    from rosetta_core.kernel import Kernel

log = logging.getLogger(__name__)

TABLE = "ssh_tunnels"
BUFFER = 64 * 1024

migrations = Migrations("ssh")


@migrations(name="0001_ssh_tunnels")
def _tunnels(db: Database) -> None:
    db.table(TABLE).create({"port": int, "task_id": str, "created_at": str}, pk="port")
    db.table(TABLE).create_index(["task_id"], unique=True)


TransportFor = Callable[[Task, Computing], "contextlib.AbstractContextManager[paramiko.Transport]"]
"""``(task, computing)`` -> a context manager holding a live transport (``SSHExecutor.hold()``)."""


class _Forward:
    """One listening socket and the connections it forwards."""

    def __init__(
        self, task: Task, computing: Computing, listener: socket.socket, transport_for: TransportFor
    ) -> None:
        self.task, self.computing = task, computing
        self.listener = listener
        self.transport_for = transport_for
        self.endpoint = Endpoint(host=listener.getsockname()[0], port=listener.getsockname()[1])
        self.closed = threading.Event()
        self._peers: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name=f"forward-{task.id[:8]}", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, peer = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client, peer), daemon=True).start()

    def _serve(self, client: socket.socket, peer: tuple[str, int]) -> None:
        target = (self.task.interface_host or "127.0.0.1", self.task.interface_port or 0)
        with self._lock:
            self._peers.add(client)
        try:
            # held for the connection's life: a pooled connection is never idle-closed under it
            with self.transport_for(self.task, self.computing) as transport:
                channel = transport.open_channel("direct-tcpip", target, peer, timeout=15)
                try:
                    _pump(client, channel, self.closed)
                finally:
                    channel.close()
        except Exception as exc:  # the host is down, the channel refused: this connection only
            log.warning("tunnel of task %s: cannot reach %s:%s: %s", self.task.id, *target, exc)
        finally:
            with self._lock:
                self._peers.discard(client)
            with contextlib.suppress(OSError):
                client.close()

    def close(self) -> None:
        self.closed.set()
        # shutdown first: close alone leaves a listener that a thread blocked in accept() holds
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.listener.close()
        with self._lock:
            peers = list(self._peers)
        for peer in peers:
            with contextlib.suppress(OSError):
                peer.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)


def _pump(client: socket.socket, channel: Any, closed: threading.Event) -> None:
    """Copy bytes both ways until either side ends (or the tunnel closes)."""
    while not closed.is_set():
        readable, _, _ = select.select([client, channel], [], [], 1.0)
        if client in readable:
            data = client.recv(BUFFER)
            if not data:
                return
            channel.sendall(data)
        if channel in readable:
            data = channel.recv(BUFFER)
            if not data:
                return
            client.sendall(data)


class ForwardTunnel:
    """The ``ssh-forward`` tunnel (see the module docstring). Thread-safe."""

    name = "ssh-forward"

    def __init__(
        self,
        kernel: Kernel,
        transport_for: TransportFor,
        *,
        ports: tuple[int, int] = (20000, 20999),
        bind: str = "127.0.0.1",
    ) -> None:
        self.kernel = kernel
        self.transport_for = transport_for
        self.ports = ports
        self.bind = bind
        self._open: dict[str, _Forward] = {}
        self._lock = threading.Lock()

    def open(self, task: Task, computing: Computing) -> Endpoint:
        """Listen for ``task`` (idempotent: the same endpoint while open) on its recorded port, or
        on the first free port of the range. Raises :class:`ConflictError` when the range is full
        and :class:`BackendError` when the recorded port is taken by another program."""
        if task.interface_port is None:
            raise ConflictError(f"task {task.id} has no interface address yet")
        with self._lock:
            current = self._open.get(task.id)
            if current is not None and not current.closed.is_set():
                return current.endpoint
            listener = self._listen(task.id)
            forward = _Forward(task, computing, listener, self.transport_for)
            self._open[task.id] = forward
            return forward.endpoint

    def endpoint(self, task_id: str) -> Endpoint | None:
        with self._lock:
            forward = self._open.get(task_id)
        return None if forward is None else forward.endpoint

    def close(self, task_id: str) -> None:
        with self._lock:
            forward = self._open.pop(task_id, None)
        if forward is not None:
            forward.close()
        with self.kernel.store.write() as db:
            db.execute(f"DELETE FROM {TABLE} WHERE task_id = ?", [task_id])  # noqa: S608 - fixed name

    def close_all(self) -> None:
        """Stop every listener of this process; the port rows stay (a restart reopens them)."""
        with self._lock:
            forwards = list(self._open.values())
            self._open.clear()
        for forward in forwards:
            forward.close()

    def _listen(self, task_id: str) -> socket.socket:
        with self.kernel.store.write() as db:
            row = db.execute(f"SELECT port FROM {TABLE} WHERE task_id = ?", [task_id]).fetchone()  # noqa: S608
            if row is not None:
                try:
                    return _bind(self.bind, int(row[0]))
                except OSError as exc:
                    raise BackendError(
                        f"the tunnel port {row[0]} of task {task_id} is taken by another program: {exc}"
                    ) from exc
            taken = {r[0] for r in db.execute(f"SELECT port FROM {TABLE}")}  # noqa: S608
            for port in range(self.ports[0], self.ports[1] + 1):
                if port in taken:
                    continue
                try:
                    listener = _bind(self.bind, port)
                except OSError:
                    continue  # used by something else on this machine
                db.table(TABLE).insert({"port": port, "task_id": task_id, "created_at": utcnow().isoformat()})
                return listener
        raise ConflictError(f"no free tunnel port left in {self.ports[0]}-{self.ports[1]}")


def _bind(host: str, port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(64)
    except OSError:
        listener.close()
        raise
    return listener
