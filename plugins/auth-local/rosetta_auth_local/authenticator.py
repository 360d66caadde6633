"""The authenticator ``local``: :class:`rosetta_core.auth.Authenticator` over local accounts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from rosetta_auth_local.errors import SignInFailed, TooManyAttempts
from rosetta_auth_local.signin import sign_in
from rosetta_auth_local.tokens import token_user

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel


class LocalAuthenticator:
    """Accepts ``{"username", "password"}`` (and an optional ``"client"`` address, default
    ``127.0.0.1``), or ``{"token"}`` holding an API token.

    ``authenticate`` returns the user's name or ``None``; it never raises for wrong or malformed
    credentials, nor when sign-in is rate-limited (that is ``None`` too: call
    :func:`~rosetta_auth_local.signin.sign_in` to tell the cases apart).
    """

    name = "local"

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel

    def __repr__(self) -> str:
        return "LocalAuthenticator()"

    def authenticate(self, credentials: Mapping[str, str]) -> str | None:
        if not isinstance(credentials, Mapping):
            return None
        if "token" in credentials:
            user = token_user(self._kernel, credentials["token"])
            return None if user is None else user.name
        try:
            user = sign_in(
                self._kernel,
                credentials.get("username", ""),
                credentials.get("password", ""),
                client=credentials.get("client", "127.0.0.1"),
            )
        except (SignInFailed, TooManyAttempts):
            return None
        return user.name
