"""Accounts: sign-up, accounts made by admins or scripts, the first admin, password changes.

A local account is a core user (:func:`rosetta_core.users.create_user`, which fires
``rosetta_user_created``) plus a row in this plugin's credentials table, made in one store
transaction: either both exist afterwards or neither does.

**The first user is admin**: an account made by :func:`sign_up` on a store that holds no user at
all gets ``is_admin = True``. The count and the creation share one transaction, so two
simultaneous first sign-ups cannot both become admin.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rosetta_auth_local import clock, limits, sessions
from rosetta_auth_local.errors import SignInFailed, SignUpRefused
from rosetta_auth_local.options import LocalAuthOptions
from rosetta_auth_local.passwords import generate_password, hasher_for, password_problems
from rosetta_auth_local.tables import CREDENTIALS, user_exists
from rosetta_core.errors import ConfigError, ConflictError, NotFoundError, ValidationError
from rosetta_core.model import User
from rosetta_core.users import create_user
from rosetta_core.validators import NAME_RE

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel

MAX_EMAIL = 254
EMAIL_RE = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,189}$")
MAX_INVITATION = 1024


def sign_up(
    kernel: Kernel,
    name: str,
    password: str,
    *,
    email: str = "",
    invitation: str | None = None,
    client: str | None = None,
) -> User:
    """Make a local account for anyone who asks (the web front's sign-up form).

    Needs ``open_sign_up`` and, when ``invitation_file`` is set, that code as ``invitation``
    (compared in constant time); otherwise raises :class:`~rosetta_auth_local.errors.SignUpRefused`.
    A wrong code counts as a failed sign-in of ``client`` (the address the request comes from), so
    codes cannot be guessed faster than passwords: over the limit,
    :class:`~rosetta_auth_local.errors.TooManyAttempts` is raised before the code is looked at.
    The first user of a store becomes admin. Bad input raises
    :class:`~rosetta_core.errors.ValidationError` (every problem listed), a taken name
    :class:`~rosetta_core.errors.ConflictError`; either way nothing is stored.
    """
    options = kernel.options(LocalAuthOptions)
    _check_account_input(name, password, email)
    if not options.open_sign_up:
        raise SignUpRefused("sign-up is closed on this site: ask an administrator for an account")
    if options.invitation_path:
        client_text = client[: limits.MAX_CLIENT] if isinstance(client, str) else None
        attempt = limits.reserve(kernel, account=None, client=client_text)
        _check_invitation(options, invitation)  # a refusal leaves the attempt counted
        limits.succeeded(kernel, attempt)
    return _create(kernel, name, password, email=email, is_admin=None)


def create_account(
    kernel: Kernel, name: str, password: str, *, email: str = "", is_admin: bool = False
) -> User:
    """Make a local account without sign-up's checks (for admins and scripts).

    Errors as :func:`sign_up`'s, less :class:`~rosetta_auth_local.errors.SignUpRefused`.
    """
    _check_account_input(name, password, email)
    if not isinstance(is_admin, bool):
        raise ValidationError("account", [f"$.is_admin: must be bool, not {type(is_admin).__name__}"])
    return _create(kernel, name, password, email=email, is_admin=is_admin)


def create_admin(kernel: Kernel, name: str, *, email: str = "") -> tuple[User, str]:
    """Make an admin account with a generated password, when no admin has a local password yet.

    Returns the user and the password, which is stored nowhere else: show it once. Raises
    :class:`~rosetta_core.errors.ConflictError` when an admin with a local password exists already
    (the site has been set up) or ``name`` is taken.
    """
    password = generate_password()
    _check_account_input(name, password, email)
    stored = hasher_for(kernel.options(LocalAuthOptions)).hash(password)
    with kernel.store.write():
        if has_admin(kernel):
            raise ConflictError("an administrator with a local password exists already")
        user = _insert(kernel, name, stored, email=email, is_admin=True)
    return user, password


def has_admin(kernel: Kernel) -> bool:
    """Whether some admin has a local password (and so can sign in)."""
    row = kernel.store.db.execute(
        f"SELECT 1 FROM [{CREDENTIALS}] c JOIN users u ON u.id = c.user_id WHERE u.is_admin LIMIT 1"  # noqa: S608 - fixed names
    ).fetchone()
    return row is not None


def has_password(kernel: Kernel, user: User) -> bool:
    """Whether ``user`` has a local password."""
    return _stored_hash(kernel, user) is not None


def change_password(
    kernel: Kernel, user: User, old_password: str, new_password: str, *, keep_session: str | None = None
) -> None:
    """Replace ``user``'s password after checking the old one, and end the user's other sessions.

    Every session but ``keep_session`` (the session token the change was made from) ends; API
    tokens stay valid. A wrong old password raises :class:`~rosetta_auth_local.errors.SignInFailed`
    and counts as a failed sign-in of the account (so it is rate-limited as sign-in is:
    :class:`~rosetta_auth_local.errors.TooManyAttempts`); a refused new password raises
    :class:`~rosetta_core.errors.ValidationError`. Either way nothing changes.
    """
    problems = password_problems(new_password, field="new_password", name=user.name)
    if problems:
        raise ValidationError("password", problems)
    options = kernel.options(LocalAuthOptions)
    hasher = hasher_for(options)
    stored = _stored_hash(kernel, user)
    attempt = limits.reserve(kernel, account=user.name, client=None)
    if stored is None:
        hasher.verify_dummy(old_password)
        raise SignInFailed()
    if not hasher.verify(stored, old_password):
        raise SignInFailed()
    limits.succeeded(kernel, attempt)
    _replace_hash(kernel, user, hasher.hash(new_password), keep_session=keep_session)


def set_password(kernel: Kernel, user: User, new_password: str) -> None:
    """Give ``user`` a new password without the old one (an admin's reset); ends all its sessions.

    Works for a core user that had no local password yet. Raises
    :class:`~rosetta_core.errors.ValidationError` for a refused password and
    :class:`~rosetta_core.errors.NotFoundError` for a user no longer stored.
    """
    problems = password_problems(new_password, field="new_password", name=user.name)
    if problems:
        raise ValidationError("password", problems)
    _replace_hash(kernel, user, hasher_for(kernel.options(LocalAuthOptions)).hash(new_password))


# ---------------------------------------------------------------- inside


def _check_account_input(name: Any, password: Any, email: Any) -> None:
    problems: list[str] = []
    if not isinstance(name, str):
        problems.append(f"$.name: must be a string, not {type(name).__name__}")
    elif not NAME_RE.fullmatch(name):
        problems.append(
            f"$.name: {name[:80]!r} must be 1-63 characters of letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if not isinstance(email, str):
        problems.append(f"$.email: must be a string, not {type(email).__name__}")
    elif email and (len(email) > MAX_EMAIL or not EMAIL_RE.fullmatch(email)):
        problems.append(f"$.email: must be an address such as ada@example.org, at most {MAX_EMAIL} long")
    problems.extend(password_problems(password, name=name if isinstance(name, str) else None))
    if problems:
        raise ValidationError("account", problems)


def _check_invitation(options: LocalAuthOptions, invitation: Any) -> None:
    path = options.invitation_path
    if not path:
        return
    try:
        expected = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"the invitation file {path} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"the invitation file {path} is not UTF-8 text") from None
    if not expected:
        # an empty code would let everyone in: refuse rather than guess what was meant
        raise ConfigError(f"the invitation file {path} is empty")
    given = invitation.strip() if isinstance(invitation, str) and len(invitation) <= MAX_INVITATION else ""
    # digests first: compare_digest is constant-time only for inputs of equal length
    same = hmac.compare_digest(
        hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest(),
        hashlib.sha256(expected.encode("utf-8")).digest(),
    )
    if not given or not same:
        raise SignUpRefused("sign-up needs a valid invitation code")


def _create(kernel: Kernel, name: str, password: str, *, email: str, is_admin: bool | None) -> User:
    # hash before the transaction: other writers need not wait for argon2
    stored = hasher_for(kernel.options(LocalAuthOptions)).hash(password)
    with kernel.store.write() as db:
        if is_admin is None:
            is_admin = db.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0
        return _insert(kernel, name, stored, email=email, is_admin=is_admin)


def _insert(kernel: Kernel, name: str, stored: str, *, email: str, is_admin: bool) -> User:
    """Inside the caller's transaction: the core user (hooks fire) and its credential."""
    user = create_user(kernel, name, email=email, is_admin=is_admin)
    kernel.store.db.table(CREDENTIALS).insert(
        {"user_id": user.id, "password_hash": stored, "changed_at": clock.now(kernel)}
    )
    return user


def _stored_hash(kernel: Kernel, user: User) -> str | None:
    row = kernel.store.db.execute(
        f"SELECT c.password_hash FROM [{CREDENTIALS}] c JOIN users u ON u.id = c.user_id "  # noqa: S608 - fixed names
        "WHERE u.id = ?",
        [user.id],
    ).fetchone()
    return None if row is None else str(row[0])


def _replace_hash(kernel: Kernel, user: User, stored: str, *, keep_session: str | None = None) -> None:
    with kernel.store.write() as db:
        if not user_exists(db, user):
            raise NotFoundError(f"no user named {user.name!r}")
        db.table(CREDENTIALS).upsert(
            {"user_id": user.id, "password_hash": stored, "changed_at": clock.now(kernel)}, pk="user_id"
        )
        sessions.end_sessions(kernel, user, keep=keep_session)


def stored_hash(kernel: Kernel, user: User) -> str | None:
    """``user``'s argon2id hash, or ``None`` when the user has no local password."""
    return _stored_hash(kernel, user)


def rehash(kernel: Kernel, user: User, old: str, new: str) -> None:
    """Replace ``user``'s hash ``old`` by ``new`` (same password, current parameters).

    Does nothing when the password was changed meanwhile.
    """
    with kernel.store.write() as db:
        db.execute(
            f"UPDATE [{CREDENTIALS}] SET password_hash = ? WHERE user_id = ? AND password_hash = ?",  # noqa: S608 - fixed names
            [new, user.id, old],
        )
