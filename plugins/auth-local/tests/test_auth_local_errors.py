from __future__ import annotations

from rosetta_auth_local.errors import LocalAuthError, SignInFailed, SignUpRefused, TooManyAttempts
from rosetta_core.errors import RosettaError


def test_every_error_is_a_rosetta_error() -> None:
    for cls in (SignInFailed, TooManyAttempts, SignUpRefused):
        assert issubclass(cls, LocalAuthError)
        assert issubclass(cls, RosettaError)
    assert not issubclass(TooManyAttempts, SignInFailed)


def test_messages() -> None:
    assert str(SignInFailed()) == "wrong user name or password"
    limited = TooManyAttempts(42)
    assert limited.retry_after == 42
    assert str(limited) == "too many failed sign-in attempts, retry in 42 s"
    assert TooManyAttempts(0).retry_after == 1
