"""The test helper: whether Slurm is here."""

from __future__ import annotations

import pytest

from rosetta_slurm.testing import slurm_unavailable


def test_no_sbatch_means_no_slurm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert "sbatch is not installed" in (slurm_unavailable() or "")
