"""Model records: validation on construction, one readable error naming the field."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from rosetta_core.errors import ValidationError
from rosetta_core.model import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    Computing,
    KeyPair,
    Software,
    Storage,
    Task,
    TaskOptions,
    TaskStatus,
    User,
)
from rosetta_core.serde import structure

BAD_SOFTWARE = [
    ({"name": "jupyter; rm -rf /", "image": "jupyter/base"}, "$.name"),
    ({"name": "../etc/passwd", "image": "jupyter/base"}, "$.name"),
    ({"name": "$(id)", "image": "jupyter/base"}, "$.name"),
    ({"name": "j", "image": "Jupyter Base"}, "$.image"),
    ({"name": "j", "image": "j", "interface_port": -1}, "$.interface_port"),
    ({"name": "j", "image": "j", "interface_port": 70000}, "$.interface_port"),
    ({"name": "j", "image": "j", "interface_port": "8080"}, "$.interface_port"),
    ({"name": "j", "image": "j", "interface_port": True}, "$.interface_port"),
    ({"name": "j", "image": "j", "protocol": "gopher"}, "$.protocol"),
    ({"name": "j", "image": "j", "auth": "magic"}, "$.auth"),
    ({"name": "j", "image": "j", "tag": "a b"}, "$.tag"),
    ({"name": "j", "image": "j", "digest": "md5:abc"}, "$.digest"),
    ({"name": "j", "image": "j", "registry": "reg istry"}, "$.registry"),
    ({"name": "j", "image": "j", "env": {"BAD KEY": "x"}}, "$.env"),
    ({"name": "j", "image": "j", "env": {"K": 1}}, "$.env"),
    ({"name": "j", "image": "j", "env": {"K": "x" * 5000}}, "$.env"),
    ({"name": "j", "image": "j", "colour": "red"}, "$.colour: unknown field"),
    ({"name": "j"}, "$.image: required field missing"),
    ({"name": "x" * 64, "image": "j"}, "$.name"),
    ({"name": 7, "image": "j"}, "$.name"),
]


@pytest.mark.parametrize(("data", "path"), BAD_SOFTWARE)
def test_bad_software_names_the_field(data: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as info:
        structure(data, Software)
    assert len(info.value.problems) == 1
    assert path in info.value.problems[0]


def test_software_accepts_metacharacters_in_env_values() -> None:
    sw = structure({"name": "j", "image": "jupyter/base", "env": {"GREETING": "$(hello) `x`; y"}}, Software)
    assert sw.env["GREETING"] == "$(hello) `x`; y"


def test_image_ref() -> None:
    assert Software(name="a", image="jupyter/base").image_ref == "jupyter/base:latest"
    digest = "sha256:" + "a" * 64
    sw = Software(name="a", image="x/y", registry="localhost:5000", tag="1.0", digest=digest)
    assert sw.image_ref == f"localhost:5000/x/y:1.0@{digest}"


@pytest.mark.parametrize(
    ("cls", "data", "path"),
    [
        (Computing, {"name": "c", "engines": []}, "$.engines"),
        (Computing, {"name": "c", "engines": ["podman", "podman"]}, "$.engines"),
        (Computing, {"name": "c", "engines": ["pod man"]}, "$.engines"),
        (Computing, {"name": "c", "engines": ["podman"], "kind": "cloud"}, "$.kind"),
        (Computing, {"name": "c", "engines": ["podman"], "options": {"host": ["a"]}}, "$.options"),
        (Computing, {"name": "c", "engines": ["podman"], "options": {"bad key": 1}}, "$.options"),
        (Storage, {"name": "s", "base_path": "relative", "bind_path": "/data"}, "$.base_path"),
        (Storage, {"name": "s", "base_path": "/a/../b;rm", "bind_path": "/data"}, "$.base_path"),
        (Storage, {"name": "s", "base_path": "/srv/../../etc", "bind_path": "/data"}, "$.base_path"),
        (Storage, {"name": "s", "base_path": "/srv", "bind_path": "/data/.."}, "$.bind_path"),
        (Computing, {"name": "c", "engines": ["podman"], "options": {"load": float("nan")}}, "$.options"),
        (Computing, {"name": "c", "engines": ["podman"], "options": {"load": float("inf")}}, "$.options"),
        (Software, {"name": "s", "image": "x", "registry": "reg:99999"}, "$.registry"),
        (Storage, {"name": "s", "base_path": "/a", "bind_path": "/data", "read_only": "yes"}, "$.read_only"),
        (User, {"name": "a b"}, "$.name"),
        (User, {"name": "ada", "is_admin": 1}, "$.is_admin"),
        (
            KeyPair,
            {"owner": "ada", "name": "k", "public_key": "ssh-ed25519 AAA", "private_key_path": "k"},
            "$.private_key_path",
        ),
        (TaskOptions, {"cpus": 0}, "$.cpus"),
        (TaskOptions, {"memory_mb": 10**12}, "$.memory_mb"),
        (TaskOptions, {"partition": "debug;ls"}, "$.partition"),
        (TaskOptions, {"walltime_minutes": -5}, "$.walltime_minutes"),
    ],
)
def test_bad_records_name_the_field(cls: type, data: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as info:
        structure(data, cls)
    assert any(p.startswith(path) for p in info.value.problems), info.value.problems


def test_records_are_frozen_and_evolve() -> None:
    comp = Computing(name="c", engines=("podman", "docker"))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        comp.name = "d"  # type: ignore[misc]
    assert attrs.evolve(comp, name="d").name == "d"
    assert comp.default_engine == "podman"


def test_records_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        User("ada")  # type: ignore[misc]


def test_status_sets() -> None:
    assert TaskStatus.RUNNING.is_active and not TaskStatus.RUNNING.is_terminal
    assert TaskStatus.UNKNOWN.is_active
    assert TaskStatus.CREATED not in ACTIVE_STATUSES | TERMINAL_STATUSES
    assert all(s.is_terminal for s in TERMINAL_STATUSES)


def test_task_defaults() -> None:
    task = Task(name="t", owner="ada", software="s", computing="c")
    assert task.status is TaskStatus.CREATED and len(task.id) == 32
    assert task.options == TaskOptions()
