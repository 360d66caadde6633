"""Upstream keep-alive connections (bounded per upstream, closed when idle) and the read timeout."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator

import pytest
from proxy_upstream import COMPUTING, SECRET, Upstream, connect, login, make_task

from rosetta_core.model import Task
from rosetta_proxy.options import ProxyOptions
from rosetta_proxy.pool import UpstreamPool
from rosetta_proxy.tunnel import ProxyTunnel

POOL_SIZE = 2
POOL_IDLE = 0.5
READ_TIMEOUT = 0.4


@pytest.fixture
def tunnel() -> Iterator[ProxyTunnel]:
    proxy = ProxyTunnel(SECRET, ProxyOptions(listen="127.0.0.1:0"))
    proxy.server.pool = UpstreamPool(per_upstream=POOL_SIZE, idle_timeout=POOL_IDLE)
    proxy.server.read_timeout = READ_TIMEOUT
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close_all()


@pytest.fixture
def task(tunnel: ProxyTunnel, upstream: Upstream) -> Task:
    task = make_task(upstream.port)
    tunnel.open(task, COMPUTING)
    return task


@pytest.fixture
def cookie(tunnel: ProxyTunnel, task: Task) -> str:
    return login(tunnel, task)


def get(tunnel: ProxyTunnel, path: str, cookie: str) -> tuple[int, bytes]:
    """One request on a client connection of its own (so only the upstream side can be reused)."""
    conn = connect(tunnel)
    try:
        conn.request("GET", path, headers={"Cookie": cookie})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def idle(tunnel: ProxyTunnel, upstream: Upstream, settle: int | None = None) -> int:
    """Idle connections to ``upstream``; ``settle``: first wait (up to 1 s) until there are that many.

    The proxy hands a connection back just after the client got the last byte of its response.
    """
    deadline = time.monotonic() + 1
    while settle is not None and idle(tunnel, upstream) != settle and time.monotonic() < deadline:
        time.sleep(0.01)
    return tunnel.server.pool.idle("127.0.0.1", upstream.port)


def peer(tunnel: ProxyTunnel, task: Task, cookie: str) -> int:
    status, body = get(tunnel, f"/t/{task.id}/echo", cookie)
    assert status == 200
    return int(json.loads(body)["peer"])


def test_an_upstream_connection_is_reused(
    tunnel: ProxyTunnel, upstream: Upstream, task: Task, cookie: str
) -> None:
    first = peer(tunnel, task, cookie)
    assert idle(tunnel, upstream, settle=1) == 1
    peers = []
    for _ in range(3):
        peers.append(peer(tunnel, task, cookie))
        assert idle(tunnel, upstream, settle=1) == 1
    assert peers == [first] * 3
    assert tunnel.server.pool.opened == 1
    # a body on a reused connection (the echo's connection is idle again, above)
    conn = connect(tunnel)
    try:
        conn.request("POST", f"/t/{task.id}/upload", body=b"x" * 100_000, headers={"Cookie": cookie})
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"100000")
    finally:
        conn.close()
    assert tunnel.server.pool.opened == 1


def test_idle_connections_are_bounded_per_upstream(
    tunnel: ProxyTunnel, upstream: Upstream, task: Task, cookie: str
) -> None:
    results: list[int] = []

    def slow() -> None:
        results.append(get(tunnel, f"/t/{task.id}/wait?s=0.3", cookie)[0])

    threads = [threading.Thread(target=slow) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 6
    assert tunnel.server.pool.opened == 6
    assert idle(tunnel, upstream, settle=POOL_SIZE) == POOL_SIZE


def test_an_idle_connection_is_closed_after_the_idle_timeout(
    tunnel: ProxyTunnel, upstream: Upstream, task: Task, cookie: str
) -> None:
    first = peer(tunnel, task, cookie)
    assert idle(tunnel, upstream, settle=1) == 1
    time.sleep(POOL_IDLE + 0.3)
    assert idle(tunnel, upstream) == 0
    assert peer(tunnel, task, cookie) != first
    assert tunnel.server.pool.opened == 2


def test_connection_close_and_hangups_are_not_reused(
    tunnel: ProxyTunnel, upstream: Upstream, task: Task, cookie: str
) -> None:
    assert get(tunnel, f"/t/{task.id}/close", cookie) == (200, b"ok")
    assert idle(tunnel, upstream) == 0
    # the upstream closes a connection it answered as keep-alive: the next request still succeeds
    assert get(tunnel, f"/t/{task.id}/hangup", cookie) == (200, b"bye")
    time.sleep(0.1)
    assert peer(tunnel, task, cookie) > 0
    assert tunnel.server.pool.opened == 3


def test_a_stale_pooled_connection_is_retried_on_a_fresh_one(
    tunnel: ProxyTunnel, upstream: Upstream, task: Task, cookie: str
) -> None:
    # no pause: the proxy may not have seen the upstream's close yet when it takes the connection
    for _ in range(5):
        assert get(tunnel, f"/t/{task.id}/hangup", cookie) == (200, b"bye")


def test_an_upstream_that_sends_no_response_gets_504(
    tunnel: ProxyTunnel, upstream: Upstream, task: Task, cookie: str
) -> None:
    started = time.monotonic()
    status, _ = get(tunnel, f"/t/{task.id}/stall", cookie)
    assert status == 504
    assert time.monotonic() - started < 1.5
    assert idle(tunnel, upstream) == 0


def test_a_body_that_stalls_ends_the_client_connection(
    tunnel: ProxyTunnel, upstream: Upstream, task: Task, cookie: str
) -> None:
    started = time.monotonic()
    conn = connect(tunnel)
    try:
        conn.request("GET", f"/t/{task.id}/stallbody", headers={"Cookie": cookie})
        response = conn.getresponse()
        assert response.status == 200
        with pytest.raises(http.client.IncompleteRead):
            response.read()
    finally:
        conn.close()
    assert time.monotonic() - started < 1.5
    assert idle(tunnel, upstream) == 0
