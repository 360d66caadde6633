"""Who is asking: a session cookie (the pages) or an API token (scripts), and CSRF checks.

A request carries either ``Authorization: Bearer rst_...`` (an API token; no CSRF check: a
browser never adds it by itself; another scheme is ignored) or the session cookie
``rosetta_session`` (HttpOnly, SameSite=Lax, Secure when the site says so). A state-changing
request authenticated by the cookie must also carry the session's CSRF token, as the form field
``csrf`` or the header ``X-CSRF-Token``. Sessions, tokens and CSRF tokens are :mod:`rosetta_auth_local`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
from starlette.requests import Request
from starlette.responses import Response

from rosetta_auth_local import check_csrf, csrf_token, session_user, token_user
from rosetta_core.model import User
from rosetta_web.errors import CsrfFailed, Unauthorized

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel
    from rosetta_web.options import WebOptions

SESSION_COOKIE = "rosetta_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_CREDENTIAL = 512


@attrs.frozen
class Identity:
    """A signed-in user; ``session`` is the session token when the cookie authenticated them."""

    user: User
    session: str | None = attrs.field(default=None, repr=False)

    def csrf(self, kernel: Kernel) -> str:
        """The CSRF token forms of this session carry (empty for token-authenticated requests)."""
        return csrf_token(kernel, self.session) if self.session else ""


def kernel_of(request: Request) -> Kernel:
    kernel: Kernel = request.app.state.kernel
    return kernel


def identify(request: Request) -> Identity | None:
    """The identity the request's API token or session cookie proves, or ``None``. Blocking."""
    kernel = kernel_of(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    # another scheme (Basic, from a front's own sign-in) leaves the session cookie to decide
    if scheme.lower() == "bearer":
        token = token.strip()
        if not token or len(token) > MAX_CREDENTIAL:
            return None
        user = token_user(kernel, token)
        return Identity(user) if user is not None else None
    session = request.cookies.get(SESSION_COOKIE, "")
    if not session or len(session) > MAX_CREDENTIAL:
        return None
    user = session_user(kernel, session)
    return Identity(user, session) if user is not None else None


def require(request: Request, form: Mapping[str, Any] | None = None) -> Identity:
    """The request's identity; raises :class:`Unauthorized` without one, and :class:`CsrfFailed`
    for a state-changing, cookie-authenticated request without the session's CSRF token (taken
    from ``form`` or the ``X-CSRF-Token`` header)."""
    identity = identify(request)
    if identity is None:
        raise Unauthorized("sign in first (a session cookie or an API token)")
    if identity.session is not None and request.method not in SAFE_METHODS:
        submitted = request.headers.get(CSRF_HEADER) or (form or {}).get(CSRF_FIELD) or ""
        if not isinstance(submitted, str) or not check_csrf(kernel_of(request), identity.session, submitted):
            raise CsrfFailed("the form is out of date or not from this site: reload the page and try again")
    return identity


def set_session_cookie(response: Response, token: str, *, secure: bool) -> None:
    """Give the browser the session cookie (the store decides its lifetime)."""
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=secure, path="/")


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=secure, path="/")


def options_of(request: Request) -> WebOptions:
    options: WebOptions = request.app.state.options
    return options
