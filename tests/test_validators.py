"""Validators refuse what could reach a shell or escape a folder."""

from __future__ import annotations

from typing import Any

import pytest

from rosetta_core import validators as v
from rosetta_core.model import Computing, Software, Storage, TaskOptions

HOSTILE_NAMES = [
    "",
    "-rf",
    ".hidden",
    "a b",
    "a;b",
    "a|b",
    "a&b",
    "$(x)",
    "`x`",
    "a/b",
    "../x",
    "a\nb",
    "é",
    "x" * 64,
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_names_refuse_hostile_text(name: str) -> None:
    assert not v.NAME_RE.match(name)


@pytest.mark.parametrize("name", ["a", "jupyter-lab_3.1", "A9", "x" * 63])
def test_names_accept_plain_text(name: str) -> None:
    assert v.NAME_RE.match(name)


@pytest.mark.parametrize("path", ["relative", "/a/b c", "/a;b", "/a/$(x)", "/a\x00b", "/" + "a" * 1100])
def test_paths_refuse(path: str) -> None:
    assert not v.PATH_RE.match(path)


def test_field_error_carries_the_field() -> None:
    err = v.FieldError("port", "must be positive")
    assert err.field == "port" and str(err) == "must be positive" and isinstance(err, ValueError)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Computing(name="x\n", engines=("podman",)),
        lambda: TaskOptions(partition="debug\n"),
        lambda: Software(name="s", image="img\n"),
        lambda: Software(name="s", image="img", tag="1\n"),
        lambda: Storage(name="s", base_path="/data\n", bind_path="/d"),
        lambda: Software(name="s", image="img", env={"KEY\n": "v"}),
    ],
)
def test_a_trailing_newline_is_refused(make: Any) -> None:
    # "$" also matches before a final newline: every pattern must match the whole value
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize(
    ("value", "address"),
    [("127.0.0.1:8765", ("127.0.0.1", 8765)), ("[::1]:0", ("::1", 0)), ("0.0.0.0:65535", ("0.0.0.0", 65535))],
)
def test_listen_address_parses(value: str, address: tuple[str, int]) -> None:
    assert v.listen_address(value) == address


@pytest.mark.parametrize(
    "value", ["localhost:80", "127.0.0.1", "127.0.0.1:65536", "127.0.0.1:-1", "1.2.3.4: 80", ":80", 8080, ""]
)
def test_listen_address_refuses(value: object) -> None:
    with pytest.raises(ValueError):
        v.listen_address(value)  # type: ignore[arg-type]
