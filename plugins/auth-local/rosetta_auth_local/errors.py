"""The plugin's errors, all :class:`~rosetta_core.errors.RosettaError` subclasses.

Bad input raises the core's :class:`~rosetta_core.errors.ValidationError` (every problem listed, no
value of a password in it) and a taken name the core's :class:`~rosetta_core.errors.ConflictError`.
The errors below are the ones the core has no word for::

    LocalAuthError
     +-- SignInFailed       wrong user name or password (one message, whichever was wrong)
     +-- TooManyAttempts    too many failures lately; ``retry_after`` says when to try again
     +-- SignUpRefused      sign-up is closed, or the invitation code is missing or wrong
"""

from __future__ import annotations

from rosetta_core.errors import RosettaError


class LocalAuthError(RosettaError):
    """Base of the errors of local accounts."""


class SignInFailed(LocalAuthError):
    """The user name or the password is wrong. The message never says which."""

    def __init__(self) -> None:
        super().__init__("wrong user name or password")


class TooManyAttempts(LocalAuthError):
    """Too many failed sign-ins for this account or from this address; nothing was checked.

    ``retry_after`` is the number of whole seconds until one more attempt is allowed.
    """

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(f"too many failed sign-in attempts, retry in {self.retry_after} s")


class SignUpRefused(LocalAuthError):
    """Sign-up is not open, or it needs an invitation code that was not given or is wrong."""
