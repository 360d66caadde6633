"""Platform users: creation, with the ``rosetta_user_created`` hook that prepares what they need."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rosetta_core.model import KeyPair, User
from rosetta_core.serde import structure

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel


def create_user(kernel: Kernel, name: str, *, email: str = "", is_admin: bool = False) -> User:
    """Store a new user, then call ``rosetta_user_created`` (the SSH plugin makes a key pair there).

    Raises :class:`~rosetta_core.errors.ValidationError` for a bad name or email and
    :class:`~rosetta_core.errors.ConflictError` for a taken name, storing nothing. If a hook fails,
    the user and its key pair rows are deleted again and the hook's error is raised.
    """
    fields = {"name": name, "email": email, "is_admin": is_admin}
    user = kernel.store.add(structure(fields, User, what="user"))
    try:
        kernel.pm.hook.rosetta_user_created(user=user, kernel=kernel)
    except BaseException:
        with kernel.store.write() as db:
            db.execute("DELETE FROM keypairs WHERE owner = ?", [user.name])
            db.execute("DELETE FROM users WHERE name = ?", [user.name])
        raise
    return user


def key_pairs(kernel: Kernel, owner: str) -> list[KeyPair]:
    """The key pairs of ``owner``, by name."""
    return [k for k in kernel.store.all(KeyPair) if k.owner == owner]
