"""The test helpers: skip reasons, the wrappers' options, the counting executor."""

from __future__ import annotations

from rosetta_pbs.testing import unavailable_reason, wrapper_options


def test_a_missing_qsub_is_a_reason() -> None:
    reason = unavailable_reason(qsub="rosetta-no-such-qsub")
    assert reason is not None and "rosetta-no-such-qsub is not installed" in reason


def test_a_qstat_that_fails_is_a_reason() -> None:
    reason = unavailable_reason(qsub="true", qstat="false")
    assert reason is not None and "exit status 1" in reason
    assert unavailable_reason(qsub="true", qstat="true") is None


def test_wrapper_options() -> None:
    options = wrapper_options(job_dir="/tmp/x")
    assert (options.dialect, options.absent_is_gone, options.job_dir) == ("torque", True, "/tmp/x")
