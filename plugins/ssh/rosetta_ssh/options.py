"""The ``[plugin.ssh]`` section of the site configuration."""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Callable
from typing import Any

import attrs

from rosetta_core.validators import FieldError


def _seconds(
    low: float, high: float, *, zero: bool = False
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """A number of seconds in ``(low, high]`` (or exactly 0 when ``zero``); booleans are refused."""

    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise FieldError(attribute.name, "must be a number of seconds")
        if zero and value == 0:
            return
        if not low < value <= high:
            off = " (or 0 to turn it off)" if zero else ""
            raise FieldError(attribute.name, f"must be more than {low:g} and at most {high:g} seconds{off}")

    return check


def _key_path(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or "\x00" in value:
        raise FieldError(attribute.name, "must be the path of a private key file, or empty")
    if value and not os.path.isabs(os.path.expanduser(value)):
        raise FieldError(attribute.name, f"{value[:80]!r} must be an absolute path (or start with ~/)")


def _sessions(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise FieldError(attribute.name, "must be a whole number between 1 and 1000")


def _port_range(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    low, sep, high = value.partition("-") if isinstance(value, str) else ("", "", "")
    if not (sep and low.isdigit() and high.isdigit() and 1024 <= int(low) <= int(high) <= 65535):
        raise FieldError(attribute.name, "must look like FIRST-LAST, ports between 1024 and 65535")


def _address(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    try:
        ipaddress.ip_address(value)
    except (TypeError, ValueError):
        raise FieldError(attribute.name, "must be an IP address such as 127.0.0.1") from None


@attrs.frozen(kw_only=True)
class SSHOptions:
    """The ``[plugin.ssh]`` section.

    :ivar connect_timeout: seconds to open the TCP connection, and again for each of the SSH
        handshake and the authentication; a host that does not answer in time is unavailable.
    :ivar keepalive: seconds between keep-alive messages on a pooled connection (0: none).
    :ivar idle_close: seconds a pooled connection may stay unused before it is closed.
    :ivar platform_key: the platform's own OpenSSH private key file, used by computing resources
        with ``auth = "platform_keys"`` (unencrypted, or encrypted with the platform secret).
    :ivar tunnel_ports: the platform ports the ``ssh-forward`` tunnel may listen on, ``FIRST-LAST``.
    :ivar tunnel_bind: the address it listens on: loopback by default, so only this machine (the
        web front, a user's own ``rosetta task connect``) reaches the tunnels.
    :ivar max_sessions: commands and file transfers one connection carries at once; more wait
        for a free slot. Keep it a little under the server's ``MaxSessions`` (OpenSSH's default
        is 10): a server frees a closed session a moment after the close, and refuses new ones
        meanwhile (the executor then asks again, but paramiko logs each refusal as an error).
    """

    connect_timeout: float = attrs.field(default=10.0, validator=_seconds(0, 300))
    keepalive: float = attrs.field(default=15.0, validator=_seconds(0, 3600, zero=True))
    idle_close: float = attrs.field(default=300.0, validator=_seconds(0, 86400))
    platform_key: str = attrs.field(default="", validator=_key_path)
    max_sessions: int = attrs.field(default=8, validator=_sessions)
    tunnel_ports: str = attrs.field(default="20000-20999", validator=_port_range)
    tunnel_bind: str = attrs.field(default="127.0.0.1", validator=_address)

    @property
    def tunnel_port_range(self) -> tuple[int, int]:
        """``tunnel_ports`` as (first, last)."""
        low, _, high = self.tunnel_ports.partition("-")
        return int(low), int(high)

    @property
    def platform_key_path(self) -> str:
        """``platform_key`` with ``~`` expanded (empty when unset)."""
        return os.path.expanduser(self.platform_key) if self.platform_key else ""
