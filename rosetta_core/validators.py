"""attrs validators shared by the model records.

Each validator raises :class:`FieldError` (a ``ValueError``) naming the field, with a message that
reads well after the field path the converter puts in front of it, for example
``$.interface_port: must be between 1 and 65535``.
Names are restricted so they can never carry shell metacharacters or path separators.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# empty means "the engine's default registry"
REGISTRY_RE = re.compile(
    r"^([A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?"
    r"(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?)?$"
)
IMAGE_RE = re.compile(r"^[a-z0-9]+([._-]{1,2}[a-z0-9]+)*(/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)*$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
ARCH_RE = re.compile(r"^[a-z0-9_]{1,16}(/[a-z0-9]{1,8})?$")
# absolute POSIX paths of printable characters, no shell-special characters, no ".." component
PATH_RE = re.compile(r"^(?!.*(^|/)\.\.(/|$))/[A-Za-z0-9._/@+=,-]{0,1023}$")
# the same, where the variables $USER and $SSH_USER may stand for a name (expanded per task)
# a POSIX account name as useradd accepts it (no leading '-': it would read as an option)
ACCOUNT_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}\$?$")
KEY_TYPE_RE = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]{1,60})$")
BASE64_RE = re.compile(r"^[A-Za-z0-9+/]{16,8192}={0,2}$")
PATH_TEMPLATE_RE = re.compile(r"^(?!.*(^|/)\.\.(/|$))/(?:[A-Za-z0-9._/@+=,-]|\$USER\b|\$SSH_USER\b){0,1023}$")
MAX_TEXT = 4096


class FieldError(ValueError):
    """A field's value is refused; ``field`` names it so the error path can point at it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _strict_type(field: str, value: Any, kind: type | tuple[type, ...]) -> None:
    # bool is an int subclass: a port of True is a mistake, not 1
    if isinstance(value, bool) and kind is not bool:
        raise FieldError(field, f"must be {_kind_name(kind)}, not a boolean")
    if not isinstance(value, kind):
        raise FieldError(field, f"must be {_kind_name(kind)}, not {type(value).__name__}")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return kind.__name__


def name(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A record name: 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit."""
    _strict_type(attribute.name, value, str)
    if not NAME_RE.fullmatch(value):
        raise FieldError(
            attribute.name,
            f"{value!r} must be 1-63 characters of letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )


def optional_name(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        name(inst, attribute, value)


def text(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Free text up to 4096 characters, without NUL bytes."""
    _strict_type(attribute.name, value, str)
    if len(value) > MAX_TEXT or "\x00" in value:
        raise FieldError(attribute.name, f"must be at most {MAX_TEXT} characters without NUL bytes")


def matches(pattern: re.Pattern[str], what: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """A string matching ``pattern``; the error says it must be ``what``."""

    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        _strict_type(attribute.name, value, str)
        if not pattern.fullmatch(value):
            raise FieldError(attribute.name, f"{value[:80]!r} is not {what}")

    return check


def optional_matches(pattern: re.Pattern[str], what: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    inner = matches(pattern, what)

    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            inner(inst, attribute, value)

    return check


def int_between(low: int, high: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An int in [low, high]; booleans are refused."""

    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        _strict_type(attribute.name, value, int)
        if not low <= value <= high:
            raise FieldError(attribute.name, f"must be between {low} and {high}, got {value}")

    return check


def optional_int_between(low: int, high: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    inner = int_between(low, high)

    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            inner(inst, attribute, value)

    return check


port = int_between(1, 65535)
optional_port = optional_int_between(1, 65535)


def listen_address(value: str) -> tuple[str, int]:
    """``"ADDRESS:PORT"`` (an IP address, IPv6 in brackets; port 0 to 65535) as (host, port);
    raises ``ValueError`` for anything else (a host name included: a listener binds an address)."""
    host, sep, number = value.rpartition(":") if isinstance(value, str) else ("", "", "")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{str(value)[:80]!r} is not ADDRESS:PORT") from None
    if not sep or not number.isdigit() or not 0 <= int(number) <= 65535:
        raise ValueError(f"{str(value)[:80]!r} is not ADDRESS:PORT")
    return host, int(number)


def listen(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Where a server listens: ``ADDRESS:PORT`` such as ``127.0.0.1:8765`` (see :func:`listen_address`)."""
    try:
        listen_address(value)
    except ValueError:
        raise FieldError(attribute.name, "must look like ADDRESS:PORT, such as 127.0.0.1:8765") from None


def env_vars(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A mapping of environment variable names to string values."""
    _strict_type(attribute.name, value, Mapping)
    if len(value) > 256:
        raise FieldError(attribute.name, "may hold at most 256 variables")
    for key, val in value.items():
        if not isinstance(key, str) or not ENV_KEY_RE.fullmatch(key):
            raise FieldError(attribute.name, f"key {str(key)[:80]!r} is not a valid variable name")
        if not isinstance(val, str):
            raise FieldError(attribute.name, f"[{key}] must be str, not {type(val).__name__}")
        if len(val) > MAX_TEXT or "\x00" in val:
            raise FieldError(attribute.name, f"[{key}] must be at most {MAX_TEXT} characters without NUL")


def names_tuple(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A non-empty tuple of record names without repeats."""
    _strict_type(attribute.name, value, tuple)
    if not value:
        raise FieldError(attribute.name, "must name at least one entry")
    for item in value:
        if not isinstance(item, str) or not NAME_RE.fullmatch(item):
            raise FieldError(attribute.name, f"entry {str(item)[:80]!r} is not a valid name")
    if len(set(value)) != len(value):
        raise FieldError(attribute.name, "names an entry twice")


def scalar_options(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A mapping of option names to JSON scalars (str, int, float, bool)."""
    _strict_type(attribute.name, value, Mapping)
    if len(value) > 128:
        raise FieldError(attribute.name, "may hold at most 128 options")
    for key, val in value.items():
        if not isinstance(key, str) or not ENV_KEY_RE.fullmatch(key):
            raise FieldError(attribute.name, f"key {str(key)[:80]!r} is not a valid option name")
        if not isinstance(val, str | int | float | bool):
            raise FieldError(attribute.name, f"[{key}] must be a string, number or boolean")
        if isinstance(val, float) and not math.isfinite(val):
            raise FieldError(attribute.name, f"[{key}] must be a finite number")
        if isinstance(val, str) and (len(val) > MAX_TEXT or "\x00" in val):
            raise FieldError(attribute.name, f"[{key}] must be at most {MAX_TEXT} characters without NUL")


def ssh_fingerprint(key_base64: str) -> str:
    """OpenSSH's fingerprint of a base64 public key blob: ``SHA256:`` and unpadded base64."""
    digest = hashlib.sha256(base64.b64decode(key_base64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
