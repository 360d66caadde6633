"""The plugin's tables (migration set ``auth-local``) and the lookups they share.

Rows point at a core user by ``users.id``, never by name, and every lookup joins ``users``: a
deleted user's credential, sessions and tokens stop working at once, and a new user who takes
the old name inherits none of them. There is deliberately no SQL foreign key: a cascade would also
fire if the core ever rebuilt its ``users`` table in a migration.

Secrets are never stored: passwords as argon2id hashes, session and API tokens as SHA-256
digests (they are 256-bit random values, so a fast digest is enough).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from sqlite_utils import Database, Migrations

from rosetta_core.model import User
from rosetta_core.store.rows import from_row

SET_NAME = "auth-local"
CREDENTIALS = "auth_local_credentials"
FAILURES = "auth_local_failures"
SESSIONS = "auth_local_sessions"
API_TOKENS = "auth_local_api_tokens"

migrations = Migrations(SET_NAME)


@migrations(name="0001_initial")
def _initial(db: Database) -> None:
    db.table(CREDENTIALS).create(
        {"user_id": str, "password_hash": str, "changed_at": float}, pk="user_id", not_null={"password_hash"}
    )
    db.table(FAILURES).create({"id": int, "scope": str, "key": str, "at": float}, pk="id")
    db.table(FAILURES).create_index(["scope", "key", "at"])
    db.table(FAILURES).create_index(["at"])
    db.table(SESSIONS).create(
        {"id": str, "user_id": str, "token_hash": str, "created_at": float, "last_seen": float},
        pk="id",
        not_null={"user_id", "token_hash"},
    )
    db.table(SESSIONS).create_index(["token_hash"], unique=True)
    db.table(SESSIONS).create_index(["user_id"])
    db.table(API_TOKENS).create(
        {
            "id": str,
            "user_id": str,
            "label": str,
            "token_hash": str,
            "created_at": float,
            "last_used": float,
        },
        pk="id",
        not_null={"user_id", "token_hash", "label"},
    )
    db.table(API_TOKENS).create_index(["token_hash"], unique=True)
    db.table(API_TOKENS).create_index(["user_id"])


def digest(token: str) -> str:
    """The SHA-256 hex digest stored in place of a session or API token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


_USER_FIELDS = ("id", "name", "email", "is_admin", "created_at")
# prefixed so the plugin row's own "id" does not shadow the user's
_USER_COLUMNS = ", ".join(f"u.{f} AS user__{f}" for f in _USER_FIELDS)


def user_row(db: Database, sql_from: str, params: list[Any]) -> tuple[User, Mapping[str, Any]] | None:
    """The user and the plugin row selected by ``sql_from`` (which must alias the table ``t`` and
    join ``users u``), or ``None``."""
    rows = list(db.query(f"SELECT {_USER_COLUMNS}, t.* {sql_from} LIMIT 1", params))
    if not rows:
        return None
    row = rows[0]
    user = from_row(User, {f: row[f"user__{f}"] for f in _USER_FIELDS})
    return user, row


def user_exists(db: Database, user: User) -> bool:
    """Whether ``user`` (same id) is still stored."""
    return db.execute("SELECT 1 FROM users WHERE id = ?", [user.id]).fetchone() is not None
