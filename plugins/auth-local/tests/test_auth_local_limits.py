from __future__ import annotations

from collections.abc import Callable

import pytest

from rosetta_auth_local.errors import TooManyAttempts
from rosetta_auth_local.limits import account_key, clear, client_key, failures, reserve, succeeded
from rosetta_auth_local.testing import FakeClock
from rosetta_core.kernel import Kernel

KernelMaker = Callable[..., Kernel]


def test_account_limit_kicks_in_and_expires(make_kernel: KernelMaker, fake_clock: FakeClock) -> None:
    kernel = make_kernel(account_failures=3, client_failures=100, failure_window=60)
    for second in range(3):
        reserve(kernel, account="ada", client=f"10.0.0.{second}")
        fake_clock.advance(10)
    with pytest.raises(TooManyAttempts) as info:
        reserve(kernel, account="ada", client="10.0.0.9")
    assert info.value.retry_after == 30  # the first failure (t=0) ages out at t=60; now t=30
    assert failures(kernel, account="ada") == 3  # a refused attempt is not counted
    fake_clock.advance(30)
    reserve(kernel, account="ada", client="10.0.0.9")
    with pytest.raises(TooManyAttempts, match="retry in 10 s"):
        reserve(kernel, account="ada", client="10.0.0.9")


def test_client_limit_spans_accounts(make_kernel: KernelMaker) -> None:
    kernel = make_kernel(account_failures=100, client_failures=3)
    for name in ("a", "b", "c"):
        reserve(kernel, account=name, client="192.0.2.7")
    with pytest.raises(TooManyAttempts):
        reserve(kernel, account="d", client="192.0.2.7")
    reserve(kernel, account="d", client="192.0.2.8")


def test_ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() -> None:
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("::ffff:192.0.2.1") == client_key("192.0.2.1") == client_key(" 192.0.2.1 ")
    assert client_key("testclient") != client_key("192.0.2.1")


def test_success_forgives_the_attempt_and_the_accounts_failures(make_kernel: KernelMaker) -> None:
    kernel = make_kernel(account_failures=3, client_failures=10)
    reserve(kernel, account="ada", client="192.0.2.1")
    attempt = reserve(kernel, account="ada", client="192.0.2.1")
    succeeded(kernel, attempt)
    assert failures(kernel, account="ada") == 0
    # the address keeps its earlier failure: one good account must not reset an address's count
    assert failures(kernel, client="192.0.2.1") == 1


def test_clear(kernel: Kernel) -> None:
    reserve(kernel, account="ada", client="192.0.2.1")
    clear(kernel, account="ada", client="192.0.2.1")
    assert failures(kernel, account="ada") == failures(kernel, client="192.0.2.1") == 0


def test_old_failures_are_pruned(make_kernel: KernelMaker, fake_clock: FakeClock) -> None:
    kernel = make_kernel(failure_window=60)
    reserve(kernel, account="ada", client="192.0.2.1")
    fake_clock.advance(61)
    reserve(kernel, account="grace", client="192.0.2.2")
    assert kernel.store.db.execute("SELECT COUNT(*) FROM auth_local_failures").fetchone()[0] == 2


def test_keys_are_digests_of_bounded_size() -> None:
    assert len(account_key("x" * 100_000)) == 64
    assert "ada" not in account_key("ada")
    assert account_key("\udcff") != account_key("")
