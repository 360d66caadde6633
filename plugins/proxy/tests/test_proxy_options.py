"""The ``[plugin.proxy]`` section."""

from __future__ import annotations

from typing import Any

import pytest

from rosetta_core.validators import FieldError
from rosetta_proxy.options import ProxyOptions


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
    ],
)
def test_refused(field: dict[str, Any]) -> None:
    with pytest.raises(FieldError) as caught:
        ProxyOptions(**field)
    assert caught.value.field == next(iter(field))
