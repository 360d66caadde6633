"""The ``[plugin.reverse]`` section of the site configuration."""

from __future__ import annotations

import re
from typing import Any

import attrs

from rosetta_core import validators as v

_URL = re.compile(r"wss?://[A-Za-z0-9.\[\]:-]+(/[A-Za-z0-9._~/-]*)?")


def _agent_url(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or (value and not _URL.fullmatch(value)):
        raise v.FieldError(attribute.name, "must be a ws:// or wss:// URL, or empty")


def _wait(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 300:
        raise v.FieldError(attribute.name, "must be a number of seconds above 0 and at most 300")


@attrs.frozen(kw_only=True)
class ReverseOptions:
    """The ``[plugin.reverse]`` section.

    - ``listen``: where the platform accepts agents' WebSockets, ``ADDRESS:PORT`` (default
      ``127.0.0.1:8766``; put a TLS front before it for nodes outside this machine).
    - ``agent_url``: the URL agents dial, e.g. ``wss://platform.example.org/reverse`` behind that
      front; empty: ``ws://{listen}/reverse``.
    - ``wait``: seconds a connection to a task waits for its agent's tunnel (default 5).
    """

    listen: str = attrs.field(default="127.0.0.1:8766", validator=v.listen)
    agent_url: str = attrs.field(default="", validator=_agent_url)
    wait: float = attrs.field(default=5.0, validator=_wait)

    @property
    def address(self) -> tuple[str, int]:
        """``listen`` as (host, port)."""
        return v.listen_address(self.listen)
