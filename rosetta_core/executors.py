"""Executors: the one way anything acts on a computing resource.

An executor runs an argv list (never a shell string) with a timeout, and puts or gets a file.
Engines and workload managers build argv lists; an SSH executor quotes them with ``shlex.join`` on
its side. :class:`LocalExecutor` runs on this machine through :mod:`subprocess` without a shell.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from rosetta_core.errors import CommandNotFound, CommandTimeout, ExecutorError

if TYPE_CHECKING:
    from rosetta_core.model import Computing, HostKey

DEFAULT_TIMEOUT = 60.0
MAX_OUTPUT = 16 * 1024 * 1024


@attrs.frozen(kw_only=True)
class CommandResult:
    """What a finished command left: its exit status and its decoded output."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def check(self) -> CommandResult:
        """Return self if the command succeeded, else raise :class:`ExecutorError` with its stderr."""
        if self.returncode != 0:
            tail = (self.stderr or self.stdout).strip()[-2000:]
            raise ExecutorError(f"{self.argv[0]} exited with {self.returncode}: {tail}")
        return self


@runtime_checkable
class Executor(Protocol):
    """Runs commands and moves files on one computing resource.

    ``run`` raises :class:`ExecutorError` only when the command could not be run at all (missing
    program, lost connection) and :class:`CommandTimeout` when it outlived ``timeout``; a command that
    ran and failed is returned with its non-zero ``returncode``.
    """

    name: str

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult: ...

    def put_file(self, path: str, content: bytes, *, mode: int = 0o600) -> None: ...

    def get_file(self, path: str, *, max_bytes: int = MAX_OUTPUT) -> bytes: ...


ExecutorFactory = Callable[["Computing", "str | None"], Executor]
"""What ``rosetta_register_executors`` registers: ``factory(computing, owner)`` returns the executor
acting on ``computing`` for the platform user ``owner`` (``None``: the platform itself, e.g. an orphan
sweep). A factory whose resource is reached with each user's own account raises
:class:`~rosetta_core.errors.AccountRequired` for ``None``. Factories may return one shared executor
for several owners (the kernel acts once per distinct executor where it sweeps a resource)."""


@runtime_checkable
class HostKeyScanner(Protocol):
    """What an executor factory offers when its resources have host keys (SSH): ``rosetta computing
    trust`` asks it for the keys a resource presents, shows them, and records them once confirmed."""

    def scan_host_keys(self, computing: Computing) -> list[HostKey]:
        """The host keys ``computing`` presents now, one per key type; raises BackendError if unreachable."""
        ...


def check_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """Return ``argv`` as a tuple after checking it is a non-empty list of NUL-free strings."""
    if isinstance(argv, str) or not argv:
        raise ExecutorError("argv must be a non-empty list of strings, not a shell string")
    for arg in argv:
        if not isinstance(arg, str) or "\x00" in arg:
            raise ExecutorError(f"argv entries must be strings without NUL bytes: {arg!r:.80}")
    return tuple(argv)


class LocalExecutor:
    """Runs commands on this machine with :func:`subprocess.run`, never through a shell."""

    name = "local"

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        args = check_argv(argv)
        full_env = {**os.environ, **env} if env else None
        try:
            # bytes, decoded here: text mode would translate "\r\n" and lose what a program wrote
            done = subprocess.run(
                args,
                input=input.encode() if input is not None else None,
                capture_output=True,
                timeout=timeout,
                env=full_env,
                stdin=None if input is not None else subprocess.DEVNULL,
                check=False,
            )
        except FileNotFoundError as exc:
            raise CommandNotFound(f"program not found: {args[0]}") from exc
        except PermissionError as exc:
            raise ExecutorError(f"program not executable: {args[0]}") from exc
        except subprocess.TimeoutExpired as exc:
            raise CommandTimeout(f"{args[0]} did not finish within {timeout:g} s") from exc
        return CommandResult(
            argv=args,
            returncode=done.returncode,
            stdout=done.stdout[-MAX_OUTPUT:].decode(errors="replace"),
            stderr=done.stderr[-MAX_OUTPUT:].decode(errors="replace"),
        )

    def put_file(self, path: str, content: bytes, *, mode: int = 0o600) -> None:
        """Write ``content`` to ``path`` atomically (a temporary file renamed over it)."""
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(content)
                os.chmod(tmp, mode)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise ExecutorError(f"cannot write {path}: {exc.strerror}") from exc

    def get_file(self, path: str, *, max_bytes: int = MAX_OUTPUT) -> bytes:
        """Read at most the last ``max_bytes`` of ``path``."""
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size > max_bytes:
                    fh.seek(size - max_bytes)
                return fh.read(max_bytes)
        except OSError as exc:
            raise ExecutorError(f"cannot read {path}: {exc.strerror}") from exc


def local_executor_factory(_computing: Computing, _owner: str | None = None) -> Executor:
    """The factory registered as ``local``: every local computing resource shares one executor."""
    return _LOCAL


_LOCAL = LocalExecutor()
