"""Reading the pages' HTML forms: the body, and each form's fields as the kernel's types.

A form arrives as text (``application/x-www-form-urlencoded``). The functions here turn it into the
mapping :class:`~rosetta_web.actions.Actions` takes (whole numbers, booleans, choices, ``KEY=VALUE``
lines) and check **every** field on its own, so a page can show a message next to each bad field
at once (the model's validators stop at the first). They never write anything: a form with
problems raises :class:`~rosetta_core.errors.ValidationError` (``$.field: message`` problems) and
the page saves nothing.
"""

from __future__ import annotations

import enum
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
from starlette.requests import Request

from rosetta_core.errors import RosettaError, ValidationError
from rosetta_core.model import (
    AuthConvention,
    Computing,
    ComputingKind,
    InterfaceProtocol,
    Software,
    Task,
    TaskOptions,
)
from rosetta_core.validators import FieldError
from rosetta_web.bodies import read_body
from rosetta_web.errors import TooLarge

#: the largest form body read (the biggest form, software with its variables, is far smaller)
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 64
#: whole numbers longer than this are refused before ``int()`` (no huge conversions)
MAX_DIGITS = 12
FORM_TYPE = "application/x-www-form-urlencoded"
SOFTWARE_FIELDS = ("name", "description", "registry", "image", "tag", "arch")
COMPUTING_FIELDS = ("name", "description", "executor", "workload_manager")
TASK_OPTIONS = ("engine", "cpus", "memory_mb", "partition", "walltime_minutes", "gpus")
_INT_RE = re.compile(r"^[+-]?[0-9]+$")
_ENGINES_SPLIT = re.compile(r"[\s,]+")


class FormTooLarge(TooLarge):
    """The form's body is bigger than :data:`MAX_FORM_BYTES` or has too many fields."""


class NotAForm(RosettaError):
    """The body is not an URL-encoded form."""


# ---------------------------------------------------------------- the body


def read_form(request: Request) -> dict[str, str]:
    """The request's form fields (the first value of each), from a worker thread (the endpoints
    are plain functions). Raises :class:`FormTooLarge` or :class:`NotAForm`."""
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    body = read_body(request, MAX_FORM_BYTES, FormTooLarge)
    # an empty body without a type is an empty form (a form with no fields sends nothing)
    if content_type != FORM_TYPE and (content_type or body):
        raise NotAForm(f"expected a form ({FORM_TYPE})")
    return parse_form(body)


def parse_form(body: bytes) -> dict[str, str]:
    """``body`` (URL-encoded) as a dict of the first value of each field."""
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
        )
    except UnicodeDecodeError:
        raise NotAForm("the form is not UTF-8 text") from None
    except ValueError:
        raise FormTooLarge(f"the form has more than {MAX_FORM_FIELDS} fields") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


# ---------------------------------------------------------------- single values


def text(form: Mapping[str, str], key: str) -> str:
    """The field's text without surrounding spaces ("" when absent)."""
    return form.get(key, "").strip()


def whole_number(value: str, field: str, problems: list[str]) -> int | None:
    """``value`` as an int, ``None`` when blank; a problem for anything else."""
    if not value:
        return None
    if len(value) > MAX_DIGITS or not _INT_RE.fullmatch(value):
        problems.append(f"$.{field}: must be a whole number")
        return None
    return int(value)


def choice(value: str, kind: type[enum.Enum], field: str, problems: list[str]) -> Any:
    """``value`` as a member of ``kind``; a problem naming the choices otherwise."""
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(str(m.value) for m in kind)
        problems.append(f"$.{field}: must be one of {choices}")
        return None


def checkbox(form: Mapping[str, str], key: str) -> bool:
    """Whether the checkbox ``key`` was ticked (browsers send it only then)."""
    return key in form


def key_values(value: str, field: str, problems: list[str], *, typed: bool = False) -> dict[str, Any]:
    """``KEY=VALUE`` lines (blank lines ignored) as a dict; with ``typed``, ``true``/``false``
    become booleans and whole numbers ints (a computing resource's options)."""
    found: dict[str, Any] = {}
    for number, line in enumerate(value.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        key, sep, item = line.partition("=")
        if not sep or not key.strip():
            problems.append(f"$.{field}: line {number} is not KEY=VALUE")
            return {}
        found[key.strip()] = _typed(item.strip()) if typed else item.strip()
    return found


def _typed(value: str) -> str | int | bool:
    if value in ("true", "false"):
        return value == "true"
    if _INT_RE.fullmatch(value) and len(value) <= MAX_DIGITS:
        return int(value)
    return value


def field_problems(cls: type[Any], values: Mapping[str, Any]) -> list[str]:
    """Every field of ``values`` checked alone with the model's converter and validator for that
    field of ``cls`` (an attrs record): one ``$.field: message`` problem per bad field."""
    attributes = attrs.fields_dict(cls)
    problems = []
    for name, value in values.items():
        attribute = attributes[name]
        try:
            converted = attribute.converter(value) if callable(attribute.converter) else value
            if attribute.validator is not None:
                attribute.validator(None, attribute, converted)
        except FieldError as exc:
            problems.append(f"$.{name}: {exc}")
        except (TypeError, ValueError) as exc:
            problems.append(f"$.{name}: {exc}")
    return problems


def raise_problems(what: str, problems: Iterable[str]) -> None:
    """Raise ``ValidationError(what, problems)`` when there is any problem."""
    found = list(problems)
    if found:
        raise ValidationError(what, found)


# ---------------------------------------------------------------- the forms


def software_input(form: Mapping[str, str]) -> dict[str, Any]:
    """The "add software" form as :meth:`Actions.add_software` takes it; raises
    ``ValidationError`` naming every bad field."""
    problems: list[str] = []
    data: dict[str, Any] = {key: text(form, key) for key in SOFTWARE_FIELDS}
    data["arch"] = data["arch"] or "amd64"
    data["tag"] = data["tag"] or "latest"
    data["interface_port"] = whole_number(text(form, "interface_port"), "interface_port", problems)
    data["protocol"] = choice(text(form, "protocol") or "http", InterfaceProtocol, "protocol", problems)
    data["auth"] = choice(text(form, "auth") or "none", AuthConvention, "auth", problems)
    data["env"] = key_values(form.get("env", ""), "env", problems)
    data["keeps_prefix"] = checkbox(form, "keeps_prefix")
    bad = {p.partition(":")[0].removeprefix("$.") for p in problems}
    problems += field_problems(Software, {k: v for k, v in data.items() if k not in bad})
    raise_problems("software", problems)
    # the model takes the enums' values (the strict converter structures them again)
    return {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in data.items()}


def computing_input(form: Mapping[str, str]) -> dict[str, Any]:
    """The "add computing resource" form as :meth:`Actions.add_computing` takes it; raises
    ``ValidationError`` naming every bad field."""
    problems: list[str] = []
    data: dict[str, Any] = {key: text(form, key) for key in COMPUTING_FIELDS}
    data["executor"] = data["executor"] or "local"
    data["workload_manager"] = data["workload_manager"] or "none"
    data["kind"] = choice(text(form, "kind") or "local", ComputingKind, "kind", problems)
    data["engines"] = tuple(e for e in _ENGINES_SPLIT.split(text(form, "engines")) if e)
    data["options"] = key_values(form.get("options", ""), "options", problems, typed=True)
    bad = {p.partition(":")[0].removeprefix("$.") for p in problems}
    problems += field_problems(Computing, {k: v for k, v in data.items() if k not in bad})
    raise_problems("computing resource", problems)
    data["kind"] = data["kind"].value
    data["engines"] = list(data["engines"])
    return data


def task_input(form: Mapping[str, str]) -> dict[str, Any]:
    """The "new task" form as :meth:`Actions.new_task` takes it (blank options left out: the
    computing resource's defaults); raises ``ValidationError`` naming every bad field, the
    warning's checkbox (``understood``) included."""
    problems: list[str] = []
    data: dict[str, Any] = {key: text(form, key) for key in ("software", "computing", "name")}
    for key in ("software", "computing"):
        if not data[key]:
            problems.append(f"$.{key}: choose one")
    if not checkbox(form, "understood"):
        problems.append("$.understood: tick this box to confirm you have read the warning")
    options: dict[str, Any] = {"engine": text(form, "engine"), "partition": text(form, "partition")}
    for key in ("cpus", "memory_mb", "walltime_minutes", "gpus"):
        options[key] = whole_number(text(form, key), key, problems)
    options = {k: v for k, v in options.items() if v not in (None, "")}
    bad = {p.partition(":")[0].removeprefix("$.") for p in problems}
    problems += field_problems(TaskOptions, {k: v for k, v in options.items() if k not in bad})
    if data["name"]:
        problems += field_problems(Task, {"name": data["name"]})
    else:
        del data["name"]
    raise_problems("task", problems)
    return {**data, **options}
