"""Where a computing resource is reached: its ``host``, ``port``, ``auth`` and ``account`` options."""

from __future__ import annotations

import enum
import ipaddress
import re

import attrs

from rosetta_core.errors import ExecutorError
from rosetta_core.model import Computing
from rosetta_core.validators import ACCOUNT_RE

DEFAULT_PORT = 22
# a DNS name (RFC 1123 labels); a leading '-' could read as an option to some tool downstream
_HOSTNAME = re.compile(
    r"^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


class Auth(enum.StrEnum):
    """Whose key opens the account: each user's own (``user_keys``) or the platform's."""

    USER_KEYS = "user_keys"
    PLATFORM_KEYS = "platform_keys"


@attrs.frozen(kw_only=True)
class SSHTarget:
    """The SSH settings of one computing resource, checked.

    ``account`` is set only for ``platform_keys`` (where every user acts through it).
    """

    computing: str
    host: str
    port: int = DEFAULT_PORT
    auth: Auth = Auth.USER_KEYS
    account: str | None = None

    @property
    def address(self) -> str:
        """``host:port`` as people write it (IPv6 literals in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def where(self) -> str:
        """How error messages name the resource: ``computing 'name' (host:port)``."""
        return f"computing {self.computing!r} ({self.address})"

    @classmethod
    def from_computing(cls, computing: Computing) -> SSHTarget:
        """Read and check ``computing.options``; raise :class:`ExecutorError` naming every problem.

        Options other plugins read (an engine's, a scheduler's) are left alone.
        """
        options = computing.options
        problems: list[str] = []
        host = options.get("host")
        if not isinstance(host, str) or not _is_host(host):
            problems.append(f"host: {host!r} is not a host name or IP address" if host else "host: missing")
        port = _port(options.get("port", DEFAULT_PORT))
        if port is None:
            problems.append(f"port: {options.get('port')!r} is not a port number (1-65535)")
        raw_auth = options.get("auth", Auth.USER_KEYS.value)
        auth = Auth(raw_auth) if raw_auth in {a.value for a in Auth} else None
        if auth is None:
            problems.append(f"auth: {raw_auth!r} is not one of 'user_keys', 'platform_keys'")
        account = options.get("account")
        if account is not None and (not isinstance(account, str) or not ACCOUNT_RE.match(account)):
            problems.append(f"account: {account!r} is not a POSIX account name")
        elif auth is Auth.PLATFORM_KEYS and account is None:
            problems.append("account: missing (platform_keys act through one account of the platform)")
        elif auth is Auth.USER_KEYS and account is not None:
            # each user logs in as themselves here: a shared account would be silently ignored
            problems.append("account: only used with auth = 'platform_keys' (users set their own accounts)")
        if problems or port is None or auth is None or not isinstance(host, str):
            raise ExecutorError(
                f"computing {computing.name!r} has invalid SSH options: " + "; ".join(problems)
            )
        return cls(
            computing=computing.name,
            host=host,
            port=port,
            auth=auth,
            account=account if isinstance(account, str) else None,
        )


def _is_host(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return bool(_HOSTNAME.match(value))
    return True


def _port(value: object) -> int | None:
    # a port given as text (from a form or the command line) is accepted when it is only digits
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        return None
    return value
