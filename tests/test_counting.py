"""The counting executor: real commands through an inner executor, counted by program name."""

from __future__ import annotations

import shutil
from pathlib import Path

from rosetta_core.executors import Executor
from rosetta_core.testing.counting import CountingExecutor
from rosetta_core.testing.fakes import ScriptedExecutor


def test_counts_by_program_name(tmp_path: Path) -> None:
    executor = CountingExecutor()
    executor.run(["true"])
    executor.run([shutil.which("true") or "/bin/true"])
    (tmp_path / "f").write_text("x")
    assert executor.get_file(str(tmp_path / "f")) == b"x"
    assert executor.runs == {"true": 2, "get_file": 1} and executor.count("true") == 2
    assert executor.calls[0] == ("true",) and executor.name == "local"


def test_wraps_any_executor() -> None:
    inner = ScriptedExecutor()
    inner.expect(["qstat"], stdout="ok")
    executor = CountingExecutor(inner)
    assert isinstance(executor, Executor) and executor.name == "scripted"
    assert executor.run(["qstat", "-f"]).stdout == "ok"
    executor.put_file("/x", b"1")
    assert inner.files["/x"] == b"1" and executor.count("qstat") == 1
