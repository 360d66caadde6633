"""Every hook is documented with its exact signature, has a pytest-style docstring, and is tested."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from rosetta_core import hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOKS = {
    name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("rosetta_")
}


def signature_text(name: str) -> str:
    return f"def {name}{inspect.signature(HOOKS[name])}".replace("'", "")


def doc_sections() -> dict[str, str]:
    text = (ROOT / "docs" / "hooks.md").read_text()
    parts = re.split(r"^## ", text, flags=re.M)[1:]
    return {part.split("\n", 1)[0].strip(): part for part in parts}


def test_there_are_hooks() -> None:
    assert len(HOOKS) >= 19


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_is_documented_with_its_exact_signature(name: str) -> None:
    sections = doc_sections()
    assert name in sections, f"docs/hooks.md has no section for {name}"
    assert signature_text(name) in sections[name], f"docs/hooks.md shows a stale signature for {name}"


def test_docs_describe_no_hook_that_does_not_exist() -> None:
    assert set(doc_sections()) == set(HOOKS)


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_docstring_is_pytest_style(name: str) -> None:
    doc = inspect.getdoc(HOOKS[name]) or ""
    summary = doc.split("\n", 1)[0]
    assert summary and summary.endswith("."), name
    for param in inspect.signature(HOOKS[name]).parameters:
        assert f":param {param}:" in doc, f"{name} does not document {param}"
    assert ":return:" in doc, name


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_has_a_test(name: str) -> None:
    files = [p for p in (ROOT / "tests").glob("test_*.py") if p.name != "test_hookspecs.py"]
    files += list((ROOT / "plugins").glob("*/tests/test_*.py"))
    assert any(name in p.read_text() for p in files), f"no test mentions {name}"
