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
