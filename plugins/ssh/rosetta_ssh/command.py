"""The command line sent to the remote shell, and what its exit tells about the program.

An SSH server hands the command to the account's login shell as one string, so the argv list is
quoted here with :func:`shlex.join` (POSIX single quotes: the shell takes every entry literally)
and run as ``exec env -- [KEY=VALUE ...] PROGRAM ARG ...``. ``env`` looks the program up on the
remote ``PATH`` (after the environment given is applied, as :class:`subprocess.Popen` does) and
reports a program it cannot run in one recognisable form, whatever the login shell.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence

from rosetta_core.errors import CommandNotFound, ExecutorError
from rosetta_core.executors import check_argv
from rosetta_core.validators import ENV_KEY_RE

MAX_COMMAND_BYTES = 128 * 1024
"""The longest command line sent: an SSH server refuses packets much above 256 KiB."""

NOT_FOUND = 127
NOT_EXECUTABLE = 126


def remote_command(
    argv: Sequence[str], env: Mapping[str, str] | None = None, *, no_input: bool = False
) -> str:
    """The string the remote shell runs for ``argv`` with ``env`` added to its environment.

    ``shlex.split`` of the result gives back ``["exec", "env", "--", "KEY=VALUE", ..., *argv]``
    exactly; with ``no_input`` it ends in ``</dev/null``, so the program reads an empty stdin
    without the client having to send an end of file.

    Raises :class:`ExecutorError` for a shell string, an empty argv, NUL bytes, an invalid variable
    name, a program name containing ``=`` (``env`` would take it for a variable) or a
    command line too long to send.
    """
    args = check_argv(argv)
    words = ["exec", "env", "--"]
    for key, value in (env or {}).items():
        if not isinstance(key, str) or not ENV_KEY_RE.match(key):
            raise ExecutorError(f"environment variable name {str(key)[:80]!r} is not valid")
        if not isinstance(value, str) or "\x00" in value:
            raise ExecutorError(f"environment variable {key} must be a string without NUL bytes")
        words.append(f"{key}={value}")
    if "=" in args[0]:
        raise ExecutorError(f"a program name containing '=' cannot be run over SSH: {args[0][:80]!r}")
    command = shlex.join([*words, *args]) + (" </dev/null" if no_input else "")
    if len(command.encode()) > MAX_COMMAND_BYTES:
        raise ExecutorError(
            f"{args[0][:80]} command line is longer than {MAX_COMMAND_BYTES} bytes; "
            "pass large data as input or in a file"
        )
    return command


def check_program_ran(program: str, returncode: int, stderr: str) -> None:
    """Raise if ``env`` reported that ``program`` could not be run; return if the program ran.

    ``env`` exits 127 (not found) or 126 (not executable) with a last line of the form
    ``env: 'PROGRAM': reason`` (GNU, whatever the quotes its locale uses) or
    ``env: can't execute 'PROGRAM': reason`` (BusyBox). A program that ran and exited 127 itself
    writes no such line about its own name, so it is returned as it is, as locally.
    """
    if returncode not in (NOT_FOUND, NOT_EXECUTABLE):
        return
    lines = [line for line in stderr.splitlines() if line.strip()]
    if not lines:
        return
    pattern = re.compile(r"^env: (?:can't execute )?\W?" + re.escape(program) + r"\W?: \S")
    if not pattern.match(lines[-1]):
        return
    if returncode == NOT_FOUND:
        raise CommandNotFound(f"program not found: {program}")
    raise ExecutorError(f"program not executable: {program}")
