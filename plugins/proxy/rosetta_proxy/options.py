"""The ``[plugin.proxy]`` section of the site configuration."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from typing import Any

import attrs

from rosetta_core.validators import FieldError


def _listen(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    host, sep, port = value.rpartition(":") if isinstance(value, str) else ("", "", "")
    try:
        ipaddress.ip_address(host.strip("[]"))
        ok = bool(sep) and port.isdigit() and 0 <= int(port) <= 65535
    except ValueError:
        ok = False
    if not ok:
        raise FieldError(attribute.name, "must look like ADDRESS:PORT, such as 127.0.0.1:8765")


def _url(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or (value and not value.startswith(("http://", "https://", "/"))):
        raise FieldError(attribute.name, "must be an http(s) URL or an absolute path, or empty")


_DOMAIN = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+")


def _domain(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or (value and not _DOMAIN.fullmatch(value)):
        raise FieldError(
            attribute.name, "must be a lowercase DNS name with at least two labels, such as tasks.example.org"
        )


def _ttl(high: int, *, low: int = 1, unit: str = "seconds") -> Any:
    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise FieldError(attribute.name, f"must be a whole number of {unit} between {low} and {high}")

    return check


def _bool(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise FieldError(attribute.name, "must be true or false")


@attrs.frozen(kw_only=True)
class ProxyOptions:
    """The ``[plugin.proxy]`` section.

    - ``listen``: where the proxy listens, ``ADDRESS:PORT``.
    - ``base_url``: how users reach that listener (the task URL is ``{base_url}/t/<task-id>/``);
      empty: ``http://{listen}``.
    - ``secure_cookies``: users reach the proxy over HTTPS (a TLS front): cookies get ``Secure``.
    - ``login_url``: where a request without a valid cookie is redirected; empty: 401.
    - ``link_ttl``: seconds a single-use open link is valid (default 60).
    - ``cookie_ttl``: seconds the task cookie is valid (default 12 hours).
    - ``read_timeout``: seconds an upstream may take to send its response head, then each piece of
      its body (default 300): then the client gets 504, or its connection is cut.
    - ``upstream_pool``: idle keep-alive connections kept per upstream (default 32; 0: none).
    - ``upstream_idle``: seconds an idle upstream connection is kept (default 30).
    - ``tasks_domain``: when set, ``<task-id>.<tasks_domain>`` also reaches each task, at its root
      (the path is passed as is), and links and task URLs use it; empty: path routing only.
    """

    listen: str = attrs.field(default="127.0.0.1:8765", validator=_listen)
    base_url: str = attrs.field(default="", validator=_url)
    secure_cookies: bool = attrs.field(default=False, validator=_bool)
    login_url: str = attrs.field(default="", validator=_url)
    link_ttl: int = attrs.field(default=60, validator=_ttl(3600))
    cookie_ttl: int = attrs.field(default=43200, validator=_ttl(30 * 86400))
    read_timeout: int = attrs.field(default=300, validator=_ttl(86400))
    upstream_pool: int = attrs.field(default=32, validator=_ttl(256, low=0, unit="connections"))
    upstream_idle: int = attrs.field(default=30, validator=_ttl(3600))
    tasks_domain: str = attrs.field(default="", validator=_domain)

    @property
    def address(self) -> tuple[str, int]:
        """``listen`` as ``(host, port)``."""
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def public_url(self) -> str:
        """``base_url`` without its trailing slash, or ``http://{listen}``."""
        return (self.base_url or f"http://{self.listen}").rstrip("/")

    def task_origin(self, task_id: str) -> str:
        """``scheme://<task_id>.<tasks_domain>[:port]``: scheme and port are those of :attr:`public_url`.

        Only meaningful when ``tasks_domain`` is set.
        """
        parts = urllib.parse.urlsplit(self.public_url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme or 'http'}://{task_id}.{self.tasks_domain}{port}"
