"""From qstat records to observations: the state table, exit statuses and hosts."""

from __future__ import annotations

from pathlib import Path

import pytest

from rosetta_core.engines import Observed
from rosetta_pbs.qstat import JobRecord, parse_full, parse_json
from rosetta_pbs.states import describe_exit, exit_status, first_host, observe

DATA = Path(__file__).parent / "data"


def record(state: str, **attributes: str) -> JobRecord:
    return JobRecord(job_id="1.srv", attributes={"job_state": state, **attributes})


@pytest.mark.parametrize(
    ("state", "observed"),
    [
        ("Q", Observed.PENDING),
        ("H", Observed.PENDING),
        ("W", Observed.PENDING),
        ("T", Observed.PENDING),
        ("S", Observed.PENDING),
        ("U", Observed.PENDING),
        ("R", Observed.RUNNING),
        ("E", Observed.RUNNING),
        ("B", Observed.RUNNING),
        ("M", Observed.UNKNOWN),
        ("Z", Observed.UNKNOWN),
    ],
)
def test_state_table(state: str, observed: Observed) -> None:
    assert observe(record(state)).state is observed


@pytest.mark.parametrize("state", ["C", "F", "X"])
def test_finished_with_code_zero_exited(state: str) -> None:
    obs = observe(record(state, Exit_status="0"))
    assert (obs.state, obs.exit_code) == (Observed.EXITED, 0)


@pytest.mark.parametrize("key", ["Exit_status", "exit_status"])
def test_finished_with_another_code_failed(key: str) -> None:
    obs = observe(record("C", **{key: "7"}))
    assert (obs.state, obs.exit_code, obs.detail) == (Observed.FAILED, 7, "job exited with code 7")


def test_finished_without_exit_status_exited_with_no_code() -> None:
    obs = observe(record("C"))
    assert (obs.state, obs.exit_code) == (Observed.EXITED, None)
    assert "no exit status" in obs.detail


@pytest.mark.parametrize(
    ("status", "code", "words"),
    [
        (0, 0, "exited with code 0"),
        (3, 3, "exited with code 3"),
        (255, 255, "exited with code 255"),
        (271, 143, "killed by signal 15 (SIGTERM)"),
        (265, 137, "killed by signal 9 (SIGKILL)"),
        (-1, -1, "the job could not be started (PBS exit status -1)"),
        (-10, -10, "not valid on its execution host"),
        (-29, -29, "PBS ended the job (PBS exit status -29)"),
        (256, 256, "ended with exit status 256"),
        (1000, 1000, "ended with exit status 1000"),
    ],
)
def test_describe_exit(status: int, code: int, words: str) -> None:
    got_code, got_words = describe_exit(status)
    assert got_code == code and words in got_words


@pytest.mark.parametrize("value", ["", "abc", "1.5", "--1", "9" * 12])
def test_unreadable_exit_status_is_none(value: str) -> None:
    assert exit_status(record("F", Exit_status=value)) is None


@pytest.mark.parametrize(
    ("exec_host", "host"),
    [
        ("cn017/0*2", "cn017"),
        ("node07/0-1+node08/0-1", "node07"),
        ("vm/1", "vm"),
        ("cn017.cluster.example.org:15002/0*2", "cn017.cluster.example.org"),
        ("", None),
        (None, None),
        ("bad host/0", None),
        ("$(id)/0", None),
    ],
)
def test_first_host(exec_host: str | None, host: str | None) -> None:
    assert first_host(exec_host) == host


def test_running_reports_its_host() -> None:
    obs = observe(record("R", exec_host="cn017/0*2"))
    assert (obs.state, obs.host, obs.port) == (Observed.RUNNING, "cn017", None)


def test_pending_detail_carries_the_scheduler_comment_on_one_line() -> None:
    obs = observe(record("Q", comment="Not Running:\x1b[31m Insufficient\n ncpus"))
    assert obs.detail == "job queued: Not Running:[31m Insufficient ncpus"


def test_an_untrusted_record_is_unknown_never_gone_or_finished() -> None:
    obs = observe(
        JobRecord(job_id="1", attributes={"job_state": "F"}, problem="attribute job_state is given twice")
    )
    assert obs.state is Observed.UNKNOWN and "given twice" in obs.detail


def test_samples_end_to_end() -> None:
    pbspro = {r.job_id: observe(r) for r in parse_full((DATA / "pbspro-full.txt").read_text()).records}
    assert pbspro["4211.pbs01"].state is Observed.RUNNING and pbspro["4211.pbs01"].host == "cn017"
    assert (pbspro["4212.pbs01"].state, pbspro["4212.pbs01"].exit_code) == (Observed.EXITED, 0)
    assert (pbspro["4213.pbs01"].state, pbspro["4213.pbs01"].exit_code) == (Observed.FAILED, 3)
    assert pbspro["4214.pbs01"].state is Observed.PENDING and "ngpus" in pbspro["4214.pbs01"].detail
    assert (pbspro["4215.pbs01"].state, pbspro["4215.pbs01"].exit_code) == (Observed.FAILED, 143)
    torque = [observe(r) for r in parse_full((DATA / "torque-full.txt").read_text()).records]
    assert [(o.state, o.exit_code) for o in torque] == [
        (Observed.RUNNING, None),
        (Observed.FAILED, 3),
        (Observed.FAILED, 143),
        (Observed.EXITED, 0),
    ]
    (failed,) = [observe(r) for r in parse_json((DATA / "openpbs-exec-failure.json").read_text()).records]
    assert (failed.state, failed.exit_code) == (Observed.FAILED, -1)
    wrappers = [observe(r) for r in parse_full((DATA / "wrappers-full.txt").read_text()).records]
    assert [(o.state, o.exit_code, o.host) for o in wrappers] == [
        (Observed.RUNNING, None, "vm"),
        (Observed.EXITED, None, None),
    ]
