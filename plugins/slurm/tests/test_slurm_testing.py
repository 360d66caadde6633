"""The test helpers: whether Slurm is here, the testbed's account, counting commands."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rosetta_slurm import testing
from rosetta_slurm.testing import CountingExecutor, slurm_unavailable


def test_counting_executor_counts_by_program_name(tmp_path: Path) -> None:
    executor = CountingExecutor()
    executor.run(["true"])
    executor.run([shutil.which("true") or "/bin/true"])
    (tmp_path / "f").write_text("x")
    assert executor.get_file(str(tmp_path / "f")) == b"x"
    assert executor.runs == {"true": 2, "get_file": 1}


def test_no_sbatch_means_no_slurm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert "sbatch is not installed" in (slurm_unavailable() or "")


def test_testbed_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = tmp_path / "testbed.env"
    monkeypatch.setattr(testing, "TESTBED_ENV", env)
    assert testing.testbed_user() is None
    env.write_text("TESTBED_USER=root\n")
    assert testing.testbed_user() == "root"
    env.write_text('TESTBED_USER="no-such-account-xyz"\n')
    assert testing.testbed_user() is None
