"""Server-side sessions and their CSRF tokens.

A session token is 256 random bits (URL-safe text) handed to the browser once; the store keeps
only its SHA-256 digest. A session ends when it is not used for ``session_idle`` seconds, when it
is ``session_lifetime`` seconds old, when it is ended (sign-out), when its user's password changes
or when its user is deleted.

The CSRF token of a session is an HMAC-SHA256, under a key derived from the platform secret, of
the session token's digest: it needs no storage, changes with every session, and cannot be made
without the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, Any

from rosetta_auth_local import clock
from rosetta_auth_local.options import LocalAuthOptions
from rosetta_auth_local.tables import SESSIONS, digest, user_exists, user_row
from rosetta_core.errors import NotFoundError
from rosetta_core.model import User

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel

# last_seen is written at most this often: a page load should not always cost a write
TOUCH_INTERVAL = 60.0
# tokens are 43 characters; anything much longer is not one and is not hashed
MAX_TOKEN = 128


def start_session(kernel: Kernel, user: User) -> tuple[str, str]:
    """Open a session for ``user``: ``(session_token, csrf_token)``.

    Give the session token to the client once (a ``Secure``, ``HttpOnly`` cookie); it is not
    stored. Raises :class:`~rosetta_core.errors.NotFoundError` for a user no longer stored.
    """
    options = kernel.options(LocalAuthOptions)
    token = secrets.token_urlsafe(32)
    now = clock.now(kernel)
    with kernel.store.write() as db:
        if not user_exists(db, user):
            raise NotFoundError(f"no user named {user.name!r}")
        # sessions nobody ended are dropped here, so the table does not grow without bound
        db.execute(
            f"DELETE FROM [{SESSIONS}] WHERE created_at <= ? OR last_seen <= ?",  # noqa: S608 - fixed names
            [now - options.session_lifetime, now - options.session_idle],
        )
        db.table(SESSIONS).insert(
            {
                "id": secrets.token_hex(16),
                "user_id": user.id,
                "token_hash": digest(token),
                "created_at": now,
                "last_seen": now,
            }
        )
    return token, csrf_token(kernel, token)


def session_user(kernel: Kernel, token: str) -> User | None:
    """The user of the live session ``token``; ``None`` for an unknown, ended or expired one.

    Using a session keeps it alive (``session_idle`` counts from its last use). The user is read
    fresh, so ``is_admin`` is current.
    """
    found = _live(kernel, token)
    if found is None:
        return None
    user, row = found
    now = clock.now(kernel)
    if now - row["last_seen"] >= TOUCH_INTERVAL:
        with kernel.store.write() as db:
            db.execute(f"UPDATE [{SESSIONS}] SET last_seen = ? WHERE id = ?", [now, row["id"]])  # noqa: S608 - fixed names
    return user


def end_session(kernel: Kernel, token: str) -> None:
    """End the session ``token`` (sign-out). An unknown or ended session is not an error."""
    if not _plausible(token):
        return
    with kernel.store.write() as db:
        db.execute(f"DELETE FROM [{SESSIONS}] WHERE token_hash = ?", [digest(token)])  # noqa: S608 - fixed names


def end_sessions(kernel: Kernel, user: User, *, keep: str | None = None) -> int:
    """End every session of ``user`` but ``keep`` (a session token); return how many ended."""
    kept = digest(keep) if isinstance(keep, str) and _plausible(keep) else ""
    with kernel.store.write() as db:
        cursor = db.execute(
            f"DELETE FROM [{SESSIONS}] WHERE user_id = ? AND token_hash != ?",  # noqa: S608 - fixed names
            [user.id, kept],
        )
        return int(cursor.rowcount)


def csrf_token(kernel: Kernel, session_token: str) -> str:
    """The CSRF token of the session ``session_token`` (the one :func:`start_session` returned).

    It depends only on the session token and the platform secret, so it can be derived again on
    any request; it says nothing about whether the session is live (:func:`check_csrf` does).
    """
    return hmac.new(_csrf_key(kernel), digest(session_token).encode(), hashlib.sha256).hexdigest()


def check_csrf(kernel: Kernel, session_token: str, submitted: str) -> bool:
    """Whether ``submitted`` is the CSRF token of ``session_token`` and that session is live.

    Compared in constant time. Never raises for bad values: anything else is ``False``.
    """
    if not _plausible(session_token) or not isinstance(submitted, str) or len(submitted) > MAX_TOKEN:
        return False
    expected = csrf_token(kernel, session_token).encode()
    same = hmac.compare_digest(expected, submitted.encode("utf-8", "surrogatepass"))
    return same and _live(kernel, session_token) is not None


def _csrf_key(kernel: Kernel) -> bytes:
    # a key of its own, so a CSRF token is no HMAC any other user of the secret would accept
    return hmac.new(kernel.secret.encode(), b"rosetta-auth-local/csrf", hashlib.sha256).digest()


def _plausible(token: Any) -> bool:
    return isinstance(token, str) and 0 < len(token) <= MAX_TOKEN


def _live(kernel: Kernel, token: Any) -> tuple[User, Any] | None:
    if not _plausible(token):
        return None
    options = kernel.options(LocalAuthOptions)
    found = user_row(
        kernel.store.db,
        f"FROM [{SESSIONS}] t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?",
        [digest(token)],
    )
    if found is None:
        return None
    now = clock.now(kernel)
    row = found[1]
    if now - row["created_at"] >= options.session_lifetime or now - row["last_seen"] >= options.session_idle:
        with kernel.store.write() as db:
            db.execute(f"DELETE FROM [{SESSIONS}] WHERE id = ?", [row["id"]])  # noqa: S608 - fixed names
        return None
    return found
