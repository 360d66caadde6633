"""The end of a job's output: bounded reads, cut first lines, and text fit for a detail."""

from __future__ import annotations

import pytest

from rosetta_core.errors import ExecutorError
from rosetta_core.testing.fakes import ScriptedExecutor
from rosetta_slurm.joblog import DETAIL_LINE_CHARS, for_detail, read_tail, tail_text


@pytest.mark.parametrize(
    ("data", "lines", "cut", "text"),
    [
        (b"a\nb\nc\n", 2, False, "b\nc"),
        (b"a\nb\nc", 2, False, "b\nc"),
        (b"a\nb\nc\n", 10, False, "a\nb\nc"),
        (b"tail-of-a-line\nb\nc\n", 10, True, "b\nc"),
        (b"", 5, False, ""),
        (b"a\n", 0, False, ""),
        (b"a\n", -3, False, ""),
        (b"caf\xc3\xa9 \xff\n", 1, False, "caf\u00e9 \ufffd"),
    ],
)
def test_tail_text(data: bytes, lines: int, cut: bool, text: str) -> None:
    assert tail_text(data, lines, cut=cut) == text


def test_read_tail_is_bounded() -> None:
    executor = ScriptedExecutor()
    executor.files["j/1.log"] = b"".join(b"line %d\n" % i for i in range(10_000))
    assert read_tail(executor, "j/1.log", 3, max_bytes=100) == "line 9997\nline 9998\nline 9999"
    assert len(read_tail(executor, "j/1.log", 10_000, max_bytes=100).split("\n")) < 15


def test_read_tail_of_a_missing_file_raises() -> None:
    with pytest.raises(ExecutorError):
        read_tail(ScriptedExecutor(), "j/none.log", 3)


def test_for_detail_drops_control_characters_and_shortens_lines() -> None:
    text = "\x1b[31mred\x1b[0m\r\n\tok\x07\n" + "x" * 5000 + "\n"
    assert for_detail(text) == "[31mred[0m\n\tok\n" + "x" * DETAIL_LINE_CHARS
