"""The ``[plugin.reverse]`` section."""

from __future__ import annotations

import pytest

from rosetta_core.validators import FieldError
from rosetta_reverse.options import ReverseOptions


def test_defaults_listen_on_the_loopback() -> None:
    options = ReverseOptions()
    assert options.address == ("127.0.0.1", 8766)
    assert (options.agent_url, options.wait) == ("", 5.0)


def test_a_tls_front_url_is_accepted() -> None:
    assert ReverseOptions(agent_url="wss://platform.example.org/reverse").agent_url.startswith("wss://")


@pytest.mark.parametrize(
    "fields",
    [
        {"listen": "localhost:8766"},
        {"listen": "127.0.0.1"},
        {"listen": "127.0.0.1:99999"},
        {"agent_url": "http://platform.example.org/"},
        {"agent_url": "ws://x/$(id)"},
        {"agent_url": 5},
        {"wait": 0},
        {"wait": 301},
        {"wait": True},
        {"wait": "5"},
    ],
)
def test_bad_values_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(FieldError):
        ReverseOptions(**fields)  # type: ignore[arg-type]
