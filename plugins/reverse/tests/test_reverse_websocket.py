"""The WebSocket codec: the client against the server side, on real sockets."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rosetta_reverse import websocket as _websocket

ws: Any = _websocket


class Server:
    """One-connection WebSocket server on 127.0.0.1 running ``handler(conn)`` in a thread."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            try:
                self.handler(conn)
            except BaseException as error:
                self.error = error

    def close(self) -> None:
        self.thread.join(10)
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[socket.socket], None]], Server]]:
    servers: list[Server] = []

    def start(handler: Callable[[socket.socket], None]) -> Server:
        servers.append(Server(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def echo(conn: socket.socket) -> None:
    _, _, headers = ws.read_request(conn)
    peer = ws.accept(conn, headers)
    try:
        while True:
            peer.send(peer.recv())
    except ws.ConnectionClosed:
        pass


def test_accept_key_matches_rfc_example() -> None:
    assert ws.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_echo_binary_messages_of_all_length_encodings(serve: Any) -> None:
    server = serve(echo)
    client = ws.connect(f"ws://127.0.0.1:{server.port}/x", {"X-Test": "1"})
    for size in (0, 1, 125, 126, 65535, 65536, 100_000):
        data = bytes(range(256)) * (size // 256) + bytes(size % 256)
        client.send(data)
        assert client.recv() == data
    client.close()
    server.close()
    assert server.error is None


def test_client_frames_are_masked_and_server_frames_not(serve: Any) -> None:
    seen: list[bytes] = []

    def raw(conn: socket.socket) -> None:
        _, _, headers = ws.read_request(conn)
        peer = ws.accept(conn, headers)
        head = conn.recv(2)
        seen.append(head)
        rest = conn.recv(4 + 3)
        seen.append(ws.mask(rest[4:], rest[:4]))
        peer.send(b"abc")
        peer.close()

    server = serve(raw)
    client = ws.connect(f"ws://127.0.0.1:{server.port}/")
    client.send(b"xyz")
    assert client.recv() == b"abc"
    with pytest.raises(ws.ConnectionClosed) as closed:
        client.recv()
    assert closed.value.code == 1000
    client.close()
    server.close()
    assert seen == [bytes([0x82, 0x83]), b"xyz"]


def test_ping_is_answered_and_fragments_are_reassembled(serve: Any) -> None:
    got: list[bytes] = []

    def raw(conn: socket.socket) -> None:
        _, _, headers = ws.read_request(conn)
        peer = ws.accept(conn, headers)
        conn.sendall(bytes([0x02, 2]) + b"ab" + bytes([0x89, 1]) + b"p" + bytes([0x80, 2]) + b"cd")
        head = conn.recv(2)
        key = conn.recv(4)
        got.append(bytes([head[0]]) + ws.mask(conn.recv(head[1] & 0x7F), key))
        peer.close()

    server = serve(raw)
    client = ws.connect(f"ws://127.0.0.1:{server.port}/")
    assert client.recv() == b"abcd"
    with pytest.raises(ws.ConnectionClosed):
        client.recv()
    client.close()
    server.close()
    assert got == [b"\x8ap"]  # the pong, echoing the ping's payload


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (bytes([0x81, 1]) + b"t", 1003),  # text
        (bytes([0xC2, 1]) + b"x", 1002),  # a reserved bit
        (bytes([0x82, 0x81]) + b"\0\0\0\0x", 1002),  # masked from the server
        (bytes([0x82, 127]) + struct.pack(">Q", 1 << 40), 1009),  # oversized
        (bytes([0x09, 0]), 1002),  # fragmented control frame
        (bytes([0x80, 1]) + b"x", 1002),  # continuation of nothing
    ],
)
def test_violations_close_with_a_status(serve: Any, frame: bytes, code: int) -> None:
    closes: list[int] = []

    def raw(conn: socket.socket) -> None:
        _, _, headers = ws.read_request(conn)
        ws.accept(conn, headers)
        conn.sendall(frame)
        head = conn.recv(2)
        key = conn.recv(4)
        closes.append(head[0])
        closes.append(struct.unpack(">H", ws.mask(conn.recv(head[1] & 0x7F), key)[:2])[0])

    server = serve(raw)
    client = ws.connect(f"ws://127.0.0.1:{server.port}/")
    with pytest.raises(ws.WebSocketError):
        client.recv()
    client.close()
    server.close()
    assert closes == [0x88, code]


def test_server_refuses_unmasked_and_oversized_client_frames(serve: Any) -> None:
    errors: list[str] = []

    def server_side(conn: socket.socket) -> None:
        _, _, headers = ws.read_request(conn)
        peer = ws.accept(conn, headers, max_message=1000)
        for _ in range(2):
            try:
                peer.recv()
            except ws.WebSocketError as error:
                errors.append(str(error))
                return

    server = serve(server_side)
    client = ws.connect(f"ws://127.0.0.1:{server.port}/")
    client.send(b"x" * 1001)
    server.close()
    client.close()
    assert errors == ["frame of 1001 bytes is too big"]

    server = serve(server_side)
    client = ws.connect(f"ws://127.0.0.1:{server.port}/")
    client.client = False  # now it sends unmasked frames
    client.send(b"x")
    server.close()
    client.close()
    assert errors[1] == "frame masking is wrong for this side"


def test_handshake_failures(serve: Any) -> None:
    def wrong_accept(conn: socket.socket) -> None:
        ws.read_request(conn)
        conn.sendall(b"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: nope\r\n\r\n")

    server = serve(wrong_accept)
    with pytest.raises(ws.HandshakeError, match="Accept"):
        ws.connect(f"ws://127.0.0.1:{server.port}/")
    server.close()

    def refusing(conn: socket.socket) -> None:
        ws.read_request(conn)
        ws.refuse(conn, 401, "Unauthorized")

    server = serve(refusing)
    with pytest.raises(ws.HandshakeError) as refused:
        ws.connect(f"ws://127.0.0.1:{server.port}/")
    assert refused.value.status == 401
    server.close()

    with pytest.raises(ws.WebSocketError):
        ws.connect("http://127.0.0.1:1/")


@pytest.mark.parametrize(
    "headers",
    [
        {"upgrade": "websocket", "connection": "Upgrade", "sec-websocket-version": "8"},
        {
            "connection": "Upgrade",
            "sec-websocket-version": "13",
            "sec-websocket-key": "AAAAAAAAAAAAAAAAAAAAAA==",
        },
        {
            "upgrade": "websocket",
            "connection": "Upgrade",
            "sec-websocket-version": "13",
            "sec-websocket-key": "x",
        },
    ],
)
def test_accept_refuses_bad_requests(headers: dict[str, str]) -> None:
    a, b = socket.socketpair()
    with a, b, pytest.raises(ws.HandshakeError):
        ws.accept(a, headers)
