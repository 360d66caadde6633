"""The exception tree."""

from __future__ import annotations

from rosetta_core import errors


def test_everything_is_a_rosetta_error() -> None:
    for name in dir(errors):
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, errors.RosettaError), name


def test_the_tree_in_the_docstring_names_every_class() -> None:
    doc = errors.__doc__ or ""
    for name in dir(errors):
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, errors.RosettaError):
            assert name in doc, name


def test_validation_error_lists_problems() -> None:
    err = errors.ValidationError("software", ["$.a: bad", "$.b: worse"])
    assert str(err) == "invalid software: $.a: bad; $.b: worse" and err.problems == ["$.a: bad", "$.b: worse"]


def test_unavailable_is_a_backend_error() -> None:
    assert issubclass(errors.BackendUnavailable, errors.BackendError)
    assert issubclass(errors.CommandTimeout, errors.ExecutorError)
