"""The converter factory: strict input, lenient stored rows, readable error paths."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest

from rosetta_core.errors import ValidationError
from rosetta_core.model import Computing, Software, TaskOptions
from rosetta_core.serde import make_converter, structure, unstructure


def test_strict_refuses_coercion_and_unknown_keys() -> None:
    conv = make_converter(strict=True)
    with pytest.raises(Exception):
        conv.structure("3", int)
    with pytest.raises(Exception):
        conv.structure(True, int)
    assert conv.structure(3, float) == 3.0


def test_lenient_ignores_unknown_keys() -> None:
    conv = make_converter(strict=False)
    opts = conv.structure({"cpus": 2, "added_later": 1}, TaskOptions)
    assert opts.cpus == 2


def test_every_problem_is_listed_with_its_path() -> None:
    with pytest.raises(ValidationError) as info:
        structure({"name": "c", "engines": ["ok", 3], "kind": "cloud", "extra": 1}, Computing)
    problems = info.value.problems
    assert "$.extra: unknown field" in problems
    assert any(p.startswith("$.engines[1]") for p in problems)
    assert any(p.startswith("$.kind") for p in problems)


def test_not_a_table() -> None:
    with pytest.raises(ValidationError, match="expected a table"):
        structure(["name"], Software)


def test_round_trip() -> None:
    sw = Software(name="j", image="jupyter/base", env={"A": "1"}, interface_port=8888)
    data = unstructure(sw)
    assert data["created_at"] == sw.created_at.isoformat()
    assert structure(data, Software) == sw


def test_datetime_needs_iso_text() -> None:
    @attrs.frozen(kw_only=True)
    class When:
        at: datetime

    assert structure({"at": "2026-01-02T03:04:05+00:00"}, When).at == datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=UTC
    )
    with pytest.raises(ValidationError, match=r"\$\.at"):
        structure({"at": 5}, When)


def test_a_string_is_not_a_list() -> None:
    @attrs.frozen(kw_only=True)
    class Args:
        extra: tuple[str, ...] = ()

    assert structure({"extra": ["--init"]}, Args).extra == ("--init",)
    with pytest.raises(ValidationError, match=r"\$\.extra: expected a list, got str"):
        structure({"extra": "--init"}, Args)
    with pytest.raises(ValidationError, match=r"\$\.extra\[0\]"):
        structure({"extra": [1]}, Args)
