"""An executor that passes everything to a real one and counts it, for tests of "one scheduler
call per pass".

    executor = CountingExecutor()                    # this machine (a LocalExecutor)
    executor = CountingExecutor(remote_executor)     # or any other executor, e.g. over SSH
    manager.query_many(ids, executor)
    assert executor.runs["squeue"] == 1              # by program name; "get_file" for file reads
    assert executor.calls[-1][0] == "squeue"         # every argv, in order
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath

from rosetta_core.executors import DEFAULT_TIMEOUT, MAX_OUTPUT, CommandResult, Executor, LocalExecutor


class CountingExecutor:
    """Runs through ``inner`` (default: a :class:`LocalExecutor`); records argvs in ``calls`` and
    counts them by program name in ``runs``. It has ``inner``'s name, so engines treat it alike."""

    def __init__(self, inner: Executor | None = None) -> None:
        self.inner = inner if inner is not None else LocalExecutor()
        self.name = self.inner.name
        self.calls: list[tuple[str, ...]] = []
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
            self.calls.append(tuple(argv))
            self.runs[PurePosixPath(argv[0]).name] += 1
        return self.inner.run(argv, timeout=timeout, input=input, env=env)

    def put_file(self, path: str, content: bytes, *, mode: int = 0o600) -> None:
        self.inner.put_file(path, content, mode=mode)

    def get_file(self, path: str, *, max_bytes: int = MAX_OUTPUT) -> bytes:
        self.runs["get_file"] += 1
        return self.inner.get_file(path, max_bytes=max_bytes)

    def count(self, program: str) -> int:
        """How many commands ran ``program`` (by its name, whatever the path)."""
        return self.runs[PurePosixPath(program).name]
