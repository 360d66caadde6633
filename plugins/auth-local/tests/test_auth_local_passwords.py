from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rosetta_auth_local.options import LocalAuthOptions
from rosetta_auth_local.passwords import (
    MAX_BYTES,
    Hasher,
    check_password,
    generate_password,
    hasher_for,
    password_problems,
)
from rosetta_core.errors import ValidationError

FAST = Hasher(1, 8, 1)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 8 characters"),
        ("é" * 7, "at least 8 characters"),
        ("x" * (MAX_BYTES + 1), "at most 1024 bytes"),
        ("é" * 513, "at most 1024 bytes"),  # 513 characters, 1026 bytes
        ("\ud800abcdefgh", "valid Unicode"),
        (None, "must be a string, not NoneType"),
        (b"bytes-password", "must be a string, not bytes"),
        ("ada-lovelace", "must not be the user name"),
    ],
)
def test_policy_refuses_with_a_clear_message(password: object, problem: str) -> None:
    problems = password_problems(password, name="ada-lovelace")
    assert len(problems) == 1
    assert problem in problems[0]
    assert problems[0].startswith("$.password: ")


def test_policy_accepts_the_bounds() -> None:
    check_password("x" * 8)
    check_password("x" * MAX_BYTES)
    check_password("пароль-длинный")


def test_refusal_never_shows_the_password() -> None:
    with pytest.raises(ValidationError) as info:
        check_password("Secr3t!")
    assert "Secr3t" not in str(info.value)


def test_hash_and_verify() -> None:
    stored = FAST.hash("a long password")
    assert stored.startswith("$argon2id$")
    assert FAST.verify(stored, "a long password")
    assert not FAST.verify(stored, "a long passwork")


def test_equivalent_unicode_forms_verify() -> None:
    stored = FAST.hash("".join(chr(0xFEE0 + ord(c)) for c in "fullwidth"))  # fullwidth forms
    assert FAST.verify(stored, "fullwidth")


def test_values_that_are_no_password_never_verify() -> None:
    stored = FAST.hash("a long password")
    for value in ["", "x" * 5000, "\udcff" * 10]:
        assert not FAST.verify(stored, value)
    with pytest.raises(ValidationError):
        FAST.hash("x" * 5000)


def test_malformed_hash_is_a_mismatch_logged_without_the_hash(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert not FAST.verify("$argon2id$garbage-hash-value", "a long password")
    assert "garbage-hash-value" not in caplog.text
    assert "a long password" not in caplog.text
    assert FAST.needs_rehash("$argon2id$garbage-hash-value")


def test_needs_rehash_when_parameters_change() -> None:
    stored = FAST.hash("a long password")
    assert not FAST.needs_rehash(stored)
    assert Hasher(2, 8, 1).needs_rehash(stored)


def test_dummy_verification_costs_a_verification() -> None:
    FAST.verify_dummy("anything at all")
    FAST.verify_dummy("\udcff")


def test_hasher_for_shares_one_hasher_per_parameter_set() -> None:
    options = LocalAuthOptions(argon2_time_cost=1, argon2_memory_cost=8, argon2_parallelism=1)
    assert hasher_for(options) is hasher_for(options)
    assert "password" not in repr(hasher_for(options))


def test_generated_passwords_pass_the_policy_and_differ() -> None:
    first, second = generate_password(), generate_password()
    check_password(first)
    assert first != second and len(first) == 24


FIXED_MESSAGES = {
    "$.password: must be at least 8 characters",
    "$.password: must be at most 1024 bytes",
    "$.password: must be valid Unicode text",
}


@given(st.text(max_size=40))
def test_policy_raises_only_fixed_messages(password: str) -> None:
    try:
        check_password(password)
    except ValidationError as exc:
        # fixed text only: nothing of the password is echoed
        assert set(exc.problems) <= FIXED_MESSAGES
