"""Password policy and argon2id hashing.

Passwords are normalised to Unicode NFKC before they are measured or hashed, so the same password
typed on two keyboards gives the same hash. Neither a password nor its hash is ever logged or put
in an error message.
"""

from __future__ import annotations

import functools
import logging
import secrets
import unicodedata
from typing import Any

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from rosetta_auth_local.options import LocalAuthOptions
from rosetta_core.errors import ValidationError

log = logging.getLogger(__name__)

MIN_CHARACTERS = 8
MAX_BYTES = 1024


def password_problems(password: Any, *, field: str = "password", name: str | None = None) -> list[str]:
    """Why ``password`` is refused as a new password (empty when it is accepted).

    It must be a string of at least 8 characters and at most 1024 bytes in UTF-8, after NFKC,
    and must not be the user's ``name``.
    """
    if not isinstance(password, str):
        return [f"$.{field}: must be a string, not {type(password).__name__}"]
    # measure before normalising: NFKC of a huge string is itself work an attacker could ask for
    if len(password) > MAX_BYTES:
        return [f"$.{field}: must be at most {MAX_BYTES} bytes"]
    text = normalise(password)
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return [f"$.{field}: must be valid Unicode text"]
    if size > MAX_BYTES:
        return [f"$.{field}: must be at most {MAX_BYTES} bytes"]
    if len(text) < MIN_CHARACTERS:
        return [f"$.{field}: must be at least {MIN_CHARACTERS} characters"]
    if name is not None and text == name:
        return [f"$.{field}: must not be the user name"]
    return []


def check_password(password: Any, *, name: str | None = None) -> None:
    """Raise :class:`~rosetta_core.errors.ValidationError` if ``password`` is refused."""
    problems = password_problems(password, name=name)
    if problems:
        raise ValidationError("password", problems)


def normalise(password: str) -> str:
    """``password`` in Unicode NFKC."""
    return unicodedata.normalize("NFKC", password)


def _encoded(password: str) -> bytes | None:
    """The bytes that are hashed, or ``None`` for a value no accepted password can have."""
    if not isinstance(password, str) or len(password) > MAX_BYTES:
        return None
    try:
        data = normalise(password).encode("utf-8")
    except UnicodeEncodeError:
        return None
    return data if len(data) <= MAX_BYTES else None


def generate_password() -> str:
    """A random password of 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)


class Hasher:
    """argon2id with one set of parameters. Build it with :func:`hasher_for`."""

    def __init__(self, time_cost: int, memory_cost: int, parallelism: int) -> None:
        self._ph = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=argon2.Type.ID
        )
        self._dummy: str | None = None

    def __repr__(self) -> str:
        return f"Hasher(t={self._ph.time_cost}, m={self._ph.memory_cost}, p={self._ph.parallelism})"

    def hash(self, password: str) -> str:
        """The argon2id hash (PHC string, with its own salt and parameters) of ``password``.

        Raises :class:`~rosetta_core.errors.ValidationError` for a value that is not a password
        (not a string, not encodable, over 1024 bytes); the policy is :func:`check_password`'s.
        """
        data = _encoded(password)
        if data is None:
            raise ValidationError("password", ["$.password: must be Unicode text of at most 1024 bytes"])
        return self._ph.hash(data)

    def verify(self, stored: str, password: str) -> bool:
        """Whether ``password`` matches ``stored``; a malformed hash is a mismatch (and is logged).

        A value that could never be a password (see :meth:`hash`) is a mismatch too, and still
        costs one verification, so it cannot be told apart by timing.
        """
        data = _encoded(password)
        try:
            if data is None:
                self._ph.verify(stored, b"")
                return False
            return self._ph.verify(stored, data)
        except InvalidHashError:
            log.warning("a stored password hash is malformed; its account cannot sign in")
            return False
        except VerificationError:
            return False

    def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification, for a user that does not exist."""
        if self._dummy is None:
            self._dummy = self._ph.hash(secrets.token_urlsafe(16))
        self.verify(self._dummy, password)

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was made with other parameters than this hasher's."""
        try:
            return self._ph.check_needs_rehash(stored)
        except InvalidHashError:
            return True


@functools.lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_cost: int, parallelism: int) -> Hasher:
    return Hasher(time_cost, memory_cost, parallelism)


def hasher_for(options: LocalAuthOptions) -> Hasher:
    """The (shared) hasher of ``options``' argon2 parameters."""
    return _hasher(options.argon2_time_cost, options.argon2_memory_cost, options.argon2_parallelism)
