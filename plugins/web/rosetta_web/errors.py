"""One error shape for the API, and the HTTP status of each kernel error.

Every API error is ``{"error": {"status", "code", "message", "fields"}}``: ``fields`` maps a field
path (``name``, ``options.cpus``) to its problem, for input that did not validate; it is empty
otherwise.
"""

from __future__ import annotations

from typing import Any

from rosetta_auth_local import SignInFailed, SignUpRefused, TooManyAttempts
from rosetta_core.errors import (
    BackendError,
    ConflictError,
    NotFoundError,
    PluginError,
    RosettaError,
    ValidationError,
)
from rosetta_web.actions import Forbidden


class Unauthorized(RosettaError):
    """No valid session or API token."""


class CsrfFailed(RosettaError):
    """A form or a session-authenticated request without its CSRF token."""


class TooLarge(RosettaError):
    """A request body over the size the endpoint accepts."""


class UnsupportedMedia(RosettaError):
    """A request body of a type the endpoint does not take."""


# most specific first: the first class an error is an instance of decides
_STATUS: tuple[tuple[type[BaseException], int, str], ...] = (
    (ValidationError, 422, "invalid"),
    (TooLarge, 413, "too_large"),
    (UnsupportedMedia, 415, "unsupported_media_type"),
    (TooManyAttempts, 429, "too_many_attempts"),
    (SignInFailed, 401, "sign_in_failed"),
    (Unauthorized, 401, "unauthorized"),
    (SignUpRefused, 403, "sign_up_refused"),
    (Forbidden, 403, "forbidden"),
    (CsrfFailed, 403, "csrf"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (PluginError, 409, "unavailable"),
    (BackendError, 502, "backend"),
)


def status_of(exc: BaseException) -> tuple[int, str]:
    """(HTTP status, error code) for a kernel or web error; anything else is (500, "internal")."""
    for kind, status, code in _STATUS:
        if isinstance(exc, kind):
            return status, code
    return 500, "internal"


def field_errors(exc: ValidationError) -> dict[str, str]:
    """The problems of ``exc`` by field path (``$.options.cpus: ...`` -> ``options.cpus``); a
    problem about the whole input is under ``""``. The first problem of a field wins."""
    fields: dict[str, str] = {}
    for problem in exc.problems:
        path, sep, message = problem.partition(": ")
        key = path.removeprefix("$").lstrip(".") if sep and path.startswith("$") else ""
        fields.setdefault(key, message if sep and path.startswith("$") else problem)
    return fields


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """(status, body) of the API's answer to ``exc``; a 500 never shows the exception's text."""
    status, code = status_of(exc)
    message = str(exc) if status != 500 else "an internal error; the server's log has it"
    fields = field_errors(exc) if isinstance(exc, ValidationError) else {}
    return status, {"error": {"status": status, "code": code, "message": message, "fields": fields}}
