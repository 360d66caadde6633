"""API tokens for scripts: ``Authorization: Bearer rst_...``.

A token is ``rst_`` and 256 random bits in URL-safe text; the prefix lets secret scanners and
people recognise it. It is shown once, at creation: the store keeps its SHA-256 digest, a label
and the times it was made and last used. Tokens do not expire; their owner revokes them (and all
of a user's go when the user is deleted). A password change leaves them valid.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

from rosetta_auth_local import clock
from rosetta_auth_local.options import LocalAuthOptions
from rosetta_auth_local.tables import API_TOKENS, digest, user_exists, user_row
from rosetta_core.errors import ConflictError, NotFoundError, ValidationError
from rosetta_core.model import User

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel

PREFIX = "rst_"
MAX_LABEL = 100
# "rst_" and 43 characters; anything much longer is not a token and is not hashed
MAX_TOKEN = 128
# last_used is written at most this often: a busy script should not cost a write per call
TOUCH_INTERVAL = 60.0


@attrs.frozen(kw_only=True)
class ApiToken:
    """What may be shown about a token: never the token itself."""

    id: str
    label: str
    created_at: datetime
    last_used: datetime | None


def create_api_token(kernel: Kernel, user: User, label: str) -> str:
    """A new API token of ``user``, labelled ``label``; the only time the token is seen.

    ``label`` is 1-100 printable characters. Raises :class:`~rosetta_core.errors.ValidationError`
    for a bad label, :class:`~rosetta_core.errors.ConflictError` when the user holds
    ``max_api_tokens`` already, :class:`~rosetta_core.errors.NotFoundError` for a user no longer
    stored.
    """
    problems = label_problems(label)
    if problems:
        raise ValidationError("API token", problems)
    options = kernel.options(LocalAuthOptions)
    token = PREFIX + secrets.token_urlsafe(32)
    with kernel.store.write() as db:
        if not user_exists(db, user):
            raise NotFoundError(f"no user named {user.name!r}")
        held = db.execute(f"SELECT COUNT(*) FROM [{API_TOKENS}] WHERE user_id = ?", [user.id]).fetchone()[0]  # noqa: S608 - fixed names
        if held >= options.max_api_tokens:
            raise ConflictError(f"user {user.name!r} holds {held} API tokens, the most allowed: revoke one")
        db.table(API_TOKENS).insert(
            {
                "id": secrets.token_hex(8),
                "user_id": user.id,
                "label": label,
                "token_hash": digest(token),
                "created_at": clock.now(kernel),
                "last_used": None,
            }
        )
    return token


def api_tokens(kernel: Kernel, user: User) -> list[ApiToken]:
    """``user``'s API tokens, oldest first."""
    rows = kernel.store.db.query(
        f"SELECT id, label, created_at, last_used FROM [{API_TOKENS}] WHERE user_id = ? "  # noqa: S608 - fixed names
        "ORDER BY created_at, rowid",
        [user.id],
    )
    return [
        ApiToken(
            id=row["id"],
            label=row["label"],
            created_at=_time(row["created_at"]),
            last_used=None if row["last_used"] is None else _time(row["last_used"]),
        )
        for row in rows
    ]


def revoke_api_token(kernel: Kernel, user: User, token_id: str) -> None:
    """Revoke ``user``'s token ``token_id`` (an :attr:`ApiToken.id`).

    Raises :class:`~rosetta_core.errors.NotFoundError` when ``user`` has no such token, the same
    whether the id is unknown or another user's.
    """
    if not isinstance(token_id, str) or len(token_id) > 64:
        raise NotFoundError(f"user {user.name!r} has no such API token")
    with kernel.store.write() as db:
        cursor = db.execute(
            f"DELETE FROM [{API_TOKENS}] WHERE id = ? AND user_id = ?",  # noqa: S608 - fixed names
            [token_id, user.id],
        )
        if cursor.rowcount == 0:
            raise NotFoundError(f"user {user.name!r} has no API token {token_id!r}")


def token_user(kernel: Kernel, token: str) -> User | None:
    """The user of the API token ``token``; ``None`` for anything else. Never raises for bad values."""
    if not _plausible(token):
        return None
    found = user_row(
        kernel.store.db,
        f"FROM [{API_TOKENS}] t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?",
        [digest(token)],
    )
    if found is None:
        return None
    user, row = found
    now = clock.now(kernel)
    if row["last_used"] is None or now - row["last_used"] >= TOUCH_INTERVAL:
        with kernel.store.write() as db:
            db.execute(f"UPDATE [{API_TOKENS}] SET last_used = ? WHERE id = ?", [now, row["id"]])  # noqa: S608 - fixed names
    return user


def label_problems(label: Any) -> list[str]:
    """Why ``label`` is refused (empty when it is accepted)."""
    if not isinstance(label, str):
        return [f"$.label: must be a string, not {type(label).__name__}"]
    if not 1 <= len(label) <= MAX_LABEL or not label.isprintable() or label.strip() != label:
        return [f"$.label: must be 1-{MAX_LABEL} printable characters, without leading or trailing spaces"]
    return []


def _plausible(token: Any) -> bool:
    return isinstance(token, str) and token.startswith(PREFIX) and len(token) <= MAX_TOKEN


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
