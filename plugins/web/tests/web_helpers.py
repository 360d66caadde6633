"""Helpers of the web front's tests (the fixtures are in ``conftest.py``)."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from rosetta_auth_local import sign_up as sign_up_user
from rosetta_auth_local import start_session
from rosetta_core.kernel import Kernel
from rosetta_web.auth import SESSION_COOKIE

PASSWORD = "correct horse battery"


def sign_up(client: TestClient, name: str) -> str:
    """Sign ``name`` up (password :data:`PASSWORD`) and give ``client`` their session; returns
    the CSRF token their forms carry."""
    kernel: Kernel = client.app.state.kernel  # type: ignore[attr-defined]
    user = sign_up_user(kernel, name, PASSWORD)
    session, csrf = start_session(kernel, user)
    client.cookies.set(SESSION_COOKIE, session)
    return csrf


def csrf_of(html: str) -> str:
    """The CSRF token in a page's forms."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)
