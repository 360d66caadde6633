"""End to end: an HTTP server on "the node", the agent dialing out, requests through the platform."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from rosetta_reverse import agent_side as _agent_side
from rosetta_reverse import websocket as _websocket
from rosetta_reverse.platform_side import AUTH_HEADER, LoopbackPort, NotConnected, ReverseListener

agent: Any = _agent_side
ws: Any = _websocket
SECRETS = {"t1": "s3cret", "t2": "other"}
BIG = hashlib.sha256(b"seed").digest() * (10 * 1024 * 1024 // 32)  # 10 MiB


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = BIG if self.path == "/big" else self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    """Every thread a test starts (tunnels, streams, servers) has ended shortly after it."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(threading.enumerate()) - before == set()


@pytest.fixture
def node() -> Iterator[tuple[str, int]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    yield "127.0.0.1", server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def listener() -> Iterator[ReverseListener]:
    with ReverseListener(SECRETS.__getitem__) as started:
        yield started


class Running:
    def __init__(self, dialer: Any) -> None:
        self.dialer = dialer
        self.thread = threading.Thread(target=dialer.run)
        self.thread.start()

    def stop(self) -> None:
        self.dialer.stop()
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def dialed(listener: ReverseListener, node: tuple[str, int]) -> Iterator[Running]:
    dialer = agent.Dialer(
        listener.url, lambda: agent.sign("t1", SECRETS["t1"]), *node, backoff=0.05, log=lambda m: None
    )
    running = Running(dialer)
    assert listener.connected("t1", timeout=10)
    yield running
    running.stop()


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_twenty_concurrent_gets_through_the_loopback_port(listener: ReverseListener, dialed: Running) -> None:
    with LoopbackPort(listener, "t1") as port, ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda i: get(port.port, f"/item/{i}"), range(20)))
    assert results == [(200, f"/item/{i}".encode()) for i in range(20)]


def test_ten_mebibytes_arrive_intact(listener: ReverseListener, dialed: Running) -> None:
    with LoopbackPort(listener, "t1") as port:
        status, body = get(port.port, "/big")
    assert status == 200
    assert hashlib.sha256(body).digest() == hashlib.sha256(BIG).digest()


def test_keep_alive_requests_share_one_stream(listener: ReverseListener, dialed: Running) -> None:
    with LoopbackPort(listener, "t1") as port:
        conn = http.client.HTTPConnection("127.0.0.1", port.port, timeout=10)
        for i in range(3):
            conn.request("GET", f"/{i}")
            assert conn.getresponse().read() == f"/{i}".encode()
        conn.close()


def test_open_stream_is_a_connected_socket(listener: ReverseListener, dialed: Running) -> None:
    with listener.open_stream("t1") as sock:
        sock.sendall(b"GET /s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"\r\n\r\n/s")


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_agent_reconnects_after_the_websocket_drops(listener: ReverseListener, dialed: Running) -> None:
    wait_for(lambda: dialed.dialer.connections == 1)
    assert listener.disconnect("t1")
    wait_for(lambda: dialed.dialer.connections == 2)
    assert listener.connected("t1", timeout=10)
    with LoopbackPort(listener, "t1") as port:
        assert get(port.port, "/again") == (200, b"/again")
    assert dialed.dialer.connections == 2


def test_a_refused_target_resets_the_stream(listener: ReverseListener) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    target = closed.getsockname()
    closed.close()
    running = Running(
        agent.Dialer(listener.url, lambda: agent.sign("t1", "s3cret"), *target, log=lambda m: None)
    )
    try:
        assert listener.connected("t1", timeout=10)
        with listener.open_stream("t1") as sock:
            sock.settimeout(10)
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(10) == b""
    finally:
        running.stop()


def test_no_tunnel_means_not_connected(listener: ReverseListener) -> None:
    with pytest.raises(NotConnected):
        listener.open_stream("t2", timeout=0.05)
    with (
        LoopbackPort(listener, "t2", wait=0.05) as port,
        socket.create_connection(("127.0.0.1", port.port), timeout=10) as sock,
    ):
        assert sock.recv(10) == b""


def handshake_status(listener: ReverseListener, headers: dict[str, str]) -> int:
    try:
        ws.connect(listener.url, headers).close()
    except ws.HandshakeError as error:
        return int(error.status)
    return 101


def test_bad_old_and_replayed_authentication_is_refused(listener: ReverseListener) -> None:
    headers = agent.sign("t1", "s3cret")
    assert handshake_status(listener, headers) == 101
    assert handshake_status(listener, headers) == 401  # replayed
    assert handshake_status(listener, agent.sign("t1", "wrong")) == 401
    assert handshake_status(listener, agent.sign("t1", "s3cret", now=time.time() - 3600)) == 401
    assert handshake_status(listener, agent.sign("nobody", "s3cret")) == 401
    assert handshake_status(listener, agent.sign("t2", "s3cret")) == 401  # another task's secret
    assert handshake_status(listener, {AUTH_HEADER: "t1 garbage"}) == 401
    assert handshake_status(listener, {}) == 401


def test_a_dialer_with_a_bad_secret_keeps_retrying_until_stopped(listener: ReverseListener) -> None:
    logged: list[str] = []
    running = Running(
        agent.Dialer(
            listener.url, lambda: agent.sign("t1", "wrong"), "127.0.0.1", 1, backoff=0.01, log=logged.append
        )
    )
    wait_for(lambda: len(logged) >= 3)
    running.stop()
    assert not listener.connected("t1")
    assert "401" in logged[0]


def test_a_new_tunnel_replaces_the_old(listener: ReverseListener, node: tuple[str, int]) -> None:
    first = ws.connect(listener.url, agent.sign("t1", "s3cret"))
    assert listener.connected("t1", timeout=10)
    running = Running(
        agent.Dialer(listener.url, lambda: agent.sign("t1", "s3cret"), *node, log=lambda m: None)
    )
    try:
        with pytest.raises(ws.ConnectionClosed):
            first.recv()
        first.close()
        wait_for(lambda: running.dialer.connections == 1)
        with LoopbackPort(listener, "t1") as port:
            assert get(port.port, "/new") == (200, b"/new")
    finally:
        running.stop()
