from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rosetta_auth_local.accounts import sign_up, stored_hash
from rosetta_auth_local.clock import use_clock
from rosetta_auth_local.errors import SignInFailed, TooManyAttempts
from rosetta_auth_local.limits import failures
from rosetta_auth_local.passwords import Hasher
from rosetta_auth_local.signin import sign_in
from rosetta_auth_local.testing import FakeClock
from rosetta_core.kernel import Kernel

KernelMaker = Callable[..., Kernel]
PASSWORD = "correct horse battery"


def test_right_credentials(kernel: Kernel) -> None:
    user = sign_up(kernel, "ada", PASSWORD)
    assert sign_in(kernel, "ada", PASSWORD) == user


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("ada", "wrong password"),
        ("nobody", PASSWORD),
        ("nobody", "wrong password"),
        ("Ada", PASSWORD),
        ("bad name; rm", PASSWORD),
        (None, PASSWORD),
        ("ada", None),
        ("ada", "x" * 100_000),
        ("x" * 100_000, PASSWORD),
        ("ada", ""),
    ],
)
def test_one_message_for_every_wrong_credential(kernel: Kernel, name: Any, password: Any) -> None:
    sign_up(kernel, "ada", PASSWORD)
    with pytest.raises(SignInFailed) as info:
        sign_in(kernel, name, password)
    assert str(info.value) == "wrong user name or password"


def test_unknown_user_costs_a_verification(kernel: Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    # timing made observable without measuring it: an unknown name still runs argon2 once
    sign_up(kernel, "ada", PASSWORD)
    calls: list[str] = []
    real_verify = Hasher.verify

    def counting(self: Hasher, stored: str, password: str) -> bool:
        calls.append(stored[:9])
        return real_verify(self, stored, password)

    monkeypatch.setattr(Hasher, "verify", counting)
    for name in ("ada", "nobody", "bad name"):
        with pytest.raises(SignInFailed):
            sign_in(kernel, name, "wrong password")
    assert calls == ["$argon2id"] * 3


def test_rate_limit_kicks_in_and_expires(make_kernel: KernelMaker, fake_clock: FakeClock) -> None:
    kernel = make_kernel(account_failures=5, failure_window=900)
    sign_up(kernel, "ada", PASSWORD)
    for _ in range(5):
        with pytest.raises(SignInFailed):
            sign_in(kernel, "ada", "wrong password")
    with pytest.raises(TooManyAttempts, match=r"too many failed sign-in attempts, retry in 900 s"):
        sign_in(kernel, "ada", PASSWORD)  # even the right password is not checked
    fake_clock.advance(899)
    with pytest.raises(TooManyAttempts, match="retry in 1 s"):
        sign_in(kernel, "ada", PASSWORD)
    fake_clock.advance(1)
    assert sign_in(kernel, "ada", PASSWORD).name == "ada"
    assert failures(kernel, account="ada") == 0


def test_unknown_names_are_limited_too(make_kernel: KernelMaker) -> None:
    kernel = make_kernel(account_failures=2)
    for _ in range(2):
        with pytest.raises(SignInFailed):
            sign_in(kernel, "nobody", PASSWORD)
    with pytest.raises(TooManyAttempts):
        sign_in(kernel, "nobody", PASSWORD)


def test_client_limit(make_kernel: KernelMaker) -> None:
    kernel = make_kernel(client_failures=3)
    sign_up(kernel, "ada", PASSWORD)
    for name in ("a", "b", "bad name"):
        with pytest.raises(SignInFailed):
            sign_in(kernel, name, PASSWORD, client="198.51.100.4")
    with pytest.raises(TooManyAttempts):
        sign_in(kernel, "ada", PASSWORD, client="198.51.100.4")
    assert sign_in(kernel, "ada", PASSWORD, client="198.51.100.5").name == "ada"


def test_outdated_hash_is_replaced_at_sign_in(make_kernel: KernelMaker) -> None:
    old = make_kernel()
    user = sign_up(old, "ada", PASSWORD)
    before = stored_hash(old, user)
    assert before is not None and "t=1," in before
    stronger = make_kernel(argon2_time_cost=2)
    sign_in(stronger, "ada", PASSWORD)
    after = stored_hash(stronger, user)
    assert after is not None and "t=2," in after
    sign_in(stronger, "ada", PASSWORD)
    assert stored_hash(stronger, user) == after
    assert sign_in(old, "ada", PASSWORD) == user  # the old parameters still verify the new hash


CHILD = textwrap.dedent(
    """
    import json, sys
    import rosetta_auth_local.plugin
    from rosetta_auth_local.errors import SignInFailed, TooManyAttempts
    from rosetta_auth_local.signin import sign_in
    from rosetta_auth_local.testing import FAST_ARGON2
    from rosetta_core.config import parse_config
    from rosetta_core.kernel import create_kernel

    store, base, tries = sys.argv[1], sys.argv[2], int(sys.argv[3])
    options = {**FAST_ARGON2, "account_failures": 5}
    config = parse_config({"rosetta": {"store": store}, "plugin": {"auth-local": options}}, base_dir=base)
    outcomes = []
    with create_kernel(config, plugins={"auth-local": rosetta_auth_local.plugin}) as kernel:
        kernel.start(reconcile=False)
        for _ in range(tries):
            try:
                sign_in(kernel, "ada", "wrong password")
            except SignInFailed:
                outcomes.append("failed")
            except TooManyAttempts:
                outcomes.append("limited")
    print(json.dumps(outcomes))
    """
)


def run_child(store: Path, tries: int) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(store), str(store.parent), str(tries)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    outcome: list[str] = json.loads(done.stdout)
    return outcome


def test_two_processes_share_the_counts(make_kernel: KernelMaker) -> None:
    kernel = make_kernel(account_failures=5)
    use_clock(kernel, time.time)  # the other process reads the wall clock
    sign_up(kernel, "ada", PASSWORD)
    with pytest.raises(SignInFailed):
        sign_in(kernel, "ada", "wrong password")
    store = kernel.store.path
    assert store is not None
    assert run_child(store, 3) == ["failed"] * 3
    assert failures(kernel, account="ada") == 4
    with pytest.raises(SignInFailed):
        sign_in(kernel, "ada", "wrong password")
    assert run_child(store, 1) == ["limited"]
