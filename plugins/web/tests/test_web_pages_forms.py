"""Reading the pages' forms (``rosetta_web.pages_forms``): text to the kernel's types, every bad
field named at once, nothing accepted that the model would refuse."""

from __future__ import annotations

import pytest

from rosetta_core.errors import ValidationError
from rosetta_core.model import Software, TaskOptions
from rosetta_web.errors import field_errors
from rosetta_web.pages_forms import (
    MAX_FORM_FIELDS,
    FormTooLarge,
    NotAForm,
    computing_input,
    field_problems,
    key_values,
    parse_form,
    software_input,
    task_input,
    whole_number,
)


def problems_of(call: object, form: dict[str, str]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        call(form)  # type: ignore[operator]
    return field_errors(caught.value)


def test_a_form_body_keeps_the_first_value_of_each_field() -> None:
    assert parse_form(b"a=1&b=two+words&a=3&c=") == {"a": "1", "b": "two words", "c": ""}


def test_a_form_body_with_too_many_fields_or_not_utf8_is_refused() -> None:
    with pytest.raises(FormTooLarge):
        parse_form("&".join(f"f{i}=1" for i in range(MAX_FORM_FIELDS + 1)).encode())
    with pytest.raises(NotAForm):
        parse_form(b"a=\xff\xfe")


@pytest.mark.parametrize(("text", "value"), [("", None), ("42", 42), ("-3", -3), ("+7", 7)])
def test_whole_numbers(text: str, value: int | None) -> None:
    problems: list[str] = []
    assert whole_number(text, "cpus", problems) == value and problems == []


@pytest.mark.parametrize("text", ["4.5", "1e9", "four", "9" * 13, "1; ls", "0x10"])
def test_anything_else_is_not_a_whole_number(text: str) -> None:
    problems: list[str] = []
    assert whole_number(text, "cpus", problems) is None
    assert problems == ["$.cpus: must be a whole number"]


def test_key_value_lines() -> None:
    problems: list[str] = []
    assert key_values("A=1\n\n B = x=y \n", "env", problems) == {"A": "1", "B": "x=y"}
    assert key_values("n=4\nflag=true\nname=proxy", "options", problems, typed=True) == {
        "n": 4,
        "flag": True,
        "name": "proxy",
    }
    assert problems == []
    assert key_values("A=1\nnot a pair", "env", problems) == {}
    assert problems == ["$.env: line 2 is not KEY=VALUE"]


def test_field_problems_checks_each_field_alone() -> None:
    found = field_problems(Software, {"name": "../x", "image": "A B", "tag": "ok"})
    assert [p.partition(":")[0] for p in found] == ["$.name", "$.image"]
    assert [p.partition(":")[0] for p in field_problems(TaskOptions, {"cpus": 0, "gpus": 1})] == ["$.cpus"]


def test_the_software_form_as_the_actions_take_it() -> None:
    data = software_input(
        {"name": "lab", "image": "jupyter/lab", "interface_port": "8888", "keeps_prefix": "1", "env": "A=1"}
    )
    assert data["interface_port"] == 8888 and data["keeps_prefix"] is True and data["env"] == {"A": "1"}
    assert data["protocol"] == "http" and data["auth"] == "none" and data["tag"] == "latest"


def test_the_software_form_names_every_bad_field() -> None:
    form = {"name": "a;b", "image": "", "interface_port": "x", "protocol": "ftp", "auth": "?", "env": "x"}
    assert set(problems_of(software_input, form)) == {
        "name",
        "image",
        "interface_port",
        "protocol",
        "auth",
        "env",
    }


def test_the_computing_form() -> None:
    data = computing_input({"name": "c", "engines": "podman, docker", "options": "tunnel=proxy"})
    assert data["engines"] == ["podman", "docker"] and data["kind"] == "local"
    assert set(problems_of(computing_input, {"name": "", "engines": "", "kind": "x"})) == {
        "name",
        "engines",
        "kind",
    }


def test_the_task_form_leaves_blank_options_to_the_computing_resource() -> None:
    form = {"software": "lab", "computing": "here", "understood": "1", "cpus": "2", "partition": ""}
    assert task_input(form) == {"software": "lab", "computing": "here", "cpus": 2}


def test_the_task_form_names_every_bad_field() -> None:
    form = {"software": "", "computing": "", "name": "../x", "cpus": "0", "memory_mb": "lots"}
    assert set(problems_of(task_input, form)) == {
        "software",
        "computing",
        "name",
        "cpus",
        "memory_mb",
        "understood",
    }
