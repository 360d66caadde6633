"""The local executor passes the executor contract, on this machine, for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from rosetta_core.errors import ExecutorError
from rosetta_core.executors import CommandResult, Executor, LocalExecutor, check_argv, local_executor_factory
from rosetta_core.model import Computing
from rosetta_core.testing.contracts import ExecutorContract


class TestLocalExecutor(ExecutorContract):
    @pytest.fixture
    def executor(self) -> Executor:
        return LocalExecutor()


def test_is_an_executor() -> None:
    assert isinstance(LocalExecutor(), Executor)


def test_factory_shares_one_executor() -> None:
    comp = Computing(name="c", engines=("podman",))
    assert local_executor_factory(comp) is local_executor_factory(comp)


def test_env_is_added() -> None:
    assert LocalExecutor().run(["sh", "-c", "echo $ROSETTA_X"], env={"ROSETTA_X": "1"}).stdout == "1\n"


@pytest.mark.parametrize("argv", [[], "echo", ["echo", "a\x00b"], ["echo", 3]])
def test_bad_argv(argv: object) -> None:
    with pytest.raises(ExecutorError):
        check_argv(argv)  # type: ignore[arg-type]


def test_get_file_keeps_the_tail(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"0123456789")
    assert LocalExecutor().get_file(str(tmp_path / "f"), max_bytes=3) == b"789"


def test_put_file_failure_is_an_executor_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExecutorError, match="cannot write"):
        LocalExecutor().put_file(str(tmp_path / "file" / "below"), b"x")


def test_check() -> None:
    ok = CommandResult(argv=("a",), returncode=0, stdout="", stderr="")
    assert ok.check() is ok and ok.ok
    with pytest.raises(ExecutorError, match="a exited with 1: bad"):
        CommandResult(argv=("a",), returncode=1, stdout="", stderr="bad\n").check()
