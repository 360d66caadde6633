from __future__ import annotations

from rosetta_auth_local.options import LocalAuthOptions
from rosetta_auth_local.testing import FAST_ARGON2, FakeClock


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(100.0)
    assert clock() == clock() == 100.0
    clock.advance(2.5)
    assert clock() == 102.5


def test_fast_argon2_is_a_valid_options_section() -> None:
    options = LocalAuthOptions(**FAST_ARGON2)
    assert options.argon2_memory_cost == 8
