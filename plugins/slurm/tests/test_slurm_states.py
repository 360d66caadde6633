"""From Slurm's job states to observations: the recorded jobs (``data/``) and every state word."""

from __future__ import annotations

from pathlib import Path

import pytest

from rosetta_core.engines import Observed
from rosetta_slurm.parse import JobRecord, parse_sacct, parse_squeue
from rosetta_slurm.states import ends_badly, exit_code, observe

DATA = Path(__file__).parent / "data"
QUEUE = parse_squeue((DATA / "squeue-22.05.txt").read_text()).records
ACCOUNTING = parse_sacct((DATA / "sacct-22.05.txt").read_text()).records


@pytest.mark.parametrize(
    ("job", "state", "code", "detail"),
    [
        ("208", Observed.RUNNING, None, "running on vm"),
        ("223", Observed.RUNNING, None, "running (completing) on vm"),
        ("209", Observed.PENDING, None, "pending (JobHeldUser)"),
        ("210", Observed.PENDING, None, "pending (BeginTime)"),
        ("218", Observed.PENDING, None, "pending (DependencyNeverSatisfied)"),
        ("212", Observed.EXITED, 0, "completed"),
        ("213", Observed.FAILED, 3, "the job failed: exit code 3"),
        ("214", Observed.FAILED, 137, "the job failed: killed by signal 9 (JobLaunchFailure)"),
        ("215", Observed.FAILED, 143, "cancelled: killed by signal 15"),
        ("216", Observed.FAILED, None, "cancelled (JobHeldUser)"),
        ("217", Observed.FAILED, 143, "the job reached its time limit: killed by signal 15"),
    ],
)
def test_recorded_squeue_states(job: str, state: Observed, code: int | None, detail: str) -> None:
    obs = observe(QUEUE[job])
    assert (obs.state, obs.exit_code, obs.detail) == (state, code, detail)
    assert obs.host == ("vm" if state is Observed.RUNNING else None)


@pytest.mark.parametrize(
    ("job", "state", "code", "detail"),
    [
        ("212", Observed.EXITED, 0, "completed"),
        ("213", Observed.FAILED, 3, "the job failed: exit code 3"),
        ("214", Observed.FAILED, 137, "the job failed: killed by signal 9"),
        ("215", Observed.FAILED, None, "cancelled by 0"),
        ("217", Observed.FAILED, None, "the job reached its time limit"),
        ("209", Observed.PENDING, None, "pending (JobHeldUser)"),
    ],
)
def test_recorded_sacct_states(job: str, state: Observed, code: int | None, detail: str) -> None:
    obs = observe(ACCOUNTING[job])
    assert (obs.state, obs.exit_code, obs.detail) == (state, code, detail)


def test_both_sources_agree_on_the_state_of_every_recorded_job() -> None:
    for job, record in ACCOUNTING.items():
        assert observe(record).state is observe(QUEUE[job]).state, job


STATES = {
    Observed.PENDING: [
        "PENDING",
        "CONFIGURING",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESV_DEL_HOLD",
        "SPECIAL_EXIT",
        "SUSPENDED",
        "STOPPED",
    ],
    Observed.RUNNING: ["RUNNING", "COMPLETING", "RESIZING", "SIGNALING", "STAGE_OUT"],
    Observed.EXITED: ["COMPLETED"],
    Observed.FAILED: [
        "FAILED",
        "TIMEOUT",
        "OUT_OF_MEMORY",
        "NODE_FAIL",
        "BOOT_FAIL",
        "DEADLINE",
        "PREEMPTED",
        "REVOKED",
        "CANCELLED",
    ],
    Observed.UNKNOWN: ["LAUNCHED_ON_MARS", "R"],
}


@pytest.mark.parametrize(
    ("slurm_state", "observed"), [(s, o) for o, states in STATES.items() for s in states]
)
def test_every_state_word(slurm_state: str, observed: Observed) -> None:
    obs = observe(JobRecord(job_id="1", state=slurm_state, reason="None"))
    assert obs.state is observed
    assert ends_badly(JobRecord(job_id="1", state=slurm_state)) is (observed is Observed.FAILED)
    assert obs.detail


def test_failure_details_say_why() -> None:
    oom = observe(JobRecord(job_id="1", state="OUT_OF_MEMORY", signal=9, reason="OutOfMemory"))
    assert oom.detail == "the job ran out of memory: killed by signal 9 (OutOfMemory)"
    assert oom.exit_code == 137
    node = observe(JobRecord(job_id="1", state="NODE_FAIL", reason="NodeDown"))
    assert node.detail == "the job's node failed (NodeDown)" and node.exit_code is None
    assert observe(JobRecord(job_id="1", state="PREEMPTED")).detail == "the job was preempted"


def test_cancelled_detail_starts_with_cancelled() -> None:
    obs = observe(JobRecord(job_id="1", state="CANCELLED", note="by 1001", source="sacct"))
    assert obs.state is Observed.FAILED and obs.detail == "cancelled by 1001"


def test_log_tail_ends_a_failure_detail_only() -> None:
    failed = observe(JobRecord(job_id="1", state="FAILED", exit_status=3), "boom\nbang")
    assert failed.detail == "the job failed: exit code 3\nlast lines of the job's output:\nboom\nbang"
    running = observe(JobRecord(job_id="1", state="RUNNING", host="n1"), "boom")
    assert "boom" not in running.detail


def test_long_reasons_are_shortened() -> None:
    obs = observe(JobRecord(job_id="1", state="PENDING", reason="x" * 5000))
    assert len(obs.detail) < 400


@pytest.mark.parametrize(
    ("exit_status", "signal", "code"), [(0, None, 0), (3, None, 3), (None, 9, 137), (None, None, None)]
)
def test_exit_code(exit_status: int | None, signal: int | None, code: int | None) -> None:
    assert exit_code(JobRecord(job_id="1", state="FAILED", exit_status=exit_status, signal=signal)) == code


def test_failed_with_exit_status_zero_reports_no_code() -> None:
    assert observe(JobRecord(job_id="1", state="FAILED", exit_status=0)).exit_code is None
