"""Reading the end of a job's output file through the executor, bounded."""

from __future__ import annotations

import re

from rosetta_core.executors import Executor

LOG_BYTES = 1024 * 1024
"""At most this much of the end of a log is read for :meth:`SlurmWorkloadManager.logs`."""
DETAIL_LINES = 20
DETAIL_BYTES = 8 * 1024
DETAIL_LINE_CHARS = 400
# what a failure's detail keeps of a log line: no terminal escapes or other control characters
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def tail_text(data: bytes, lines: int, *, cut: bool) -> str:
    """The last ``lines`` lines of ``data``; ``cut``: ``data`` starts mid-file, so its first
    (partial) line is dropped."""
    if lines <= 0:
        return ""
    parts = data.decode(errors="replace").split("\n")
    if cut:
        parts = parts[1:]
    if parts and parts[-1] == "":
        parts.pop()  # the newline ending the last line
    return "\n".join(parts[-lines:])


def read_tail(executor: Executor, path: str, lines: int, max_bytes: int = LOG_BYTES) -> str:
    """The last ``lines`` lines of ``path``, reading at most ``max_bytes``.

    Raises what ``executor.get_file`` raises (``ExecutorError`` for a missing file).
    """
    data = executor.get_file(path, max_bytes=max_bytes)
    return tail_text(data, lines, cut=len(data) >= max_bytes)


def for_detail(text: str) -> str:
    """``text`` fit for an event's detail: control characters removed, long lines shortened."""
    return "\n".join(_CONTROL.sub("", line)[:DETAIL_LINE_CHARS].rstrip() for line in text.split("\n")).strip(
        "\n"
    )
