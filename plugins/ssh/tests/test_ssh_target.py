"""SSHTarget.from_computing: the SSH options of a computing resource, checked."""

from __future__ import annotations

from typing import Any

import pytest

from rosetta_core.errors import ExecutorError
from rosetta_core.model import Computing
from rosetta_ssh.target import DEFAULT_PORT, Auth, SSHTarget


def computing(**options: Any) -> Computing:
    return Computing(name="c1", executor="ssh", engines=("podman",), options=options)


def test_defaults() -> None:
    target = SSHTarget.from_computing(computing(host="login.example.org"))
    assert target == SSHTarget(
        computing="c1", host="login.example.org", port=DEFAULT_PORT, auth=Auth.USER_KEYS
    )
    assert target.address == "login.example.org:22"
    assert target.where == "computing 'c1' (login.example.org:22)"


def test_platform_keys_with_an_account() -> None:
    target = SSHTarget.from_computing(
        computing(host="10.0.0.5", port="2222", auth="platform_keys", account="svc")
    )
    assert (target.port, target.auth, target.account) == (2222, Auth.PLATFORM_KEYS, "svc")


def test_ipv6_address_is_bracketed_in_messages() -> None:
    assert SSHTarget.from_computing(computing(host="::1", port=2200)).address == "[::1]:2200"


def test_options_of_other_plugins_are_left_alone() -> None:
    assert SSHTarget.from_computing(computing(host="h", partition="debug")).host == "h"


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({}, "host: missing"),
        ({"host": ""}, "host: missing"),
        ({"host": "bad host"}, "host: 'bad host'"),
        ({"host": "-oProxyCommand=x"}, "host: '-oProxyCommand=x'"),
        ({"host": "a..b"}, "host: 'a..b'"),
        ({"host": 5}, "host: 5"),
        ({"host": "h", "port": 0}, "port: 0"),
        ({"host": "h", "port": 70000}, "port: 70000"),
        ({"host": "h", "port": True}, "port: True"),
        ({"host": "h", "port": "22x"}, "port: '22x'"),
        ({"host": "h", "port": 22.0}, "port: 22.0"),
        ({"host": "h", "auth": "password"}, "auth: 'password'"),
        ({"host": "h", "auth": "platform_keys"}, "account: missing"),
        ({"host": "h", "auth": "platform_keys", "account": "Root!"}, "account: 'Root!'"),
        ({"host": "h", "account": "svc"}, "account: only used with auth = 'platform_keys'"),
    ],
)
def test_invalid_options_name_the_problem(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ExecutorError) as caught:
        SSHTarget.from_computing(computing(**options))
    message = str(caught.value)
    assert message.startswith("computing 'c1' has invalid SSH options: ")
    assert problem in message


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ExecutorError) as caught:
        SSHTarget.from_computing(computing(port=0, auth="x"))
    assert all(p in str(caught.value) for p in ("host:", "port:", "auth:"))
