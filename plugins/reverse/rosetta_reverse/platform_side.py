"""The platform's end of the reverse tunnel: accept agents' WebSockets, open streams to tasks.

:class:`ReverseListener` accepts WebSocket connections (HTTP/1.1 upgrade on any path) from in-job
agents. Each must carry the header ``X-Rosetta-Reverse-Auth: <task> <timestamp> <nonce> <hmac>``
(see :func:`rosetta_reverse.agent_side.sign`): the HMAC-SHA256 keyed by ``secret_for(task)`` over
task, timestamp and nonce, a timestamp within ``max_skew`` seconds of now, a nonce not seen before
in that window. Anything else is answered 401/400 and closed. A task has at most one tunnel: a
new one replaces the old (whose streams end).

:meth:`ReverseListener.open_stream` gives a connected socket whose other end is a new TCP
connection on the node; :class:`LoopbackPort` turns the tunnel into a port on 127.0.0.1, so that
a proxy's upstream can simply be ``127.0.0.1:<port>``. All threads end in ``close()``.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from rosetta_reverse import mux as _mux
from rosetta_reverse import websocket as _websocket

AUTH_HEADER = "X-Rosetta-Reverse-Auth"
MAX_SKEW = 60.0
HANDSHAKE_TIMEOUT = 10.0

# The codec and the stream engine are untyped (they run on Python 3.6 on the nodes).
_ws: Any = _websocket
_Mux: Any = _mux.Mux


class NotConnected(ConnectionError):
    """The task has no tunnel (its agent is not connected)."""


class _Accepting:
    """A loopback listening socket served by one thread until ``close()``."""

    def __init__(self, host: str, port: int) -> None:
        self._server = socket.create_server((host, port))
        self._server.settimeout(0.2)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port)."""
        host, port = self._server.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join()
        self._server.close()


class ReverseListener(_Accepting):
    """Accepts agents' tunnels; ``secret_for(task)`` returns the task's secret (KeyError: unknown)."""

    def __init__(
        self,
        secret_for: Callable[[str], str],
        host: str = "127.0.0.1",
        port: int = 0,
        max_skew: float = MAX_SKEW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(host, port)
        self._secret_for = secret_for
        self._max_skew = max_skew
        self._clock = clock
        self._lock = threading.Condition()
        self._seen: dict[str, float] = {}
        self._tunnels: dict[str, Any] = {}
        self._workers: list[threading.Thread] = []
        self._closed = False

    def __enter__(self) -> ReverseListener:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The ``ws://`` URL agents dial (behind a TLS front it becomes ``wss://``)."""
        host, port = self.address
        return f"ws://{host}:{port}/reverse"

    def _handle(self, conn: socket.socket) -> None:
        worker = threading.Thread(target=self._serve, args=(conn,), daemon=True)
        with self._lock:
            self._workers = [w for w in self._workers if w.is_alive()]
            self._workers.append(worker)
        worker.start()

    def authenticate(self, value: str | None) -> str:
        """The task id a header value authenticates; ``PermissionError`` if bad, old or replayed."""
        fields = (value or "").split(" ")
        if len(fields) != 4:
            raise PermissionError("malformed authentication")
        task, stamp, nonce, mac = fields
        try:
            secret = self._secret_for(task)
            age = abs(self._clock() - int(stamp))
        except (KeyError, ValueError):
            raise PermissionError("unknown task or bad timestamp") from None
        message = f"{task}\n{stamp}\n{nonce}".encode()
        expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, mac):
            raise PermissionError("bad signature")
        if age > self._max_skew:
            raise PermissionError("timestamp too old")
        now = self._clock()
        with self._lock:
            self._seen = {key: until for key, until in self._seen.items() if until > now}
            if mac in self._seen:
                raise PermissionError("replayed authentication")
            self._seen[mac] = now + 2 * self._max_skew
        return task

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(HANDSHAKE_TIMEOUT)
        try:
            _, _, headers = _ws.read_request(conn)
            task = self.authenticate(headers.get(AUTH_HEADER.lower()))
            ws = _ws.accept(conn, headers)
        except PermissionError:
            _ws.refuse(conn, 401, "Unauthorized")
            return
        except _websocket.HandshakeError as error:
            _ws.refuse(conn, int(error.status), "Bad Request")
            return
        except OSError:
            conn.close()
            return
        conn.settimeout(None)
        tunnel = _Mux(ws)
        with self._lock:
            if self._closed:
                tunnel.close()
                return
            old = self._tunnels.get(task)
            self._tunnels[task] = tunnel
            self._lock.notify_all()
        if old is not None:
            old.close()
        try:
            tunnel.run()
        except Exception:  # noqa: S110 - any end of the WebSocket ends the tunnel, nothing else
            pass
        finally:
            with self._lock:
                if self._tunnels.get(task) is tunnel:
                    del self._tunnels[task]

    def connected(self, task: str, timeout: float = 0.0) -> bool:
        """Whether task has a tunnel, waiting up to timeout seconds for one."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while task not in self._tunnels:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return False
                self._lock.wait(left)
            return True

    def attach(self, task: str, sock: socket.socket, timeout: float = 0.0) -> None:
        """Relay sock over a new stream of task's tunnel; ``NotConnected`` if none within timeout.

        On success the tunnel owns sock (it closes it when the stream ends).
        """
        if not self.connected(task, timeout):
            raise NotConnected(task)
        with self._lock:
            tunnel = self._tunnels.get(task)
        if tunnel is None:
            raise NotConnected(task)
        try:
            tunnel.attach(sock)
        except ConnectionError:
            raise NotConnected(task) from None

    def open_stream(self, task: str, timeout: float = 0.0) -> socket.socket:
        """A connected socket whose peer is a new TCP connection to the task's interface.

        The caller owns and closes it; a refused connection on the node shows as a reset or end
        of file. ``NotConnected`` if the task has no tunnel within timeout seconds.
        """
        mine, theirs = socket.socketpair()
        try:
            self.attach(task, theirs, timeout)
        except BaseException:
            mine.close()
            theirs.close()
            raise
        return mine

    def disconnect(self, task: str) -> bool:
        """Drop task's tunnel (its agent will reconnect); whether there was one."""
        with self._lock:
            tunnel = self._tunnels.pop(task, None)
        if tunnel is None:
            return False
        tunnel.close()
        return True

    def close(self) -> None:
        """Stop accepting, end every tunnel and stream, and wait for their threads.

        A connection still in its handshake may hold this up to ``HANDSHAKE_TIMEOUT`` seconds.
        """
        super().close()
        with self._lock:
            self._closed = True
            tunnels = list(self._tunnels.values())
            self._tunnels.clear()
            workers = list(self._workers)
            self._lock.notify_all()
        for tunnel in tunnels:
            tunnel.close()
        for worker in workers:
            worker.join()


class LoopbackPort(_Accepting):
    """A port on 127.0.0.1 whose every connection is a stream of one task's tunnel.

    A connection made while the task has no tunnel (within ``wait`` seconds) is closed at once.
    """

    def __init__(self, listener: ReverseListener, task: str, port: int = 0, wait: float = 5.0) -> None:
        super().__init__("127.0.0.1", port)
        self._listener = listener
        self._task = task
        self._wait = wait

    def __enter__(self) -> LoopbackPort:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def port(self) -> int:
        return self.address[1]

    def _handle(self, conn: socket.socket) -> None:
        try:
            self._listener.attach(self._task, conn, self._wait)
        except NotConnected:
            conn.close()
