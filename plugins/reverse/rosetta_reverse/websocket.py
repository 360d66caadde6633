# mypy: ignore-errors
# (untyped on purpose: it must run on Python 3.6, whose annotations cannot use the forms of 3.11)
#
# A minimal RFC 6455 WebSocket over a blocking socket, standard library only. It ships with the
# in-job agent, so it is Python 3.6 syntax. What a caller may rely on:
#
# - connect(url, headers) performs the client handshake (ws:// or wss://), verifies
#   Sec-WebSocket-Accept and returns a client WebSocket; HandshakeError otherwise.
# - read_request(sock) and accept(sock, headers) perform the server side of the handshake.
# - WebSocket.recv() returns the next whole binary message (fragments are reassembled up to
#   max_message bytes); it answers pings itself, ignores pongs, and raises ConnectionClosed when
#   the peer closes or the connection is lost, WebSocketError (after sending a close frame with
#   the matching status) for a protocol violation: text messages, a wrong masking, reserved bits,
#   an oversized message or control frame.
# - WebSocket.send(data) sends one binary message; safe from several threads at once.
# - WebSocket.close() sends a close frame (best effort) and closes the socket; idempotent.
#   It does not wait for the peer's close frame.
import base64
import contextlib
import hashlib
import os
import socket
import ssl
import struct
import threading
from urllib.parse import urlsplit

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_MESSAGE = 128 * 1024
MAX_HEAD = 16 * 1024


class WebSocketError(Exception):
    """A WebSocket protocol violation or failed handshake."""


class HandshakeError(WebSocketError):
    """The opening handshake failed; status is the HTTP status received or to send."""

    def __init__(self, message, status=400):
        WebSocketError.__init__(self, message)
        self.status = status


class ConnectionClosed(WebSocketError):
    """The peer closed the connection (code 1006 when it was lost without a close frame)."""

    def __init__(self, code, reason=""):
        WebSocketError.__init__(self, f"connection closed: {code} {reason}")
        self.code = code
        self.reason = reason


def accept_key(key):
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key value."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()  # noqa: S324 - fixed by RFC 6455
    return base64.b64encode(digest).decode("ascii")


def mask(data, key):
    """data XOR the repeating 4-byte key (masking and unmasking are the same)."""
    if not data:
        return b""
    n = len(data)
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def _read_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionClosed(1006, "connection lost")
        buf += chunk
    return bytes(buf)


def _read_head(sock):
    # Byte by byte: nothing after the head may be consumed, it belongs to the first frames.
    buf = bytearray()
    while not buf.endswith(b"\r\n\r\n"):
        if len(buf) >= MAX_HEAD:
            raise HandshakeError("handshake head too long", 431)
        chunk = sock.recv(1)
        if not chunk:
            raise HandshakeError("connection closed during the handshake")
        buf += chunk
    lines = bytes(buf).decode("latin-1").split("\r\n")[:-2]
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise HandshakeError("malformed header line")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers


def _has_token(value, token):
    return token in [part.strip().lower() for part in (value or "").split(",")]


def connect(url, headers=None, timeout=10.0, ssl_context=None, max_message=MAX_MESSAGE):
    """Open a client WebSocket to url (ws:// or wss://) with extra request headers."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise WebSocketError(f"not a WebSocket URL: {url}")
    secure = parts.scheme == "wss"
    host = parts.hostname
    port = parts.port or (443 if secure else 80)
    path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    sock = socket.create_connection((host, port), timeout)
    try:
        if secure:
            context = ssl_context or ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=host)
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        for name, value in (headers or {}).items():
            if "\r" in name + value or "\n" in name + value:
                raise WebSocketError(f"header with a line break: {name}")
            lines.append(f"{name}: {value}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        status_line, received = _read_head(sock)
        fields = status_line.split(" ", 2)
        status = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
        if status != 101:
            raise HandshakeError(f"handshake refused: {status_line}", status)
        if not _has_token(received.get("upgrade"), "websocket"):
            raise HandshakeError("no Upgrade: websocket in the response", status)
        if received.get("sec-websocket-accept") != accept_key(key):
            raise HandshakeError("wrong Sec-WebSocket-Accept", status)
        sock.settimeout(None)
        return WebSocket(sock, client=True, max_message=max_message)
    except BaseException:
        sock.close()
        raise


def read_request(sock):
    """Read an upgrade request: (method, target, headers with lower-case names)."""
    request_line, headers = _read_head(sock)
    fields = request_line.split(" ")
    if len(fields) != 3 or not fields[2].startswith("HTTP/1."):
        raise HandshakeError("malformed request line")
    return fields[0], fields[1], headers


def accept(sock, headers, max_message=MAX_MESSAGE):
    """Complete the server handshake for a request read by read_request; a server WebSocket."""
    if not _has_token(headers.get("upgrade"), "websocket") or not _has_token(
        headers.get("connection"), "upgrade"
    ):
        raise HandshakeError("not a WebSocket upgrade", 426)
    if headers.get("sec-websocket-version") != "13":
        raise HandshakeError("unsupported WebSocket version", 426)
    key = headers.get("sec-websocket-key", "")
    try:
        if len(base64.b64decode(key.encode("ascii"), validate=True)) != 16:
            raise ValueError(key)
    except ValueError:
        raise HandshakeError("bad Sec-WebSocket-Key") from None
    response = (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
    )
    sock.sendall(response.encode("ascii"))
    return WebSocket(sock, client=False, max_message=max_message)


def refuse(sock, status, reason):
    """Answer a handshake with an HTTP error and close the socket."""
    body = (reason + "\n").encode("utf-8")
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    try:
        sock.sendall(head.encode("latin-1") + body)
    except OSError:
        pass
    finally:
        sock.close()


class WebSocket:
    """One open WebSocket; client=True masks what it sends and expects unmasked frames."""

    def __init__(self, sock, client, max_message=MAX_MESSAGE):
        self.sock = sock
        self.client = client
        self.max_message = max_message
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._close_sent = False
        self._closed = False

    def send(self, data):
        """Send data as one binary message."""
        self._send_frame(BINARY, bytes(data))

    def ping(self, data=b""):
        self._send_frame(PING, bytes(data))

    def _send_frame(self, opcode, payload):
        head = bytearray([0x80 | opcode])
        bit = 0x80 if self.client else 0
        n = len(payload)
        if n < 126:
            head.append(bit | n)
        elif n < 65536:
            head.append(bit | 126)
            head += struct.pack(">H", n)
        else:
            head.append(bit | 127)
            head += struct.pack(">Q", n)
        if self.client:
            key = os.urandom(4)
            head += key
            payload = mask(payload, key)
        with self._send_lock:
            with self._state_lock:
                if self._close_sent:
                    raise ConnectionClosed(1006, "close already sent")
                if opcode == CLOSE:
                    self._close_sent = True
            self.sock.sendall(bytes(head) + payload)

    def _fail(self, code, message):
        self.close(code, message[:100])
        raise WebSocketError(message)

    def _read_frame(self):
        b0, b1 = _read_exact(self.sock, 2)
        fin, opcode, masked, n = b0 & 0x80, b0 & 0x0F, b1 & 0x80, b1 & 0x7F
        if b0 & 0x70:
            self._fail(1002, "reserved bits set")
        if bool(masked) == self.client:
            self._fail(1002, "frame masking is wrong for this side")
        if n == 126:
            (n,) = struct.unpack(">H", _read_exact(self.sock, 2))
        elif n == 127:
            (n,) = struct.unpack(">Q", _read_exact(self.sock, 8))
        if opcode >= 0x8 and (n > 125 or not fin):
            self._fail(1002, "bad control frame")
        if n > self.max_message:
            self._fail(1009, f"frame of {n} bytes is too big")
        key = _read_exact(self.sock, 4) if masked else None
        payload = _read_exact(self.sock, n)
        return fin, opcode, mask(payload, key) if key else payload

    def recv(self):
        """The next binary message (bytes)."""
        parts = []
        size = 0
        while True:
            try:
                fin, opcode, payload = self._read_frame()
            except OSError:
                self.close_socket()
                raise ConnectionClosed(1006, "connection lost") from None
            except ConnectionClosed:
                self.close_socket()
                raise
            if opcode == PING:
                self._send_frame(PONG, payload)
                continue
            if opcode == PONG:
                continue
            if opcode == CLOSE:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
                reason = payload[2:].decode("utf-8", "replace")
                self.close(1000 if code == 1005 else code)
                raise ConnectionClosed(code, reason)
            if (opcode == BINARY and not parts) or (opcode == CONTINUATION and parts):
                parts.append(payload)
                size += len(payload)
                if size > self.max_message:
                    self._fail(1009, "message too big")
                if fin:
                    return b"".join(parts)
                continue
            if opcode == TEXT:
                self._fail(1003, "text messages are not accepted")
            self._fail(1002, f"unexpected opcode {opcode}")

    def close(self, code=1000, reason=""):
        """Send a close frame (best effort) and close the socket; safe to call more than once."""
        with contextlib.suppress(OSError, WebSocketError):
            self._send_frame(CLOSE, struct.pack(">H", code) + reason.encode("utf-8"))
        self.close_socket()

    def close_socket(self):
        """Close the socket without a close frame, waking a thread blocked in recv()."""
        with self._state_lock:
            self._close_sent = True
            if self._closed:
                return
            self._closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
