"""Helpers of the proxy plugin's tests: a real upstream server, a proxy client, WebSocket frames.

:class:`Upstream` is a threaded HTTP/1.1 server on 127.0.0.1; its paths are matched by their end,
so they work with the task prefix kept or stripped: ``.../echo`` (the request as JSON, with
``peer``, the proxy's source port: a reused connection keeps it), ``.../big?n=N`` (N bytes),
``.../chunked``, ``.../upload`` (counts the body), ``.../sse`` (one event, then a second once
``release`` is set), ``.../ws`` (a WebSocket echo), ``.../wait?s=S`` (answers after S seconds),
``.../stall`` (no answer for 2 s), ``.../stallbody`` (2 of 10 bytes, then 2 s of silence),
``.../close`` (``Connection: close``), ``.../hangup`` (a keep-alive answer, then the connection
is closed).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import socket
import struct
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from rosetta_core.model import Computing, Task, TaskStatus
from rosetta_proxy.tunnel import ProxyTunnel

SECRET = "test-platform-secret"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MiB = 1024 * 1024


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Upstream

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/octet-stream") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if path.endswith("/big"):
            left = int(query["n"][0])
            self.send_response(200)
            self.send_header("Content-Length", str(left))
            self.end_headers()
            block = b"x" * MiB
            while left:
                n = min(left, MiB)
                self.wfile.write(block[:n] if n < MiB else block)
                left -= n
        elif path.endswith("/chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"hello ", b"chunked ", b"world"):
                self.wfile.write(b"%x\r\n%b\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif path.endswith("/sse"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"data: first\n\n")
            self.wfile.flush()
            self.server.release.wait(10)
            self.wfile.write(b"data: last\n\n")
            self.close_connection = True
        elif path.endswith("/ws"):
            self._websocket()
        elif path.endswith("/cookies"):
            self.send_response(200)
            self.send_header("Set-Cookie", "rosetta_proxy=evil; Path=/")
            self.send_header("Set-Cookie", "theirs=1; Path=/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path.endswith("/wait"):
            time.sleep(float(query["s"][0]))
            self._send(200, b"waited")
        elif path.endswith("/stall"):
            time.sleep(2)  # longer than the tests' read timeout: no head at all
        elif path.endswith("/stallbody"):
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"12")
            self.wfile.flush()
            time.sleep(2)
            self.close_connection = True
        elif path.endswith("/close"):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"ok")
            self.close_connection = True
        elif path.endswith("/hangup"):
            # a keep-alive response, then the upstream closes anyway (as an idle timeout would)
            self._send(200, b"bye")
            self.close_connection = True
        elif path.endswith("/echo") or path.endswith("/"):
            body = {
                "method": self.command,
                "path": self.path,
                "headers": list(self.headers.items()),
                "peer": self.client_address[1],
            }
            self._send(200, json.dumps(body).encode(), "application/json")
        else:
            self._send(404, b"no such page")

    def do_POST(self) -> None:
        count = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while size := int(self.rfile.readline().split(b";")[0], 16):
                left = size
                while left:
                    left -= len(self.rfile.read(min(left, MiB)))
                count += size
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                data = self.rfile.read(min(left, MiB))
                if not data:
                    break
                left -= len(data)
                count += len(data)
        self._send(200, str(count).encode(), "text/plain")

    def _websocket(self) -> None:
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        while True:
            opcode, payload = read_frame(self.rfile.read)
            self.wfile.write(frame(opcode, payload, mask=False))
            self.wfile.flush()
            if opcode == 8:
                self.close_connection = True
                return


def frame(opcode: int, payload: bytes, *, mask: bool) -> bytes:
    """One final WebSocket frame (payloads under 64 KiB)."""
    head = bytes([0x80 | opcode])
    length = len(payload)
    bit = 0x80 if mask else 0
    head += bytes([bit | length]) if length < 126 else bytes([bit | 126]) + struct.pack("!H", length)
    if not mask:
        return head + payload
    key = b"\x01\x02\x03\x04"
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_frame(read: object) -> tuple[int, bytes]:
    """The opcode and unmasked payload of the next frame; ``read(n)`` returns exactly n bytes."""

    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            more = read(n - len(data))  # type: ignore[operator]
            if not more:
                raise EOFError
            data += more
        return data

    first, second = exactly(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", exactly(2))
    key = exactly(4) if second & 0x80 else b"\0\0\0\0"
    payload = exactly(length)
    return first & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.release = threading.Event()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def make_task(port: int, owner: str = "alice") -> Task:
    return Task(
        name="t",
        owner=owner,
        software="s",
        computing="local",
        status=TaskStatus.RUNNING,
        interface_host="127.0.0.1",
        interface_port=port,
    )


COMPUTING = Computing(name="local", engines=("podman",))


def connect(tunnel: ProxyTunnel) -> http.client.HTTPConnection:
    host, port = tunnel.server.address
    return http.client.HTTPConnection(host, port, timeout=10)


def follow_link(tunnel: ProxyTunnel, link: str) -> http.client.HTTPResponse:
    """GET the open link; the response is read and its connection closed."""
    conn = connect(tunnel)
    try:
        parts = urllib.parse.urlsplit(link)
        conn.request("GET", f"{parts.path}?{parts.query}")
        response = conn.getresponse()
        response.read()
        return response
    finally:
        conn.close()


def login(tunnel: ProxyTunnel, task: Task) -> str:
    """The ``Cookie`` header value the task's owner gets from an open link."""
    response = follow_link(tunnel, tunnel.open_link(task))
    assert response.status == 302, response.status
    return response.headers["Set-Cookie"].split(";")[0]


def raw(tunnel: ProxyTunnel, data: bytes) -> tuple[bytes, bool]:
    """Send ``data`` on a fresh connection; what came back and whether the proxy closed it."""
    with socket.create_connection(tunnel.server.address, timeout=5) as sock:
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
            closed = True
        except TimeoutError:
            closed = False
        return received, closed
