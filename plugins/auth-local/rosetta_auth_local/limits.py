"""Rate limits on sign-in: failures per account and per client address, kept in the store.

Counts live in the store, not in memory, so every process of the platform (several web workers,
the command line) shares them and a restart does not reset them. Each attempt is counted as a
failure *before* the password is checked and forgiven when it succeeds: attempts made at the same
moment cannot slip past the limit together.

A limit is a sliding window: an account with ``account_failures`` failures in the last
``failure_window`` seconds is refused until the oldest of them ages out. A successful sign-in
clears the account's failures, not the address's (else one valid account would let an address go
on guessing others'). IPv6 clients count per /64, the block one subscriber usually holds.

Anyone can lock an account for one window by failing on purpose; the per-address limit and the
short window keep that cheap to live with, and admins can :func:`clear` it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
from typing import TYPE_CHECKING

import attrs
from sqlite_utils import Database

from rosetta_auth_local import clock
from rosetta_auth_local.errors import TooManyAttempts
from rosetta_auth_local.options import LocalAuthOptions
from rosetta_auth_local.tables import FAILURES

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel

log = logging.getLogger(__name__)

ACCOUNT = "account"
CLIENT = "client"


# longer "client" values are not addresses: callers cut them so they cannot bloat the keys' input
MAX_CLIENT = 256


@attrs.frozen
class Attempt:
    """A sign-in attempt counted as failed until :func:`succeeded` forgives it."""

    ids: tuple[int, ...]
    account_key: str | None


def account_key(name: str) -> str:
    """The key an account name is counted under (a digest: any string, bounded size)."""
    return hashlib.sha256(("account\x00" + name).encode("utf-8", "surrogatepass")).hexdigest()


def client_key(client: str) -> str:
    """The key a client address is counted under: IPv4 as is, IPv6 by /64, other text as given."""
    text = client.strip()
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            text = str(address.ipv4_mapped)
        elif isinstance(address, ipaddress.IPv6Address):
            text = str(ipaddress.IPv6Network((address, 64), strict=False))
        else:
            text = str(address)
    return hashlib.sha256(("client\x00" + text).encode("utf-8", "surrogatepass")).hexdigest()


def reserve(kernel: Kernel, *, account: str | None, client: str | None) -> Attempt:
    """Count one attempt as failed for ``account`` and ``client`` (``None``: not counted there).

    Raises :class:`~rosetta_auth_local.errors.TooManyAttempts` instead, counting nothing, when
    either is at its limit.
    """
    options = kernel.options(LocalAuthOptions)
    now = clock.now(kernel)
    keys: list[tuple[str, str, int]] = []
    if account is not None:
        keys.append((ACCOUNT, account_key(account), options.account_failures))
    if client is not None:
        keys.append((CLIENT, client_key(client), options.client_failures))
    with kernel.store.write() as db:
        db.execute(f"DELETE FROM [{FAILURES}] WHERE at <= ?", [now - options.failure_window])  # noqa: S608 - fixed names
        wait = 0.0
        for scope, key, limit in keys:
            times = [
                row[0]
                for row in db.execute(
                    f"SELECT at FROM [{FAILURES}] WHERE scope = ? AND key = ? ORDER BY at",  # noqa: S608 - fixed names
                    [scope, key],
                )
            ]
            if len(times) >= limit:
                # one more is allowed once all but limit-1 of them have aged out
                wait = max(wait, times[len(times) - limit] + options.failure_window - now)
                log.warning("sign-in refused: too many failures for one %s", scope)
        if wait > 0:
            raise TooManyAttempts(math.ceil(wait))
        ids = tuple(
            int(
                db.execute(
                    f"INSERT INTO [{FAILURES}] (scope, key, at) VALUES (?, ?, ?)",  # noqa: S608 - fixed names
                    [scope, key, now],
                ).lastrowid
                or 0
            )
            for scope, key, _ in keys
        )
    return Attempt(ids=ids, account_key=keys[0][1] if account is not None else None)


def succeeded(kernel: Kernel, attempt: Attempt) -> None:
    """Forgive ``attempt`` and clear the earlier failures of its account."""
    with kernel.store.write() as db:
        for row_id in attempt.ids:
            db.execute(f"DELETE FROM [{FAILURES}] WHERE id = ?", [row_id])  # noqa: S608 - fixed names
        if attempt.account_key is not None:
            _forget(db, ACCOUNT, attempt.account_key)


def failures(kernel: Kernel, *, account: str | None = None, client: str | None = None) -> int:
    """The failures counted now against ``account`` or else ``client``."""
    if account is not None:
        scope, key = ACCOUNT, account_key(account)
    else:
        scope, key = CLIENT, client_key(client or "")
    since = clock.now(kernel) - kernel.options(LocalAuthOptions).failure_window
    row = kernel.store.db.execute(
        f"SELECT COUNT(*) FROM [{FAILURES}] WHERE scope = ? AND key = ? AND at > ?",  # noqa: S608 - fixed names
        [scope, key, since],
    ).fetchone()
    return int(row[0])


def clear(kernel: Kernel, *, account: str | None = None, client: str | None = None) -> None:
    """Forget the failures of ``account`` and/or ``client`` (an admin unlocking them)."""
    with kernel.store.write() as db:
        if account is not None:
            _forget(db, ACCOUNT, account_key(account))
        if client is not None:
            _forget(db, CLIENT, client_key(client))


def _forget(db: Database, scope: str, key: str) -> None:
    db.execute(f"DELETE FROM [{FAILURES}] WHERE scope = ? AND key = ?", [scope, key])  # noqa: S608 - fixed names
