"""The API's error shape and statuses (what the API added: 413 for bodies over the limit)."""

from __future__ import annotations

from rosetta_core.errors import ValidationError
from rosetta_web.errors import TooLarge, error_body, field_errors, status_of


def test_a_body_over_the_limit_is_413() -> None:
    assert status_of(TooLarge("too big")) == (413, "too_large")
    assert error_body(TooLarge("too big")) == (
        413,
        {"error": {"status": 413, "code": "too_large", "message": "too big", "fields": {}}},
    )


def test_fields_name_each_bad_field_and_the_whole_body_as_empty() -> None:
    exc = ValidationError("task", ["$.options.cpus: too many", "$: the body must be a JSON object"])
    assert field_errors(exc) == {"options.cpus": "too many", "": "the body must be a JSON object"}


def test_an_unexpected_error_hides_its_text() -> None:
    status, body = error_body(RuntimeError("secret detail"))
    assert status == 500 and "secret" not in body["error"]["message"]
