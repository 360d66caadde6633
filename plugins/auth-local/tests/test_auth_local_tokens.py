from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rosetta_auth_local.accounts import sign_up
from rosetta_auth_local.tables import API_TOKENS
from rosetta_auth_local.testing import FakeClock
from rosetta_auth_local.tokens import (
    PREFIX,
    api_tokens,
    create_api_token,
    revoke_api_token,
    token_user,
)
from rosetta_core.errors import ConflictError, NotFoundError, ValidationError
from rosetta_core.kernel import Kernel
from rosetta_core.model import User

KernelMaker = Callable[..., Kernel]
PASSWORD = "correct horse battery"


def test_create_use_and_list(kernel: Kernel, fake_clock: FakeClock) -> None:
    user = sign_up(kernel, "ada", PASSWORD)
    token = create_api_token(kernel, user, "laptop script")
    assert token.startswith(PREFIX) and len(token) > 40
    (listed,) = api_tokens(kernel, user)
    assert listed.label == "laptop script" and listed.last_used is None
    assert listed.created_at == datetime.fromtimestamp(fake_clock.now, UTC)
    assert token not in repr(listed)
    fake_clock.advance(5)
    assert token_user(kernel, token) == user
    (listed,) = api_tokens(kernel, user)
    assert listed.last_used == datetime.fromtimestamp(fake_clock.now, UTC)


def test_store_keeps_only_a_digest(kernel: Kernel) -> None:
    token = create_api_token(kernel, sign_up(kernel, "ada", PASSWORD), "ci")
    stored = list(kernel.store.db.query(f"SELECT * FROM [{API_TOKENS}]"))
    assert token not in repr(stored) and token[len(PREFIX) :] not in repr(stored)


def test_revoked_by_owner_only(kernel: Kernel) -> None:
    ada = sign_up(kernel, "ada", PASSWORD)
    grace = sign_up(kernel, "grace", PASSWORD)
    token = create_api_token(kernel, ada, "ci")
    (listed,) = api_tokens(kernel, ada)
    with pytest.raises(NotFoundError, match="'grace' has no API token"):
        revoke_api_token(kernel, grace, listed.id)
    assert token_user(kernel, token) == ada
    revoke_api_token(kernel, ada, listed.id)
    assert token_user(kernel, token) is None
    assert api_tokens(kernel, ada) == []
    with pytest.raises(NotFoundError):
        revoke_api_token(kernel, ada, listed.id)
    with pytest.raises(NotFoundError):
        revoke_api_token(kernel, ada, None)  # type: ignore[arg-type]


def test_listing_is_per_user(kernel: Kernel) -> None:
    ada = sign_up(kernel, "ada", PASSWORD)
    grace = sign_up(kernel, "grace", PASSWORD)
    create_api_token(kernel, ada, "one")
    create_api_token(kernel, ada, "two")
    create_api_token(kernel, grace, "hers")
    assert [t.label for t in api_tokens(kernel, ada)] == ["one", "two"]
    assert [t.label for t in api_tokens(kernel, grace)] == ["hers"]


@pytest.mark.parametrize("label", ["", " padded", "x" * 101, "tab\there", "new\nline", 7, None])
def test_bad_labels(kernel: Kernel, label: Any) -> None:
    user = sign_up(kernel, "ada", PASSWORD)
    with pytest.raises(ValidationError, match=r"\$\.label"):
        create_api_token(kernel, user, label)
    assert api_tokens(kernel, user) == []


def test_at_most_max_api_tokens(make_kernel: KernelMaker) -> None:
    kernel = make_kernel(max_api_tokens=2)
    user = sign_up(kernel, "ada", PASSWORD)
    create_api_token(kernel, user, "one")
    create_api_token(kernel, user, "two")
    with pytest.raises(ConflictError, match="revoke one"):
        create_api_token(kernel, user, "three")


def test_deleted_user_tokens_stop_working(kernel: Kernel) -> None:
    user = sign_up(kernel, "ada", PASSWORD)
    token = create_api_token(kernel, user, "ci")
    kernel.store.delete(User, "ada")
    assert token_user(kernel, token) is None
    with pytest.raises(NotFoundError):
        create_api_token(kernel, user, "again")


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.one_of(st.text(max_size=300), st.none(), st.integers(), st.just(PREFIX)))
def test_hostile_tokens_are_nobody(kernel: Kernel, token: Any) -> None:
    assert token_user(kernel, token) is None
