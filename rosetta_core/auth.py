"""The authenticator interface: who is asking."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable


@runtime_checkable
class Authenticator(Protocol):
    """Turns credentials into a user name.

    ``authenticate`` returns the user's name, or ``None`` when the credentials are not accepted; it
    never raises for wrong credentials.
    """

    name: str

    def authenticate(self, credentials: Mapping[str, str]) -> str | None: ...
