from __future__ import annotations

from typing import Any

import pytest

from rosetta_auth_local.accounts import sign_up
from rosetta_auth_local.authenticator import LocalAuthenticator
from rosetta_auth_local.tokens import create_api_token
from rosetta_core.auth import Authenticator
from rosetta_core.kernel import Kernel

PASSWORD = "correct horse battery"


def test_registered_as_local(kernel: Kernel) -> None:
    authenticator = kernel.authenticators.get("local")
    assert isinstance(authenticator, LocalAuthenticator)
    assert isinstance(authenticator, Authenticator)
    assert authenticator.name == "local"


def test_password_and_token(kernel: Kernel) -> None:
    user = sign_up(kernel, "ada", PASSWORD)
    authenticator = kernel.authenticators.get("local")
    assert authenticator.authenticate({"username": "ada", "password": PASSWORD}) == "ada"
    token = create_api_token(kernel, user, "ci")
    assert authenticator.authenticate({"token": token}) == "ada"


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": "ada", "password": "wrong password"},
        {"username": "nobody", "password": PASSWORD},
        {"username": "ada"},
        {},
        {"username": 1, "password": 2, "client": 3},
        {"token": "rst_nothing"},
        {"token": None},
        "not a mapping",
        None,
    ],
)
def test_wrong_credentials_are_none_never_an_error(kernel: Kernel, credentials: Any) -> None:
    sign_up(kernel, "ada", PASSWORD)
    assert kernel.authenticators.get("local").authenticate(credentials) is None


def test_rate_limited_is_none(make_kernel: Any) -> None:
    kernel = make_kernel(account_failures=1)
    sign_up(kernel, "ada", PASSWORD)
    authenticator = kernel.authenticators.get("local")
    assert authenticator.authenticate({"username": "ada", "password": "wrong password"}) is None
    assert authenticator.authenticate({"username": "ada", "password": PASSWORD}) is None


def test_repr_holds_nothing_secret(kernel: Kernel) -> None:
    assert repr(kernel.authenticators.get("local")) == "LocalAuthenticator()"
