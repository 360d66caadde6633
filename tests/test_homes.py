"""The account's home folder, asked once per executor, and folders made absolute under it."""

from __future__ import annotations

import os

import pytest

from rosetta_core.errors import BackendError, BackendUnavailable, ExecutorError
from rosetta_core.executors import LocalExecutor
from rosetta_core.homes import HOME_ARGV, Homes, absolute
from rosetta_core.testing.fakes import ScriptedExecutor


def test_asked_once_per_executor() -> None:
    homes = Homes()
    first, second = ScriptedExecutor(), ScriptedExecutor()
    first.expect(["sh"], stdout="/home/ada")
    second.expect(["sh"], stdout="/home/bob")
    assert homes.of(first, 5) == homes.of(first, 5) == "/home/ada"
    assert homes.of(second, 5) == "/home/bob"
    assert first.argvs() == [HOME_ARGV]
    assert [c.timeout for c in first.calls] == [5]


def test_the_local_account() -> None:
    assert Homes().of(LocalExecutor(), 10) == os.environ["HOME"]


def test_unreachable_is_unavailable() -> None:
    ex = ScriptedExecutor()
    ex.expect(["sh"], raises=ExecutorError("connection lost"))
    with pytest.raises(BackendUnavailable, match="home folder"):
        Homes().of(ex, 5)


@pytest.mark.parametrize("stdout", ["", "home", "/a\nb", "/a\x00"])
def test_unusable_answers_are_refused_and_not_remembered(stdout: str) -> None:
    homes = Homes()
    ex = ScriptedExecutor()
    ex.expect(["sh"], stdout=stdout)
    with pytest.raises(BackendError, match="no usable home folder"):
        homes.of(ex, 5)
    ex.expect(["sh"], stdout="/home/ada")
    assert homes.of(ex, 5) == "/home/ada"


@pytest.mark.parametrize(
    ("folder", "home", "path"),
    [
        (".rosetta/jobs", "/home/ada", "/home/ada/.rosetta/jobs"),
        ("jobs/", "/home/ada/", "/home/ada/jobs"),
        ("/scratch/jobs", "/home/ada", "/scratch/jobs"),
        ("./jobs", "/", "/jobs"),
    ],
)
def test_absolute(folder: str, home: str, path: str) -> None:
    assert absolute(folder, home) == path
