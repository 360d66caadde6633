"""Sign-in with a user name and a password, rate-limited (:mod:`rosetta_auth_local.limits`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rosetta_auth_local import accounts, limits
from rosetta_auth_local.errors import SignInFailed
from rosetta_auth_local.options import LocalAuthOptions
from rosetta_auth_local.passwords import hasher_for
from rosetta_core.errors import NotFoundError
from rosetta_core.model import User
from rosetta_core.validators import NAME_RE

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel


def sign_in(kernel: Kernel, name: str, password: str, *, client: str = "127.0.0.1") -> User:
    """The user whose name and local password these are.

    ``client`` is the address the attempt comes from (the web front passes the peer's).
    Raises :class:`~rosetta_auth_local.errors.SignInFailed` for a wrong name or password, with one
    message and about the same time whether the user exists or not (an argon2 verification is
    spent either way), and :class:`~rosetta_auth_local.errors.TooManyAttempts`, without checking
    anything, while the account or the address is over its limit. Values of the wrong type fail
    as wrong credentials do. A hash made with older argon2 parameters is replaced by one with
    the current parameters.
    """
    hasher = hasher_for(kernel.options(LocalAuthOptions))
    client_text = client[: limits.MAX_CLIENT] if isinstance(client, str) else ""
    valid_name = isinstance(name, str) and NAME_RE.fullmatch(name) is not None
    # a name no account can have still counts against the address, not against an account
    attempt = limits.reserve(kernel, account=name if valid_name else None, client=client_text)
    user = _user(kernel, name) if valid_name else None
    stored = accounts.stored_hash(kernel, user) if user is not None else None
    if user is None or stored is None:
        hasher.verify_dummy(password)
        raise SignInFailed()
    if not hasher.verify(stored, password):
        raise SignInFailed()
    limits.succeeded(kernel, attempt)
    if hasher.needs_rehash(stored):
        accounts.rehash(kernel, user, stored, hasher.hash(password))
    return user


def _user(kernel: Kernel, name: str) -> User | None:
    try:
        return kernel.store.get(User, name)
    except NotFoundError:
        return None
