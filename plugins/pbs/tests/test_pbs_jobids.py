"""Job ids: what qsub printed, and matching qstat's spellings against it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rosetta_pbs.jobids import is_job_id, job_id_from_qsub, same_job, sequence_number


@pytest.mark.parametrize(
    ("stdout", "job_id"),
    [
        ("4211.pbs01\n", "4211.pbs01"),
        ("8812.torque01.example.org\n", "8812.torque01.example.org"),
        ("267\n", "267"),
        ("123[].pbs01\n", "123[].pbs01"),
        ("qsub: warning: walltime rounded\n4211.pbs01\n\n", "4211.pbs01"),
        ("", None),
        ("There was an error running the Slurm sbatch command.\n", None),
        ("-5\n", None),
        ("4211.pbs01; rm -rf /\n", None),
        ("4211 .pbs01\n", None),
    ],
)
def test_job_id_from_qsub(stdout: str, job_id: str | None) -> None:
    assert job_id_from_qsub(stdout) == job_id


@pytest.mark.parametrize("text", ["-1", "", "abc", "1 2", "1;id", "1.$(id)", "1.-server", "1\n2", "1.srv/x"])
def test_hostile_or_odd_text_is_no_job_id(text: str) -> None:
    assert not is_job_id(text)


@given(st.text(max_size=40))
def test_a_job_id_never_carries_option_or_shell_text(text: str) -> None:
    if is_job_id(text):
        assert not text.startswith("-")
        assert not set(text) & set(" \t\n\r$`;&|<>'\"\\*?~!#(){}")


@pytest.mark.parametrize(
    ("listed", "wanted", "same"),
    [
        ("4211.pbs01", "4211.pbs01", True),
        ("267", "267", True),
        ("267", "2670", False),
        ("8812.torque01", "8812.torque01.example.org", True),
        ("8812.torque01.example.org", "8812.torque01", True),
        ("8812.torque01", "8812.torque", False),
        ("8812.other", "8812.torque01", False),
        ("4211", "4211.pbs01", True),
        ("4211.pbs01", "4211", True),
        ("1234567.pbsserv*", "1234567.pbsserver02", True),
        ("1234567.pbsserv*", "1234568.pbsserver02", False),
        ("1234567.pbsserv*", "1234567.other", False),
        ("123[].pbs01", "123[].pbs01", True),
        ("123[].pbs01", "123.pbs01", False),
    ],
)
def test_same_job(listed: str, wanted: str, same: bool) -> None:
    assert same_job(listed, wanted) is same


def test_sequence_number() -> None:
    assert [sequence_number(j) for j in ("4211.pbs01", "123[4].x", "267", "x")] == [4211, 123, 267, -1]
