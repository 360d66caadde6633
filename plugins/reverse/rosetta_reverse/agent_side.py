# mypy: ignore-errors
# (untyped on purpose: it must run on Python 3.6, whose annotations cannot use the forms of 3.11)
#
# The node's end of the reverse tunnel: dial OUT to the platform, serve its streams locally.
# Standard library only, Python 3.6 syntax: it ships with the in-job agent.
#
# - sign(task_id, secret) -> the authentication headers for one connection (fresh nonce each time).
# - Dialer(url, headers, target_host, target_port).run() keeps one WebSocket to url open: each
#   stream the platform opens becomes a TCP connection to target_host:target_port on this node.
#   When the WebSocket drops it reconnects after a backoff (doubling from `backoff` up to
#   `max_backoff`, back to `backoff` after a connection that was accepted); stop() (from any
#   thread) ends run(). headers is a dict or a callable returning one, called per connection.
# - dial(...) is Dialer(...).run().
import hashlib
import hmac
import os
import socket
import sys
import threading
import time

from rosetta_reverse import frames, websocket
from rosetta_reverse.mux import Mux

AUTH_HEADER = "X-Rosetta-Reverse-Auth"


def signature(secret, task_id, timestamp, nonce):
    """Hex HMAC-SHA256, keyed by the task's secret, over task id, timestamp and nonce."""
    message = (f"{task_id}\n{timestamp}\n{nonce}").encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(task_id, secret, now=None):
    """The headers authenticating one connection of task_id: "<task> <timestamp> <nonce> <hmac>"."""
    timestamp = str(int(time.time() if now is None else now))
    nonce = os.urandom(16).hex()
    value = f"{task_id} {timestamp} {nonce} {signature(secret, task_id, timestamp, nonce)}"
    return {AUTH_HEADER: value}


def _log(message):
    sys.stderr.write(f"rosetta-reverse: {message}\n")
    sys.stderr.flush()


class Dialer:
    def __init__(
        self,
        url,
        headers,
        target_host,
        target_port,
        ssl_context=None,
        backoff=0.5,
        max_backoff=30.0,
        connect_timeout=10.0,
        log=_log,
    ):
        self.url = url
        self.headers = headers
        self.target = (target_host, target_port)
        self.ssl_context = ssl_context
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.connect_timeout = connect_timeout
        self.log = log
        self.connections = 0  # WebSockets accepted so far
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._mux = None

    def _connect_target(self):
        sock = socket.create_connection(self.target, self.connect_timeout)
        sock.settimeout(None)
        return sock

    def run(self):
        delay = self.backoff
        while not self._stop.is_set():
            try:
                headers = self.headers() if callable(self.headers) else self.headers
                ws = websocket.connect(
                    self.url, headers, timeout=self.connect_timeout, ssl_context=self.ssl_context
                )
            except (OSError, websocket.WebSocketError) as error:
                self.log(f"cannot reach {self.url}: {error}")
            else:
                self.connections += 1
                mux = Mux(ws, connect=self._connect_target, log=self.log)
                with self._lock:
                    self._mux = mux
                    stopped = self._stop.is_set()
                if stopped:
                    mux.close()
                    break
                delay = self.backoff
                try:
                    mux.run()
                except (OSError, websocket.WebSocketError, frames.ProtocolError) as error:
                    if not self._stop.is_set():
                        self.log(f"tunnel dropped: {error}")
                with self._lock:
                    self._mux = None
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, self.max_backoff)

    def stop(self):
        """End run(): close the WebSocket and every stream; no reconnection follows."""
        with self._lock:
            self._stop.set()
            mux = self._mux
        if mux is not None:
            mux.ws.close_socket()


def dial(url, headers, target_host, target_port, **options):
    """Run a Dialer in this thread (until its stop(), e.g. from a signal handler)."""
    Dialer(url, headers, target_host, target_port, **options).run()
