"""The ``[plugin.proxy]`` section."""

from __future__ import annotations

from typing import Any

import pytest

from rosetta_core.validators import FieldError
from rosetta_proxy.options import ProxyOptions
from rosetta_proxy.tunnel import ProxyTunnel


def test_defaults() -> None:
    options = ProxyOptions()
    assert options.address == ("127.0.0.1", 8765)
    assert options.public_url == "http://127.0.0.1:8765"
    assert (options.link_ttl, options.cookie_ttl, options.secure_cookies, options.login_url) == (
        60,
        43200,
        False,
        "",
    )
    assert ProxyOptions(base_url="https://p.example/").public_url == "https://p.example"
    assert ProxyOptions(listen="[::1]:80").address == ("::1", 80)
    assert (options.read_timeout, options.upstream_pool, options.upstream_idle) == (300, 32, 30)


def test_the_tunnels_server_takes_the_timeouts_and_pool_size() -> None:
    options = ProxyOptions(read_timeout=5, upstream_pool=0, upstream_idle=7)
    server = ProxyTunnel("s", options).server
    assert (server.read_timeout, server.pool.per_upstream, server.pool.idle_timeout) == (5, 0, 7)


@pytest.mark.parametrize(
    "field",
    [
        {"listen": "localhost:80"},
        {"listen": "127.0.0.1"},
        {"listen": "127.0.0.1:99999"},
        {"base_url": "ftp://x"},
        {"login_url": "javascript:alert(1)"},
        {"secure_cookies": "yes"},
        {"link_ttl": 0},
        {"link_ttl": True},
        {"cookie_ttl": 10**9},
        {"read_timeout": 0},
        {"upstream_pool": -1},
        {"upstream_pool": 1.5},
        {"upstream_idle": 0},
    ],
)
def test_refused(field: dict[str, Any]) -> None:
    with pytest.raises(FieldError) as caught:
        ProxyOptions(**field)
    assert caught.value.field == next(iter(field))
