"""The stream engine, between two WebSockets over a socket pair."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rosetta_reverse import frames
from rosetta_reverse import mux as _mux
from rosetta_reverse import websocket as _websocket

ws: Any = _websocket
Mux: Any = _mux.Mux


@pytest.fixture
def pair() -> Iterator[tuple[Any, Any]]:
    a, b = socket.socketpair()
    client, server = ws.WebSocket(a, client=True), ws.WebSocket(b, client=False)
    yield client, server
    client.close()
    server.close()


def running(mux: Any) -> Callable[[], None]:
    def serve() -> None:
        with contextlib.suppress(ws.WebSocketError):
            mux.run()

    thread = threading.Thread(target=serve)
    thread.start()

    def stop() -> None:
        mux.close()
        thread.join(10)
        assert not thread.is_alive()

    return stop


def test_open_without_connect_is_reset(pair: tuple[Any, Any]) -> None:
    client, server = pair
    stop = running(Mux(server))
    client.send(frames.encode(5, frames.OPEN))
    assert frames.decode(client.recv()) == (5, frames.RESET, b"")
    stop()


def test_data_before_the_target_connects_is_kept_in_order(pair: tuple[Any, Any]) -> None:
    client, server = pair
    gate = threading.Event()
    near, far = socket.socketpair()

    def connect() -> socket.socket:
        gate.wait(10)
        return near

    stop = running(Mux(server, connect=connect))
    client.send(frames.encode(1, frames.OPEN))
    client.send(frames.encode(1, frames.DATA, b"one "))
    client.send(frames.encode(1, frames.DATA, b"two"))
    client.send(frames.encode(1, frames.CLOSE))
    client.send(frames.encode(99, frames.DATA, b"unknown streams are ignored"))
    gate.set()
    received = b""
    while chunk := far.recv(100):
        received += chunk
    assert received == b"one two"
    far.sendall(b"back")
    far.close()
    assert frames.decode(client.recv()) == (1, frames.DATA, b"back")
    assert frames.decode(client.recv()) == (1, frames.CLOSE, b"")
    stop()


def test_a_second_open_of_a_stream_breaks_the_protocol(pair: tuple[Any, Any]) -> None:
    client, server = pair
    near, far = socket.socketpair()
    tunnel = Mux(server, connect=lambda: near)
    client.send(frames.encode(1, frames.OPEN))
    client.send(frames.encode(1, frames.OPEN))
    with pytest.raises(frames.ProtocolError):
        tunnel.run()
    far.close()
    assert tunnel.stream_count() == 0


def test_attach_after_close_fails(pair: tuple[Any, Any]) -> None:
    _, server = pair
    tunnel = Mux(server)
    tunnel.close()
    a, b = socket.socketpair()
    with a, b, pytest.raises(ConnectionError):
        tunnel.attach(a)


def test_data_beyond_the_window_breaks_the_protocol(pair: tuple[Any, Any]) -> None:
    client, server = pair
    near, far = socket.socketpair()
    gate = threading.Event()

    def connect() -> socket.socket:  # nothing is written (or granted) until the test ends
        gate.wait(10)
        return near

    tunnel = Mux(server, connect=connect)
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            tunnel.run()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    client.send(frames.encode(1, frames.OPEN))
    chunk = b"x" * frames.MAX_PAYLOAD
    with contextlib.suppress(OSError, ws.WebSocketError):  # the tunnel drops us midway
        for _ in range(frames.INITIAL_WINDOW // frames.MAX_PAYLOAD + 1):  # never granted more
            client.send(frames.encode(1, frames.DATA, chunk))
    waited = threading.Event()
    for _ in range(200):  # the tunnel ends (close() sets _ended first)...
        if tunnel._ended or waited.wait(0.05):
            break
    gate.set()  # ...and then waits for the connecting thread, held here until now
    thread.join(10)
    assert len(errors) == 1 and isinstance(errors[0], frames.ProtocolError)
    assert "beyond the window" in str(errors[0])
    far.close()
    near.close()


def test_a_consumer_that_does_not_read_stalls_only_its_own_stream(pair: tuple[Any, Any]) -> None:
    client, server = pair
    targets: list[socket.socket] = []  # the agent's ends; the test holds their peers
    peers: list[socket.socket] = []

    def connect() -> socket.socket:
        near, far = socket.socketpair()
        targets.append(near)
        peers.append(far)
        return near

    stop_agent = running(Mux(server, connect=connect))
    platform = Mux(client)
    stop_platform = running(platform)
    slow_mine, slow_theirs = socket.socketpair()
    fast_mine, fast_theirs = socket.socketpair()
    platform.attach(slow_theirs)
    pushed = 0

    def push() -> None:  # far more than the window and the socket buffers: it must block
        nonlocal pushed
        slow_mine.settimeout(2)
        with contextlib.suppress(OSError):
            while pushed < 64 * 1024 * 1024:
                slow_mine.sendall(b"y" * 65536)
                pushed += 65536

    pusher = threading.Thread(target=push)
    pusher.start()
    platform.attach(fast_theirs)
    deadline = threading.Event()
    while len(peers) < 2 and not deadline.wait(0.05):
        pass
    fast_mine.sendall(b"ping")
    peers[1].settimeout(5)
    assert peers[1].recv(100) == b"ping"  # the other stream still flows
    peers[1].sendall(b"pong")
    fast_mine.settimeout(5)
    assert fast_mine.recv(100) == b"pong"
    pusher.join(30)
    assert pushed < 64 * 1024 * 1024  # the slow stream was held back, not buffered without end
    for sock in (slow_mine, fast_mine, *peers):
        sock.close()
    stop_platform()
    stop_agent()
