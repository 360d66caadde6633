"""The ``[plugin.auth-local]`` section of the site configuration.

The argon2 defaults are argon2-cffi's current recommended parameters (RFC 9106's low-memory
profile: argon2id, 3 passes, 64 MiB, 4 lanes). Raising them later is safe: each stored hash is
upgraded at its owner's next sign-in.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import attrs
from argon2.profiles import get_default_parameters

from rosetta_core.validators import FieldError

_ARGON2 = get_default_parameters()


def _whole(low: int, high: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise FieldError(attribute.name, f"must be a whole number between {low} and {high}")

    return check


def _seconds(low: float, high: float) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise FieldError(attribute.name, "must be a number of seconds")
        if not low <= value <= high:
            raise FieldError(attribute.name, f"must be between {low:g} and {high:g} seconds")

    return check


def _memory(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    _whole(8, 4 * 1024 * 1024)(inst, attribute, value)
    # argon2 needs 8 KiB per lane; attrs runs validators once every field is set
    if isinstance(inst.argon2_parallelism, int) and value < 8 * inst.argon2_parallelism:
        raise FieldError(attribute.name, "must be at least 8 KiB per lane (8 x argon2_parallelism)")


def _file(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or "\x00" in value:
        raise FieldError(attribute.name, "must be the path of a file, or empty")
    if value and not os.path.isabs(os.path.expanduser(value)):
        raise FieldError(attribute.name, f"{value[:80]!r} must be an absolute path (or start with ~/)")


@attrs.frozen(kw_only=True)
class LocalAuthOptions:
    """The ``[plugin.auth-local]`` section.

    :ivar open_sign_up: whether :func:`~rosetta_auth_local.accounts.sign_up` is open to anyone (with
        the invitation code when one is set); when false only admins and scripts make accounts
        (:func:`~rosetta_auth_local.accounts.create_account`).
    :ivar invitation_file: a file holding the invitation code sign-up asks for (read at each
        sign-up, so it can be changed without a restart); empty: no code is asked. A file, not the
        code itself, because the site configuration holds no secrets.
    :ivar argon2_time_cost: argon2id passes.
    :ivar argon2_memory_cost: argon2id memory in KiB.
    :ivar argon2_parallelism: argon2id lanes.
    :ivar account_failures: failed sign-ins one account may have within ``failure_window``.
    :ivar client_failures: failed sign-ins one client address (an IPv6 /64) may have within it.
    :ivar failure_window: seconds a failed sign-in counts against the limits.
    :ivar session_idle: seconds a session lives without being used.
    :ivar session_lifetime: seconds a session lives at most, used or not.
    :ivar max_api_tokens: API tokens one user may hold.
    """

    open_sign_up: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    invitation_file: str = attrs.field(default="", validator=_file)
    argon2_time_cost: int = attrs.field(default=_ARGON2.time_cost, validator=_whole(1, 100))
    argon2_memory_cost: int = attrs.field(default=_ARGON2.memory_cost, validator=_memory)
    argon2_parallelism: int = attrs.field(default=_ARGON2.parallelism, validator=_whole(1, 64))
    account_failures: int = attrs.field(default=5, validator=_whole(1, 10_000))
    client_failures: int = attrs.field(default=20, validator=_whole(1, 100_000))
    failure_window: float = attrs.field(default=900.0, validator=_seconds(1, 86_400))
    session_idle: float = attrs.field(default=8 * 3600.0, validator=_seconds(60, 30 * 86_400))
    session_lifetime: float = attrs.field(default=7 * 86_400.0, validator=_seconds(60, 365 * 86_400))
    max_api_tokens: int = attrs.field(default=50, validator=_whole(1, 10_000))

    @property
    def invitation_path(self) -> str:
        """``invitation_file`` with ``~`` expanded (empty when unset)."""
        return os.path.expanduser(self.invitation_file) if self.invitation_file else ""
