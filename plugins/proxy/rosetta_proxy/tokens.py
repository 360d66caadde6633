"""Signed tokens: the single-use link that opens a task, and the cookie that keeps it open.

Both are ``base64url(payload).base64url(hmac)``; the payload is a JSON array
``[kind, task_id, owner, expiry, nonce]``. The HMAC-SHA256 key is derived from the platform
secret with a purpose string, so these tokens cannot be confused with anything else the platform
signs, and a link cannot be used as a cookie (the kind is signed too).

A link is redeemed once: its nonce is remembered until it expires. A cookie is checked on every
request and may be used until it expires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable

import attrs

PURPOSE = b"rosetta-proxy/tokens/v1"
LINK = "link"
COOKIE = "cookie"
COOKIE_CACHE = 4096  # cookies remembered as checked

OPEN_PATH = "/_rosetta/open"
"""Where a single-use link is redeemed, under a task's route (or at a task subdomain's root)."""


@attrs.frozen
class Grant:
    """What a valid token says: ``owner`` may use the task ``task_id``."""

    task_id: str
    owner: str


def derive_key(secret: str) -> bytes:
    """The signing key of the proxy's tokens, derived from the platform secret."""
    return hmac.new(secret.encode(), PURPOSE, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tokens:
    """Mints and checks links and cookies. Safe from any thread.

    ``secret``: the platform secret, or a function returning it (called on first use).
    ``clock`` returns seconds since the epoch (tests move it). Checks return ``None`` for anything
    malformed, forged, expired, of the wrong kind or (links) already used; they never raise.
    """

    def __init__(
        self,
        secret: str | Callable[[], str],
        *,
        link_ttl: float = 60,
        cookie_ttl: float = 12 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._derived: bytes | None = None
        self.link_ttl, self.cookie_ttl = link_ttl, cookie_ttl
        self._clock = clock
        self._used: dict[str, float] = {}  # link nonce -> expiry
        # valid cookie value -> (grant, expiry): a signature and a JSON parse less per request
        self._cookies: dict[str, tuple[Grant, float]] = {}
        self._lock = threading.Lock()

    @property
    def _key(self) -> bytes:
        # derived on first use: the platform secret may be made on first use too
        if self._derived is None:
            self._derived = derive_key(self._secret if isinstance(self._secret, str) else self._secret())
        return self._derived

    # ---------------------------------------------------------------- minting

    def mint_link(self, task_id: str, owner: str) -> str:
        """A token that ``owner`` may exchange once, within ``link_ttl``, for a cookie of ``task_id``."""
        return self._mint(LINK, task_id, owner, self.link_ttl)

    def mint_cookie(self, task_id: str, owner: str) -> str:
        """A cookie value good for ``task_id`` and ``owner`` during ``cookie_ttl``."""
        return self._mint(COOKIE, task_id, owner, self.cookie_ttl)

    def _mint(self, kind: str, task_id: str, owner: str, ttl: float) -> str:
        expiry = int(self._clock() + ttl)
        payload = json.dumps([kind, task_id, owner, expiry, secrets.token_urlsafe(16)], separators=(",", ":"))
        body = _b64(payload.encode())
        return f"{body}.{self._sign(body)}"

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    # ---------------------------------------------------------------- checking

    def redeem_link(self, token: str) -> Grant | None:
        """The grant of a valid, unexpired, unused link, which is then used up."""
        checked = self._check(LINK, token)
        if checked is None:
            return None
        grant, expiry, nonce = checked
        now = self._clock()
        with self._lock:
            # forget used nonces that expired: their links are refused for expiry anyway
            for old in [n for n, exp in self._used.items() if exp < now]:
                del self._used[old]
            if nonce in self._used:
                return None
            self._used[nonce] = expiry
        return grant

    def check_cookie(self, token: str) -> Grant | None:
        """The grant of a valid, unexpired cookie value.

        Cookies checked once are remembered (a bounded number) with their expiry, which is checked
        again on every use: a cookie is valid until it expires, so the answer cannot change before.
        """
        known = self._cookies.get(token)
        if known is not None:
            return known[0] if known[1] >= self._clock() else None
        checked = self._check(COOKIE, token)
        if checked is None:
            return None
        if len(self._cookies) >= COOKIE_CACHE:
            self._cookies.clear()  # rare, and cheaper than tracking the least recently used
        self._cookies[token] = (checked[0], checked[1])
        return checked[0]

    def _check(self, kind: str, token: str) -> tuple[Grant, float, str] | None:
        body, dot, mac = token.partition(".")
        if not dot or len(token) > 4096:
            return None
        if not hmac.compare_digest(self._sign(body).encode(), mac.encode()):
            return None
        try:
            fields = json.loads(_unb64(body))
        except (ValueError, binascii.Error):
            return None
        if not (isinstance(fields, list) and len(fields) == 5):
            return None
        got_kind, task_id, owner, expiry, nonce = fields
        if got_kind != kind or not all(isinstance(f, str) for f in (task_id, owner, nonce)):
            return None
        if not isinstance(expiry, int) or expiry < self._clock():
            return None
        return Grant(task_id, owner), expiry, nonce
