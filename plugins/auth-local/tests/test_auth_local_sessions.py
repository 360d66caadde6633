from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rosetta_auth_local.accounts import sign_up
from rosetta_auth_local.sessions import (
    TOUCH_INTERVAL,
    check_csrf,
    csrf_token,
    end_session,
    end_sessions,
    session_user,
    start_session,
)
from rosetta_auth_local.tables import SESSIONS, digest
from rosetta_auth_local.testing import FakeClock
from rosetta_core.errors import NotFoundError
from rosetta_core.kernel import Kernel
from rosetta_core.model import User

KernelMaker = Callable[..., Kernel]
PASSWORD = "correct horse battery"


def rows(kernel: Kernel) -> list[dict[str, Any]]:
    return list(kernel.store.db.query(f"SELECT * FROM [{SESSIONS}]"))


def test_start_and_use(kernel: Kernel) -> None:
    user = sign_up(kernel, "ada", PASSWORD)
    token, csrf = start_session(kernel, user)
    assert session_user(kernel, token) == user
    assert csrf == csrf_token(kernel, token)
    assert len(token) >= 43 and token != csrf


def test_store_keeps_only_a_digest(kernel: Kernel) -> None:
    token, _ = start_session(kernel, sign_up(kernel, "ada", PASSWORD))
    (row,) = rows(kernel)
    assert row["token_hash"] == digest(token)
    assert token not in repr(row)


def test_idle_expiry_and_use_keeps_alive(make_kernel: KernelMaker, fake_clock: FakeClock) -> None:
    kernel = make_kernel(session_idle=600, session_lifetime=3600)
    token, _ = start_session(kernel, sign_up(kernel, "ada", PASSWORD))
    fake_clock.advance(500)
    assert session_user(kernel, token) is not None  # used: idle counts from now
    fake_clock.advance(500)
    assert session_user(kernel, token) is not None
    fake_clock.advance(600)
    assert session_user(kernel, token) is None
    assert rows(kernel) == []  # an expired session found is dropped


def test_absolute_lifetime(make_kernel: KernelMaker, fake_clock: FakeClock) -> None:
    kernel = make_kernel(session_idle=600, session_lifetime=1200)
    token, _ = start_session(kernel, sign_up(kernel, "ada", PASSWORD))
    for _ in range(3):
        fake_clock.advance(400)
        alive = session_user(kernel, token)
    assert alive is None


def test_last_seen_is_written_at_most_once_a_minute(kernel: Kernel, fake_clock: FakeClock) -> None:
    token, _ = start_session(kernel, sign_up(kernel, "ada", PASSWORD))
    start = rows(kernel)[0]["last_seen"]
    fake_clock.advance(TOUCH_INTERVAL - 1)
    session_user(kernel, token)
    assert rows(kernel)[0]["last_seen"] == start
    fake_clock.advance(1)
    session_user(kernel, token)
    assert rows(kernel)[0]["last_seen"] == start + TOUCH_INTERVAL


def test_sign_out_revokes(kernel: Kernel) -> None:
    user = sign_up(kernel, "ada", PASSWORD)
    token, csrf = start_session(kernel, user)
    other, _ = start_session(kernel, user)
    end_session(kernel, token)
    end_session(kernel, token)  # twice is fine
    assert session_user(kernel, token) is None
    assert not check_csrf(kernel, token, csrf)
    assert session_user(kernel, other) == user


def test_end_all_sessions_of_a_user(kernel: Kernel) -> None:
    ada = sign_up(kernel, "ada", PASSWORD)
    grace = sign_up(kernel, "grace", PASSWORD)
    tokens = [start_session(kernel, ada)[0] for _ in range(3)]
    hers, _ = start_session(kernel, grace)
    assert end_sessions(kernel, ada, keep=tokens[0]) == 2
    assert session_user(kernel, tokens[0]) == ada
    assert end_sessions(kernel, ada) == 1
    assert all(session_user(kernel, t) is None for t in tokens)
    assert session_user(kernel, hers) == grace


def test_deleted_user_has_no_session(kernel: Kernel) -> None:
    user = sign_up(kernel, "ada", PASSWORD)
    token, _ = start_session(kernel, user)
    kernel.store.delete(User, "ada")
    assert session_user(kernel, token) is None
    with pytest.raises(NotFoundError):
        start_session(kernel, user)


def test_session_reads_the_current_admin_flag(kernel: Kernel) -> None:
    sign_up(kernel, "ada", PASSWORD)
    grace = sign_up(kernel, "grace", PASSWORD)
    token, _ = start_session(kernel, grace)
    with kernel.store.write() as db:
        db.execute("UPDATE users SET is_admin = 1 WHERE name = 'grace'")
    user = session_user(kernel, token)
    assert user is not None and user.is_admin


def test_csrf_mismatch(kernel: Kernel) -> None:
    user = sign_up(kernel, "ada", PASSWORD)
    token, csrf = start_session(kernel, user)
    other, other_csrf = start_session(kernel, user)
    assert check_csrf(kernel, token, csrf)
    assert not check_csrf(kernel, token, other_csrf)  # bound to its session
    assert not check_csrf(kernel, other, csrf)
    assert not check_csrf(kernel, token, csrf[:-1])
    assert not check_csrf(kernel, token, "")
    assert not check_csrf(kernel, token, "é" * 64)
    assert not check_csrf(kernel, token, None)  # type: ignore[arg-type]
    assert not check_csrf(kernel, "not a session", csrf_token(kernel, "not a session"))


def test_csrf_depends_on_the_platform_secret(make_kernel: KernelMaker, tmp_path: Any) -> None:
    kernel = make_kernel()
    token, csrf = start_session(kernel, sign_up(kernel, "ada", PASSWORD))
    kernel._secret = "0" * 64  # another platform instance
    assert csrf_token(kernel, token) != csrf
    assert not check_csrf(kernel, token, csrf)


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.one_of(st.text(max_size=300), st.none(), st.integers(), st.binary(max_size=20)))
def test_hostile_tokens_are_no_session(kernel: Kernel, token: Any) -> None:
    assert session_user(kernel, token) is None
    assert not check_csrf(kernel, token, "x")
    end_session(kernel, token)
