"""The one cattrs converter factory.

``make_converter(strict=True)`` is for input from users and configuration files: unknown keys are
refused, scalars are never coerced (``"8080"`` is not a port), and every problem is reported with its
path. ``make_converter(strict=False)`` is for rows the store wrote itself: it ignores keys a newer
migration added. Never use cattrs' global converter.
"""

from __future__ import annotations

import enum
import types
import typing
from collections import abc
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from rosetta_core.errors import ValidationError
from rosetta_core.validators import FieldError

T = TypeVar("T")

_SCALARS: tuple[type, ...] = (str, int, float, bool)


def _strict_scalar(kind: type) -> Any:
    def structure(value: Any, actual: Any) -> Any:
        # str enums are str subclasses and land here through singledispatch
        if isinstance(actual, type) and issubclass(actual, enum.Enum):
            return _structure_enum(value, actual)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {kind.__name__}, got a boolean")
        if not isinstance(value, kind):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return structure


def _structure_enum(value: Any, kind: type[enum.Enum]) -> enum.Enum:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in kind)
        raise ValueError(f"{value!r} is not one of {choices}") from None


def _structure_datetime(value: Any, _type: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 timestamp, got {type(value).__name__}")
    return datetime.fromisoformat(value)


def _scalar_union(value: Any, _type: Any) -> Any:
    if isinstance(value, _SCALARS):
        return value
    raise TypeError(f"expected a string, number or boolean, got {type(value).__name__}")


def _is_sequence(kind: Any) -> bool:
    return typing.get_origin(kind) in (tuple, list, frozenset, set, abc.Sequence, abc.Set)


def _is_simple_optional(kind: Any) -> bool:
    args = typing.get_args(kind)
    return (
        typing.get_origin(kind) in (types.UnionType, typing.Union) and len(args) == 2 and type(None) in args
    )


def make_converter(*, strict: bool = True) -> cattrs.Converter:
    """Return a new converter; ``strict`` refuses unknown keys and type coercion."""
    conv = cattrs.Converter(forbid_extra_keys=strict, detailed_validation=True)
    if strict:
        for kind in _SCALARS:
            conv.register_structure_hook(kind, _strict_scalar(kind))
    conv.register_structure_hook(str | int | float | bool, _scalar_union)

    def structure_optional(value: Any, kind: Any) -> Any:
        if value is None:
            return None
        (inner,) = (a for a in typing.get_args(kind) if a is not type(None))
        return conv.structure(value, inner)

    # cattrs' own Optional handling coerces (True -> 1); route through the strict hooks instead
    conv.register_structure_hook_func(_is_simple_optional, structure_optional)
    if strict:
        # a lone string is a sequence too: "--init" must not become ('-', '-', 'i', ...)
        base = conv.copy()

        def structure_sequence(value: Any, kind: Any) -> Any:
            if isinstance(value, str | bytes | Mapping):
                raise TypeError(f"expected a list, got {type(value).__name__}")
            return base.structure(value, kind)

        conv.register_structure_hook_func(_is_sequence, structure_sequence)
    conv.register_structure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _structure_enum
    )
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_unstructure_hook(datetime, lambda d: d.isoformat())
    return conv


_STRICT = make_converter(strict=True)


def describe_errors(exc: BaseException, path: str = "$") -> list[str]:
    """Flatten a cattrs error into readable lines such as ``$.interface_port: must be ...``."""
    if isinstance(exc, ClassValidationError | IterableValidationError):
        lines: list[str] = []
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            name = getattr(note, "name", None)
            index = getattr(note, "index", None)
            if name is not None:
                sub_path = f"{path}.{name}"
            elif index is not None:
                sub_path = f"{path}[{index!r}]"
            else:
                sub_path = path
            lines.extend(describe_errors(sub, sub_path))
        for sub in without:
            lines.extend(describe_errors(sub, path))
        return lines
    if isinstance(exc, ForbiddenExtraKeysError):
        return [f"{path}.{key}: unknown field" for key in sorted(exc.extra_fields)]
    if isinstance(exc, KeyError) and exc.args:
        return [f"{path}: required field missing"]
    if isinstance(exc, FieldError):
        return [f"{path}.{exc.field}: {exc}"]
    if isinstance(exc, TypeError | ValueError):
        return [f"{path}: {exc}"]
    return [f"{path}: {type(exc).__name__}: {exc}"]


def structure(data: Any, cls: type[T], *, what: str | None = None, path: str = "$") -> T:
    """Build ``cls`` from untrusted ``data`` with the strict converter.

    Raises :class:`~rosetta_core.errors.ValidationError` listing every problem, each with its
    field path; nothing else escapes.
    """
    label = what or cls.__name__
    if not isinstance(data, dict):
        raise ValidationError(label, [f"{path}: expected a table of fields, got {type(data).__name__}"])
    try:
        return _STRICT.structure(data, cls)
    except (ClassValidationError, IterableValidationError, ForbiddenExtraKeysError) as exc:
        raise ValidationError(label, describe_errors(exc, path)) from None
    except (TypeError, ValueError, KeyError) as exc:
        raise ValidationError(label, describe_errors(exc, path)) from None


def unstructure(record: Any) -> Any:
    """Turn a record into plain JSON-ready data (timestamps as ISO 8601 strings)."""
    return _STRICT.unstructure(record)
