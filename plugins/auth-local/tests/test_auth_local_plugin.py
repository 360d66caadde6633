from __future__ import annotations

from pathlib import Path

from rosetta_auth_local import plugin
from rosetta_auth_local.options import LocalAuthOptions
from rosetta_core.kernel import Kernel


def test_registrations(kernel: Kernel) -> None:
    assert kernel.plugin_registrations("auth-local") == {
        "authenticators": ["local"],
        "migrations": ["auth-local"],
        "options": ["LocalAuthOptions"],
    }
    assert isinstance(kernel.options(LocalAuthOptions), LocalAuthOptions)


def test_entry_point_names_this_module() -> None:
    text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert f'auth-local = "{plugin.__name__}"' in text
