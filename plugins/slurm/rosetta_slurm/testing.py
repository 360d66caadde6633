"""Helpers for tests that drive a real Slurm: is one there, who is the testbed's unprivileged
account, and how many commands a call made.

    reason = slurm_unavailable()        # None when sbatch exists and the controller answers
    executor = CountingExecutor()        # a LocalExecutor counting commands by program name
    manager.query_many(ids, executor)
    assert executor.runs["squeue"] == 1
"""

from __future__ import annotations

import pwd
import shutil
import subprocess
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from rosetta_core.executors import DEFAULT_TIMEOUT, MAX_OUTPUT, CommandResult, LocalExecutor

TESTBED_ENV = Path("/var/lib/testbed/testbed.env")


def testbed_user() -> str | None:
    """The testbed's unprivileged account (``TESTBED_USER`` in ``testbed.env``), if it exists."""
    try:
        lines = TESTBED_ENV.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "TESTBED_USER":
            name = value.strip().strip("\"'")
            try:
                pwd.getpwnam(name)
            except KeyError:
                return None
            return name
    return None


def slurm_unavailable() -> str | None:
    """Why no real Slurm can be used on this machine, or ``None`` when it can."""
    if shutil.which("sbatch") is None:
        return "sbatch is not installed: no Slurm on this machine (run testbed/setup.sh as root)"
    try:
        done = subprocess.run(["sinfo", "--noheader"], capture_output=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"sinfo cannot be run: {exc}"
    if done.returncode != 0:
        return f"the Slurm controller does not answer: {done.stderr.decode(errors='replace').strip()}"
    return None


class CountingExecutor(LocalExecutor):
    """A :class:`LocalExecutor` that counts what it does: ``runs[program name]`` for each command,
    ``runs["get_file"]`` for each file read."""

    def __init__(self) -> None:
        self.runs: Counter[str] = Counter()

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        if argv and not isinstance(argv, str):
            self.runs[PurePosixPath(argv[0]).name] += 1
        return super().run(argv, timeout=timeout, input=input, env=env)

    def get_file(self, path: str, *, max_bytes: int = MAX_OUTPUT) -> bytes:
        self.runs["get_file"] += 1
        return super().get_file(path, max_bytes=max_bytes)
