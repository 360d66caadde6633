"""Open links and cookies: signed, bound to a task and owner, expiring; links used once."""

from __future__ import annotations

import base64

from rosetta_proxy.tokens import Grant, Tokens, derive_key


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_link_is_redeemed_once() -> None:
    tokens = Tokens("s")
    link = tokens.mint_link("task1", "alice")
    assert tokens.redeem_link(link) == Grant("task1", "alice")
    assert tokens.redeem_link(link) is None


def test_links_expire() -> None:
    clock = Clock()
    tokens = Tokens("s", link_ttl=60, clock=clock)
    link = tokens.mint_link("task1", "alice")
    clock.now += 61
    assert tokens.redeem_link(link) is None


def test_used_nonces_are_forgotten_once_expired() -> None:
    clock = Clock()
    tokens = Tokens("s", link_ttl=60, clock=clock)
    assert tokens.redeem_link(tokens.mint_link("t", "a")) is not None
    clock.now += 120
    assert tokens.redeem_link(tokens.mint_link("t", "a")) is not None
    assert len(tokens._used) == 1


def test_cookies_last_their_ttl_and_are_reusable() -> None:
    clock = Clock()
    tokens = Tokens("s", cookie_ttl=3600, clock=clock)
    cookie = tokens.mint_cookie("task1", "alice")
    assert tokens.check_cookie(cookie) == tokens.check_cookie(cookie) == Grant("task1", "alice")
    clock.now += 3601
    assert tokens.check_cookie(cookie) is None


def test_kinds_are_not_interchangeable() -> None:
    tokens = Tokens("s")
    assert tokens.check_cookie(tokens.mint_link("t", "a")) is None
    assert tokens.redeem_link(tokens.mint_cookie("t", "a")) is None


def test_forged_and_malformed_tokens_are_refused() -> None:
    tokens = Tokens("s")
    other = Tokens("another secret").mint_cookie("t", "a")
    assert tokens.check_cookie(other) is None
    good = tokens.mint_cookie("t", "a")
    body, _, mac = good.partition(".")
    tampered = base64.urlsafe_b64encode(b'["cookie","t","root",9999999999,"n"]').rstrip(b"=").decode()
    for bad in ("", ".", "x", f"{tampered}.{mac}", f"{body}.{mac[:-2]}", f"{body}.é", good + "x" * 5000):
        assert tokens.check_cookie(bad) is None, bad
        assert tokens.redeem_link(bad) is None, bad


def test_the_key_is_derived_not_the_secret_itself() -> None:
    key = derive_key("s")
    assert len(key) == 32 and key != derive_key("t") and key != b"s"


def test_the_secret_may_be_given_lazily() -> None:
    calls: list[int] = []

    def secret() -> str:
        calls.append(1)
        return "s"

    tokens = Tokens(secret)
    assert calls == []
    assert Tokens("s").check_cookie(tokens.mint_cookie("t", "a")) == Grant("t", "a")
    tokens.mint_cookie("t", "a")
    assert calls == [1]
