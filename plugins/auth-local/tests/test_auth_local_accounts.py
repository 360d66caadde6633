from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rosetta_auth_local import accounts
from rosetta_auth_local.accounts import (
    change_password,
    create_account,
    create_admin,
    has_admin,
    has_password,
    set_password,
    sign_up,
)
from rosetta_auth_local.errors import SignInFailed, SignUpRefused, TooManyAttempts
from rosetta_auth_local.sessions import session_user, start_session
from rosetta_auth_local.signin import sign_in
from rosetta_auth_local.tables import CREDENTIALS
from rosetta_auth_local.testing import FAST_ARGON2
from rosetta_core import hookimpl
from rosetta_core.errors import ConfigError, ConflictError, NotFoundError, ValidationError
from rosetta_core.kernel import Kernel
from rosetta_core.model import User

KernelMaker = Callable[..., Kernel]
PASSWORD = "correct horse battery"


def snapshot(kernel: Kernel) -> tuple[list[Any], list[Any]]:
    db = kernel.store.db
    return list(db.execute("SELECT * FROM users ORDER BY id")), list(
        db.execute(f"SELECT * FROM [{CREDENTIALS}] ORDER BY user_id")
    )


def test_first_user_is_admin_later_ones_are_not(kernel: Kernel) -> None:
    first = sign_up(kernel, "ada", PASSWORD, email="ada@example.org")
    second = sign_up(kernel, "grace", PASSWORD)
    assert first.is_admin and not second.is_admin
    assert kernel.store.get(User, "ada").email == "ada@example.org"
    assert has_password(kernel, first) and has_admin(kernel)


def test_first_sign_up_is_not_admin_when_users_exist(kernel: Kernel) -> None:
    from rosetta_core.users import create_user

    create_user(kernel, "cli-made")
    assert not sign_up(kernel, "ada", PASSWORD).is_admin


def test_sign_up_fires_the_user_created_hook(make_kernel: KernelMaker, rosetta_kernel_factory: Any) -> None:
    seen: list[str] = []

    class Watcher:
        rosetta_plugin_name = "watcher"

        @hookimpl
        def rosetta_user_created(self, user: User, kernel: Kernel) -> None:
            seen.append(user.name)

    import rosetta_auth_local.plugin

    kernel = rosetta_kernel_factory(
        {"auth-local": rosetta_auth_local.plugin, "watcher": Watcher()},
        plugin_options={"auth-local": FAST_ARGON2},
    )
    sign_up(kernel, "ada", PASSWORD)
    assert seen == ["ada"]


def test_failing_hook_leaves_nothing(rosetta_kernel_factory: Any) -> None:
    class Broken:
        rosetta_plugin_name = "broken"

        @hookimpl
        def rosetta_user_created(self, user: User, kernel: Kernel) -> None:
            raise RuntimeError("no home for you")

    import rosetta_auth_local.plugin

    kernel = rosetta_kernel_factory(
        {"auth-local": rosetta_auth_local.plugin, "broken": Broken()},
        plugin_options={"auth-local": FAST_ARGON2},
    )
    with pytest.raises(RuntimeError, match="no home"):
        sign_up(kernel, "ada", PASSWORD)
    assert snapshot(kernel) == ([], [])


def test_taken_name_is_a_conflict_and_keeps_the_old_password(kernel: Kernel) -> None:
    sign_up(kernel, "ada", PASSWORD)
    before = snapshot(kernel)
    with pytest.raises(ConflictError, match="'ada' already exists"):
        sign_up(kernel, "ada", "another long password")
    assert snapshot(kernel) == before
    assert sign_in(kernel, "ada", PASSWORD).name == "ada"


@pytest.mark.parametrize(
    ("name", "password", "email", "problem"),
    [
        ("ada; rm -rf /", PASSWORD, "", "$.name:"),
        ("$(reboot)", PASSWORD, "", "$.name:"),
        ("-ada", PASSWORD, "", "$.name:"),
        ("a" * 64, PASSWORD, "", "$.name:"),
        ("ada", PASSWORD, "not an address", "$.email:"),
        ("ada", PASSWORD, "a@" + "b" * 300, "$.email:"),
        ("ada", PASSWORD, "ada@example.org\n", "$.email:"),
        ("ada", "short", "", "$.password:"),
        ("ada", "x" * 100_000, "", "$.password:"),
        (42, PASSWORD, "", "$.name: must be a string, not int"),
        ("ada", None, "", "$.password: must be a string, not NoneType"),
        ("ada", PASSWORD, ["x"], "$.email: must be a string, not list"),
    ],
)
def test_bad_input_is_refused_clearly(
    kernel: Kernel, name: Any, password: Any, email: Any, problem: str
) -> None:
    with pytest.raises(ValidationError) as info:
        sign_up(kernel, name, password, email=email)
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems
    assert snapshot(kernel) == ([], [])


def test_every_problem_is_listed(kernel: Kernel) -> None:
    with pytest.raises(ValidationError) as info:
        sign_up(kernel, "bad name", "short", email="nope")
    assert [p.split(":")[0] for p in info.value.problems] == ["$.name", "$.email", "$.password"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.one_of(st.text(max_size=80), st.integers(), st.none(), st.binary(max_size=10)),
    password=st.one_of(st.text(max_size=30), st.binary(max_size=10), st.none(), st.floats()),
    email=st.one_of(st.text(max_size=30), st.none(), st.integers()),
    invitation=st.one_of(st.none(), st.text(max_size=20), st.integers()),
)
def test_hostile_input_changes_nothing(
    make_kernel: KernelMaker, tmp_path: Path, name: Any, password: Any, email: Any, invitation: Any
) -> None:
    code = tmp_path / "invitation"
    code.write_text("open sesame\n")
    kernel = make_kernel(invitation_file=str(code))
    before = snapshot(kernel)
    try:
        sign_up(kernel, name, password, email=email, invitation=invitation)
    except (ValidationError, SignUpRefused):
        assert snapshot(kernel) == before
    else:  # pragma: no cover - hypothesis would need to guess the code
        raise AssertionError("signed up without the invitation code")


def test_invitation_code(make_kernel: KernelMaker, tmp_path: Path) -> None:
    code = tmp_path / "invitation"
    code.write_text("open sesame\n")
    kernel = make_kernel(invitation_file=str(code))
    for wrong in (None, "", "open sesam", "open sesame!", 7):
        with pytest.raises(SignUpRefused, match="needs a valid invitation code"):
            sign_up(kernel, "ada", PASSWORD, invitation=wrong)  # type: ignore[arg-type]
    assert snapshot(kernel) == ([], [])
    assert sign_up(kernel, "ada", PASSWORD, invitation="open sesame").is_admin
    code.write_text("changed\n")
    with pytest.raises(SignUpRefused):
        sign_up(kernel, "grace", PASSWORD, invitation="open sesame")


def test_invitation_codes_cannot_be_guessed_faster_than_passwords(
    make_kernel: KernelMaker, tmp_path: Path
) -> None:
    code = tmp_path / "invitation"
    code.write_text("open sesame\n")
    kernel = make_kernel(invitation_file=str(code), client_failures=3)
    for guess in ("a", "b", "c"):
        with pytest.raises(SignUpRefused):
            sign_up(kernel, "ada", PASSWORD, invitation=guess, client="10.0.0.9")
    with pytest.raises(TooManyAttempts):  # even the right code: the address is over its limit
        sign_up(kernel, "ada", PASSWORD, invitation="open sesame", client="10.0.0.9")
    assert snapshot(kernel) == ([], [])
    # another address is not held back, and a right code leaves nothing counted
    assert sign_up(kernel, "ada", PASSWORD, invitation="open sesame", client="10.0.1.9").name == "ada"
    assert sign_up(kernel, "bob", PASSWORD, invitation="open sesame", client="10.0.1.9").name == "bob"


@pytest.mark.parametrize("content", [None, "", "   \n"])
def test_missing_or_empty_invitation_file_is_a_config_error(
    make_kernel: KernelMaker, tmp_path: Path, content: str | None
) -> None:
    code = tmp_path / "invitation"
    if content is not None:
        code.write_text(content)
    kernel = make_kernel(invitation_file=str(code))
    with pytest.raises(ConfigError, match="invitation file"):
        sign_up(kernel, "ada", PASSWORD, invitation="")
    assert snapshot(kernel) == ([], [])


def test_closed_sign_up_leaves_create_account(make_kernel: KernelMaker) -> None:
    kernel = make_kernel(open_sign_up=False)
    with pytest.raises(SignUpRefused, match="closed"):
        sign_up(kernel, "ada", PASSWORD)
    user = create_account(kernel, "ada", PASSWORD, is_admin=True)
    assert user.is_admin
    assert not create_account(kernel, "grace", PASSWORD).is_admin
    with pytest.raises(ValidationError, match="is_admin"):
        create_account(kernel, "linus", PASSWORD, is_admin=1)  # type: ignore[arg-type]


def test_create_admin_once(kernel: Kernel) -> None:
    assert not has_admin(kernel)
    user, password = create_admin(kernel, "admin")
    assert user.is_admin
    assert sign_in(kernel, "admin", password).name == "admin"
    with pytest.raises(ConflictError, match="exists already"):
        create_admin(kernel, "admin2")
    with pytest.raises(ValidationError):
        create_admin(kernel, "bad name")


def test_change_password_ends_other_sessions(kernel: Kernel) -> None:
    user = sign_up(kernel, "ada", PASSWORD)
    here, _ = start_session(kernel, user)
    elsewhere, _ = start_session(kernel, user)
    change_password(kernel, user, PASSWORD, "a new long password", keep_session=here)
    assert session_user(kernel, here) == user
    assert session_user(kernel, elsewhere) is None
    with pytest.raises(SignInFailed):
        sign_in(kernel, "ada", PASSWORD)
    assert sign_in(kernel, "ada", "a new long password") == user


def test_change_password_with_wrong_old_one_changes_nothing(kernel: Kernel) -> None:
    user = sign_up(kernel, "ada", PASSWORD)
    session, _ = start_session(kernel, user)
    before = snapshot(kernel)
    with pytest.raises(SignInFailed):
        change_password(kernel, user, "not the password", "a new long password")
    with pytest.raises(ValidationError, match="new_password"):
        change_password(kernel, user, PASSWORD, "short")
    assert snapshot(kernel) == before
    assert session_user(kernel, session) == user


def test_change_password_is_rate_limited(make_kernel: KernelMaker) -> None:
    kernel = make_kernel(account_failures=2)
    user = sign_up(kernel, "ada", PASSWORD)
    for _ in range(2):
        with pytest.raises(SignInFailed):
            change_password(kernel, user, "wrong password", "a new long password")
    with pytest.raises(TooManyAttempts):
        change_password(kernel, user, PASSWORD, "a new long password")


def test_set_password_ends_every_session(kernel: Kernel) -> None:
    user = sign_up(kernel, "ada", PASSWORD)
    session, _ = start_session(kernel, user)
    set_password(kernel, user, "reset by an admin")
    assert session_user(kernel, session) is None
    assert sign_in(kernel, "ada", "reset by an admin") == user


def test_set_password_for_a_user_without_one_and_for_a_gone_user(kernel: Kernel) -> None:
    from rosetta_core.users import create_user

    user = create_user(kernel, "cli-made")
    assert not has_password(kernel, user)
    set_password(kernel, user, "first password")
    assert sign_in(kernel, "cli-made", "first password") == user
    kernel.store.delete(User, "cli-made")
    with pytest.raises(NotFoundError):
        set_password(kernel, user, "another password")


def test_deleted_user_leaves_no_way_in_for_a_new_user_of_that_name(kernel: Kernel) -> None:
    user = sign_up(kernel, "ada", PASSWORD)
    kernel.store.delete(User, "ada")
    with pytest.raises(SignInFailed):
        sign_in(kernel, "ada", PASSWORD)
    from rosetta_core.users import create_user

    again = create_user(kernel, "ada")
    assert again.id != user.id and not has_password(kernel, again)
    with pytest.raises(SignInFailed):
        sign_in(kernel, "ada", PASSWORD)


def test_stored_hash_is_argon2id_and_never_the_password(kernel: Kernel) -> None:
    user = sign_up(kernel, "ada", PASSWORD)
    stored = accounts.stored_hash(kernel, user)
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored
