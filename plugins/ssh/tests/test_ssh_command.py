"""The command line sent to the remote shell, and how a program that could not run is recognised."""

from __future__ import annotations

import shlex
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rosetta_core.errors import CommandNotFound, ExecutorError
from rosetta_core.testing.contracts import ARGUMENT_TEXT, HOSTILE
from rosetta_core.validators import ENV_KEY_RE
from rosetta_ssh.command import MAX_COMMAND_BYTES, check_program_ran, remote_command

PROGRAMS = ARGUMENT_TEXT.filter(lambda p: p != "" and "=" not in p)
ENV = st.dictionaries(st.from_regex(ENV_KEY_RE, fullmatch=True), ARGUMENT_TEXT, max_size=5)


@given(program=PROGRAMS, args=st.lists(ARGUMENT_TEXT, max_size=6), env=ENV)
def test_the_shell_splits_it_back_into_the_argv(program: str, args: list[str], env: dict[str, str]) -> None:
    sent = remote_command([program, *args], env)
    assert shlex.split(sent) == ["exec", "env", "--", *(f"{k}={v}" for k, v in env.items()), program, *args]


def test_no_input_gives_the_program_an_empty_stdin() -> None:
    sent = remote_command(["cat"], no_input=True)
    assert shlex.split(sent) == ["exec", "env", "--", "cat", "</dev/null"]
    done = subprocess.run(["sh", "-c", sent], input=b"not read", capture_output=True, timeout=10)
    assert (done.returncode, done.stdout) == (0, b"")


def test_hostile_values_are_quoted() -> None:
    sent = remote_command(["echo", HOSTILE], {"X": HOSTILE})
    assert sent == f"exec env -- {shlex.quote('X=' + HOSTILE)} echo {shlex.quote(HOSTILE)}"


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        ("echo hi", None, "not a shell string"),
        ([], None, "non-empty"),
        (["echo", "a\x00b"], None, "NUL"),
        (["echo"], {"BAD-NAME": "x"}, "not valid"),
        (["echo"], {"1X": "x"}, "not valid"),
        (["echo"], {"X": "a\x00"}, "without NUL"),
        (["A=b"], None, "containing '='"),
        (["echo", "x" * MAX_COMMAND_BYTES], None, "longer than"),
    ],
)
def test_refused(argv: object, env: dict[str, str] | None, message: str) -> None:
    with pytest.raises(ExecutorError, match=message):
        remote_command(argv, env)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "line",
    [
        "env: \u2018rosetta-x\u2019: No such file or directory",  # GNU in a UTF-8 locale
        "env: 'rosetta-x': No such file or directory",
        "env: can't execute 'rosetta-x': No such file or directory",
        "env: «rosetta-x»: Datei oder Verzeichnis nicht gefunden",
    ],
)
def test_missing_program_is_recognised(line: str) -> None:
    with pytest.raises(CommandNotFound, match="program not found: rosetta-x"):
        check_program_ran("rosetta-x", 127, f"some warning\n{line}\n")


def test_program_not_executable() -> None:
    with pytest.raises(ExecutorError, match="not executable: /tmp/x") as caught:
        check_program_ran("/tmp/x", 126, "env: '/tmp/x': Permission denied\n")
    assert not isinstance(caught.value, CommandNotFound)


@pytest.mark.parametrize(
    ("program", "returncode", "stderr"),
    [
        ("sh", 127, "sh: 1: rosetta-x: not found\n"),  # the program ran; a child was missing
        ("env", 127, "env: 'rosetta-x': No such file or directory\n"),  # env itself was the program
        ("rosetta-x", 127, ""),
        ("rosetta-x", 1, "env: 'rosetta-x': No such file or directory\n"),
        ("rosetta-x", 0, ""),
    ],
)
def test_a_program_that_ran_is_not_mistaken(program: str, returncode: int, stderr: str) -> None:
    check_program_ran(program, returncode, stderr)
