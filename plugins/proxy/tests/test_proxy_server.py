"""The proxy server against a real upstream on 127.0.0.1: auth, strictness, headers, streaming."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import threading
import time
import urllib.parse

import pytest
from proxy_upstream import (
    COMPUTING,
    MiB,
    Upstream,
    connect,
    follow_link,
    frame,
    login,
    make_task,
    raw,
    read_frame,
)

from rosetta_core.model import Task
from rosetta_proxy.routes import RouteTable
from rosetta_proxy.server import ProxyServer
from rosetta_proxy.tokens import Tokens
from rosetta_proxy.tunnel import ProxyTunnel


def get(tunnel: ProxyTunnel, path: str, cookie: str | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = connect(tunnel)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        return response.status, dict(response.headers), response.read()
    finally:
        conn.close()


# ---------------------------------------------------------------- authentication


def test_without_a_cookie_the_answer_is_401(tunnel: ProxyTunnel, task: Task) -> None:
    status, _, _ = get(tunnel, f"/t/{task.id}/echo")
    assert status == 401


def test_without_a_cookie_a_login_url_redirects(upstream: Upstream) -> None:
    tokens = Tokens("k")
    routes = RouteTable()
    server = ProxyServer(routes, tokens, login_url="https://platform.example/login")
    server.start()
    try:
        tunnel = ProxyTunnel("k")
        tunnel.server = server
        tunnel.routes = routes
        task = make_task(upstream.port)
        tunnel.open(task, COMPUTING)
        status, headers, _ = get(tunnel, f"/t/{task.id}/echo")
        assert status == 302
        assert headers["Location"] == f"https://platform.example/login?next=/t/{task.id}/echo"
    finally:
        server.close()


def test_the_link_sets_a_scoped_cookie_and_redirects_to_the_route(tunnel: ProxyTunnel, task: Task) -> None:
    response = follow_link(tunnel, tunnel.open_link(task))
    assert response.status == 302
    assert response.headers["Location"] == f"/t/{task.id}/"
    attributes = [a.strip() for a in response.headers["Set-Cookie"].split(";")]
    assert f"Path=/t/{task.id}/" in attributes
    assert "HttpOnly" in attributes and "SameSite=Lax" in attributes
    assert "Secure" not in attributes
    cookie = attributes[0]
    status, _, body = get(tunnel, f"/t/{task.id}/echo", cookie)
    assert status == 200 and json.loads(body)["method"] == "GET"


def test_secure_cookies_when_reached_over_https(upstream: Upstream) -> None:
    from rosetta_proxy.options import ProxyOptions

    tunnel = ProxyTunnel("k", ProxyOptions(listen="127.0.0.1:0", secure_cookies=True))
    tunnel.start()
    try:
        task = make_task(upstream.port)
        tunnel.open(task, COMPUTING)
        link = tunnel.open_link(task).replace(tunnel.options.public_url, "")
        response = follow_link(tunnel, link)
        assert "Secure" in [a.strip() for a in response.headers["Set-Cookie"].split(";")]
        cookie = response.headers["Set-Cookie"].split(";")[0]
        _, _, body = get(tunnel, f"/t/{task.id}/echo", cookie)
        assert ["X-Forwarded-Proto", "https"] in json.loads(body)["headers"]
    finally:
        tunnel.close_all()


def test_a_link_is_single_use(tunnel: ProxyTunnel, task: Task) -> None:
    link = tunnel.open_link(task)
    assert follow_link(tunnel, link).status == 302
    replayed = follow_link(tunnel, link)
    assert replayed.status == 401 and "Set-Cookie" not in replayed.headers


def test_an_expired_link_is_refused(tunnel: ProxyTunnel, task: Task) -> None:
    now = time.time()
    tunnel.tokens._clock = lambda: now - 61  # minted 61 s ago: the default TTL is 60 s
    link = tunnel.open_link(task)
    tunnel.tokens._clock = time.time
    assert follow_link(tunnel, link).status == 401


def test_a_forged_link_is_refused(tunnel: ProxyTunnel, task: Task) -> None:
    other = Tokens("another secret").mint_link(task.id, task.owner)
    assert follow_link(tunnel, f"/t/{task.id}/_rosetta/open?token={other}").status == 401
    assert follow_link(tunnel, f"/t/{task.id}/_rosetta/open").status == 401


def test_another_users_cookie_is_forbidden(tunnel: ProxyTunnel, task: Task, upstream: Upstream) -> None:
    bobs = make_task(upstream.port, owner="bob")
    tunnel.open(bobs, COMPUTING)
    bob_cookie = login(tunnel, bobs)
    status, _, _ = get(tunnel, f"/t/{task.id}/echo", bob_cookie)
    assert status == 403
    # a cookie alice got for this task, signed for bob (the link was minted for him) is refused too
    forged = tunnel.tokens.mint_cookie(task.id, "bob")
    assert get(tunnel, f"/t/{task.id}/echo", f"rosetta_proxy={forged}")[0] == 403


def test_a_link_cannot_serve_as_a_cookie(tunnel: ProxyTunnel, task: Task) -> None:
    token = tunnel.tokens.mint_link(task.id, task.owner)
    assert get(tunnel, f"/t/{task.id}/echo", f"rosetta_proxy={token}")[0] == 401


def test_tokens_never_reach_the_logs(
    tunnel: ProxyTunnel, task: Task, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    link = tunnel.open_link(task)
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["token"][0]
    response = follow_link(tunnel, link)
    cookie = response.headers["Set-Cookie"].split(";")[0]
    follow_link(tunnel, link)  # replayed: refused, and logged
    get(tunnel, f"/t/{task.id}/echo", cookie)
    assert f"/t/{task.id}/_rosetta/open" in caplog.text
    assert token not in caplog.text
    assert cookie.partition("=")[2] not in caplog.text


def test_unknown_routes_are_404(tunnel: ProxyTunnel) -> None:
    assert get(tunnel, "/t/nosuchtask/")[0] == 404
    assert get(tunnel, "/elsewhere")[0] == 404


def test_the_bare_prefix_redirects_to_the_route(tunnel: ProxyTunnel, task: Task) -> None:
    status, headers, _ = get(tunnel, f"/t/{task.id}")
    assert status == 302 and headers["Location"] == f"/t/{task.id}/"


# ---------------------------------------------------------------- strictness


@pytest.mark.parametrize(
    "path",
    ["/../x", "/a/../../x", "/%2e%2e/x", "/%2E%2e/x", "/.%2e/x", "/a%2f..%2f..", "/a%2F", "/a%5c..", "/./x"],
)
def test_escapes_from_the_prefix_are_400(tunnel: ProxyTunnel, task: Task, cookie: str, path: str) -> None:
    assert get(tunnel, f"/t/{task.id}{path}", cookie)[0] == 400


def request_bytes(task: Task, cookie: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"POST /t/{task.id}/upload HTTP/1.1", "Host: proxy", f"Cookie: {cookie}", *headers, "", ""]
    return "\r\n".join(lines).encode() + body


@pytest.mark.parametrize(
    "headers",
    [
        ("Content-Length: 5", "Transfer-Encoding: chunked"),
        ("Transfer-Encoding: chunked", "Content-Length: 5"),
        ("Content-Length: 5", "Content-Length: 5"),
        ("Content-Length: 5, 5",),
        ("Content-Length: +5",),
        ("Transfer-Encoding: gzip, chunked",),
        ("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"),
        ("X-Folded: a", " b"),
        ("Bad Header: x",),
        ("X-Bare: a\nContent-Length: 0",),
    ],
)
def test_ambiguous_framing_is_400_and_closes(
    tunnel: ProxyTunnel, task: Task, cookie: str, headers: tuple[str, ...]
) -> None:
    # a second request follows: it must never be parsed
    data = request_bytes(task, cookie, *headers, body=b"0\r\n\r\nGET /t/x/ HTTP/1.1\r\nHost: p\r\n\r\n")
    received, closed = raw(tunnel, data)
    assert received.startswith(b"HTTP/1.1 400 ")
    assert received.count(b"HTTP/1.1") == 1
    assert closed


@pytest.mark.parametrize(
    "line",
    [
        b"GET /t/x/ HTTP/1.1 extra",
        b"GET  /t/x/ HTTP/1.1",
        b"GET http://evil/ HTTP/1.1",
        b"GET /t/x/ HTTP/2.0",
        b"G\x01T /t/x/ HTTP/1.1",
        b"GET /t/x/\x7f HTTP/1.1",
    ],
)
def test_bad_request_lines_are_400_and_close(tunnel: ProxyTunnel, line: bytes) -> None:
    received, closed = raw(tunnel, line + b"\r\nHost: p\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 400 ") and closed


def test_a_missing_host_is_400(tunnel: ProxyTunnel) -> None:
    received, closed = raw(tunnel, b"GET /t/x/ HTTP/1.1\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 400 ") and closed


# ---------------------------------------------------------------- forwarding


def test_headers_forwarded_and_stripped(tunnel: ProxyTunnel, task: Task, cookie: str) -> None:
    conn = connect(tunnel)
    try:
        conn.putrequest("GET", f"/t/{task.id}/echo?a=1", skip_host=True)
        conn.putheader("Host", "platform.example")
        conn.putheader("Cookie", f"theirs=1; {cookie}; other=2")
        conn.putheader("Connection", "keep-alive, X-Secret-Hop")
        conn.putheader("X-Secret-Hop", "drop me")
        conn.putheader("Keep-Alive", "timeout=5")
        conn.putheader("TE", "trailers")
        conn.putheader("Proxy-Authorization", "Basic Zm9v")
        conn.putheader("X-Forwarded-For", "6.6.6.6")
        conn.putheader("X-Kept", "yes")
        conn.endheaders()
        response = conn.getresponse()
        echoed = json.loads(response.read())
    finally:
        conn.close()
    headers = {k.lower(): v for k, v in echoed["headers"]}
    assert echoed["path"] == f"/t/{task.id}/echo?a=1"
    assert headers["x-kept"] == "yes"
    assert headers["cookie"] == "theirs=1; other=2"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == headers["host"] == "platform.example"
    for gone in ("x-secret-hop", "keep-alive", "te", "proxy-authorization"):
        assert gone not in headers


def test_the_owners_authorization_is_sent_unless_the_client_sends_its_own(
    tunnel: ProxyTunnel, upstream: Upstream
) -> None:
    task = make_task(upstream.port)
    tunnel.open_route(task, strip_prefix=True, authorization="token s3cret")
    cookie = login(tunnel, task)
    _, _, body = get(tunnel, f"/t/{task.id}/echo", cookie)
    assert ["Authorization", "token s3cret"] in json.loads(body)["headers"]
    conn = connect(tunnel)
    try:
        conn.request("GET", f"/t/{task.id}/echo", headers={"Cookie": cookie, "Authorization": "Bearer mine"})
        echoed = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    assert [v for k, v in echoed["headers"] if k.lower() == "authorization"] == ["Bearer mine"]


def test_only_the_proxy_cookie_leaves_no_cookie_header(tunnel: ProxyTunnel, task: Task, cookie: str) -> None:
    _, _, body = get(tunnel, f"/t/{task.id}/echo", cookie)
    assert "cookie" not in {k.lower() for k, _ in json.loads(body)["headers"]}


def test_the_upstream_cannot_set_the_proxy_cookie(tunnel: ProxyTunnel, task: Task, cookie: str) -> None:
    conn = connect(tunnel)
    try:
        conn.request("GET", f"/t/{task.id}/cookies", headers={"Cookie": cookie})
        response = conn.getresponse()
        response.read()
        assert response.headers.get_all("Set-Cookie") == ["theirs=1; Path=/"]
    finally:
        conn.close()


def test_expect_100_continue(tunnel: ProxyTunnel, task: Task, cookie: str) -> None:
    head = request_bytes(task, cookie, "Content-Length: 5", "Expect: 100-continue")
    with socket.create_connection(tunnel.server.address, timeout=5) as sock:
        sock.sendall(head)
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"HTTP/1.1 200 ")
        while reader.readline() != b"\r\n":
            pass
        assert reader.read(1) == b"5"
        reader.close()


def test_strip_prefix(tunnel: ProxyTunnel, upstream: Upstream) -> None:
    task = make_task(upstream.port)
    tunnel.open_route(task, strip_prefix=True)
    cookie = login(tunnel, task)
    _, _, body = get(tunnel, f"/t/{task.id}/echo?q=1", cookie)
    echoed = json.loads(body)
    assert echoed["path"] == "/echo?q=1"
    assert ["X-Forwarded-Prefix", f"/t/{task.id}"] in echoed["headers"]


def test_keep_alive_and_chunked_responses(tunnel: ProxyTunnel, task: Task, cookie: str) -> None:
    conn = connect(tunnel)
    try:
        for _ in range(3):
            conn.request("GET", f"/t/{task.id}/chunked", headers={"Cookie": cookie})
            response = conn.getresponse()
            assert response.headers["Transfer-Encoding"] == "chunked"
            assert response.read() == b"hello chunked world"
        first_socket = conn.sock
        conn.request("GET", f"/t/{task.id}/echo", headers={"Cookie": cookie})
        assert conn.getresponse().read()
        assert conn.sock is first_socket  # the same connection served every request
    finally:
        conn.close()


def test_an_http_1_0_client_gets_chunked_bodies_decoded(tunnel: ProxyTunnel, task: Task, cookie: str) -> None:
    request = f"GET /t/{task.id}/chunked HTTP/1.0\r\nCookie: {cookie}\r\n\r\n".encode()
    received, closed = raw(tunnel, request)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"chunked" not in head.lower()
    assert body == b"hello chunked world" and closed


def test_chunked_upload(tunnel: ProxyTunnel, task: Task, cookie: str) -> None:
    conn = connect(tunnel)
    try:
        parts = (b"a" * 1000, b"b" * 70000, b"c")
        conn.request(
            "POST", f"/t/{task.id}/upload", body=iter(parts), headers={"Cookie": cookie}, encode_chunked=True
        )
        assert conn.getresponse().read() == b"71001"
    finally:
        conn.close()


def test_an_unreachable_upstream_is_502(tunnel: ProxyTunnel) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    task = make_task(port)
    tunnel.open(task, COMPUTING)
    assert get(tunnel, f"/t/{task.id}/", login(tunnel, task))[0] == 502


def test_a_route_is_live_within_10_ms(tunnel: ProxyTunnel, upstream: Upstream) -> None:
    task = make_task(upstream.port)
    cookie = f"rosetta_proxy={tunnel.tokens.mint_cookie(task.id, task.owner)}"
    conn = connect(tunnel)
    try:
        conn.request("GET", f"/t/{task.id}/echo", headers={"Cookie": cookie})
        response = conn.getresponse()
        response.read()
        assert response.status == 404
        conn.close()
        added = time.perf_counter()
        tunnel.open(task, COMPUTING)
        conn = connect(tunnel)
        conn.request("GET", f"/t/{task.id}/echo", headers={"Cookie": cookie})
        response = conn.getresponse()
        elapsed = time.perf_counter() - added
        assert response.status == 200
        response.read()
    finally:
        conn.close()
    print(f"route added -> response in {elapsed * 1000:.2f} ms")
    assert elapsed < 0.010, f"{elapsed * 1000:.1f} ms"


def test_closed_routes_are_gone(tunnel: ProxyTunnel, task: Task, cookie: str) -> None:
    tunnel.close(task.id)
    assert get(tunnel, f"/t/{task.id}/echo", cookie)[0] == 404


# ---------------------------------------------------------------- streaming


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class PeakRSS:
    """The highest RSS of this process seen while the block ran (sampled every 5 ms)."""

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())

    @property
    def growth(self) -> int:
        return self.peak - self.start


SIZE = 100 * MiB


def test_a_100_mib_download_streams(tunnel: ProxyTunnel, task: Task, cookie: str) -> None:
    conn = connect(tunnel)
    started = time.perf_counter()
    try:
        with PeakRSS() as memory:
            conn.request("GET", f"/t/{task.id}/big?n={SIZE}", headers={"Cookie": cookie})
            response = conn.getresponse()
            assert response.status == 200 and int(response.headers["Content-Length"]) == SIZE
            got = 0
            while data := response.read(MiB):
                got += len(data)
    finally:
        conn.close()
    assert got == SIZE
    print(f"100 MiB down in {time.perf_counter() - started:.2f} s, RSS growth {memory.growth / MiB:.1f} MiB")
    assert memory.growth < 64 * MiB, memory.growth
    assert time.perf_counter() - started < 20


def test_a_100_mib_upload_streams(tunnel: ProxyTunnel, task: Task, cookie: str) -> None:
    block = b"u" * MiB
    conn = connect(tunnel)
    started = time.perf_counter()
    try:
        with PeakRSS() as memory:
            headers = {"Cookie": cookie, "Content-Length": str(SIZE)}
            conn.request(
                "POST", f"/t/{task.id}/upload", body=(block for _ in range(SIZE // MiB)), headers=headers
            )
            response = conn.getresponse()
            assert response.read() == str(SIZE).encode()
    finally:
        conn.close()
    print(f"100 MiB up in {time.perf_counter() - started:.2f} s, RSS growth {memory.growth / MiB:.1f} MiB")
    assert memory.growth < 64 * MiB, memory.growth
    assert time.perf_counter() - started < 20


def test_server_sent_events_arrive_incrementally(
    tunnel: ProxyTunnel, task: Task, cookie: str, upstream: Upstream
) -> None:
    upstream.release.clear()
    conn = connect(tunnel)
    try:
        conn.request("GET", f"/t/{task.id}/sse", headers={"Cookie": cookie})
        response = conn.getresponse()
        assert response.headers["Content-Type"] == "text/event-stream"
        # the upstream holds its second event until released: the first must already be here
        assert response.read1(100) == b"data: first\n\n"
        upstream.release.set()
        assert response.read() == b"data: last\n\n"
    finally:
        upstream.release.set()
        conn.close()


# ---------------------------------------------------------------- websocket


def test_websocket_handshake_and_echo(tunnel: ProxyTunnel, task: Task, cookie: str) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(tunnel.server.address, timeout=5) as sock:
        sock.sendall(
            (
                f"GET /t/{task.id}/ws HTTP/1.1\r\nHost: proxy\r\nCookie: {cookie}\r\n"
                f"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Key: {key}\r\n\r\n"
            ).encode()
        )
        reader = sock.makefile("rb")
        status = reader.readline()
        assert status.startswith(b"HTTP/1.1 101 ")
        headers = {}
        while (line := reader.readline()) != b"\r\n":
            name, _, value = line.decode().partition(":")
            headers[name.lower()] = value.strip()
        assert headers["upgrade"].lower() == "websocket" and headers["connection"].lower() == "upgrade"
        assert "sec-websocket-accept" in headers
        for text in (b"hello", b"x" * 5000):
            sock.sendall(frame(1, text, mask=True))
            assert read_frame(reader.read) == (1, text)
        sock.sendall(frame(8, b"\x03\xe8", mask=True))
        assert read_frame(reader.read) == (8, b"\x03\xe8")
        assert reader.read() == b""  # the upstream closed, and the proxy with it
        reader.close()


def test_websocket_needs_the_cookie(tunnel: ProxyTunnel, task: Task) -> None:
    request = (
        f"GET /t/{task.id}/ws HTTP/1.1\r\nHost: proxy\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n\r\n"
    )
    received, closed = raw(tunnel, request.encode())
    assert received.startswith(b"HTTP/1.1 401 ") and closed
