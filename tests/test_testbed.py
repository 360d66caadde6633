"""Reading the testbed's env file."""

from __future__ import annotations

from pathlib import Path

from rosetta_core.testing.testbed import env_value, unprivileged_account


def test_values_and_the_user(tmp_path: Path) -> None:
    env = tmp_path / "testbed.env"
    assert unprivileged_account(env) is None and env_value("X", env) is None
    env.write_text('# a comment\nTESTBED_OK="podman ssh"\nTESTBED_USER=root\n')
    assert env_value("TESTBED_OK", env) == "podman ssh"
    assert unprivileged_account(env) == "root"
    env.write_text('TESTBED_USER="no-such-account-xyz"\n')
    assert unprivileged_account(env) is None
