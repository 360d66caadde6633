"""Fixtures of the proxy plugin's tests (helpers live in ``proxy_upstream``).

- ``upstream``: :class:`proxy_upstream.Upstream`, started for the module.
- ``tunnel``: a started :class:`~rosetta_proxy.tunnel.ProxyTunnel` on a free port.
- ``task``: a running task of ``alice`` whose interface is the upstream, opened in ``tunnel``.
- ``cookie``: the ``Cookie`` header alice gets by following her open link.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from proxy_upstream import COMPUTING, SECRET, Upstream, login, make_task

from rosetta_core.model import Task
from rosetta_proxy.options import ProxyOptions
from rosetta_proxy.tunnel import ProxyTunnel


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def tunnel() -> Iterator[ProxyTunnel]:
    proxy = ProxyTunnel(SECRET, ProxyOptions(listen="127.0.0.1:0"))
    host, port = proxy.start()
    # the listener's real port: base_url is unknown before the server is bound
    proxy.options = ProxyOptions(listen=f"{host}:{port}")
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
