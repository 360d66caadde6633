"""Reading squeue, sacct and sbatch output: the recorded output of a real Slurm (``data/``), and
lines that are broken, hostile or from a Slurm that prints something else."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rosetta_slurm.parse import (
    SQUEUE_FORMAT,
    JobRecord,
    decode_exit_pair,
    decode_wait_status,
    first_host,
    parse_sacct,
    parse_sbatch,
    parse_squeue,
)

DATA = Path(__file__).parent / "data"


def recorded(name: str) -> str:
    return (DATA / name).read_text()


def test_squeue_format_asks_for_unpadded_fields_with_free_text_last() -> None:
    assert SQUEUE_FORMAT == "JobID:|,State:|,exit_code:|,BatchHost:|,NodeList:|,Name:|,Reason:"


def test_recorded_squeue() -> None:
    listing = parse_squeue(recorded("squeue-22.05.txt"))
    assert listing.garbled == {}
    records = listing.records
    assert len(records) == 15
    assert records["208"] == JobRecord(
        job_id="208", state="RUNNING", exit_status=0, reason="None", host="vm", name="cap-running"
    )
    assert records["223"].state == "COMPLETING" and records["223"].host == "vm"
    assert records["209"] == JobRecord(
        job_id="209", state="PENDING", exit_status=0, reason="JobHeldUser", host=None, name="cap-held"
    )
    assert records["218"].reason == "DependencyNeverSatisfied"
    # exit_code is a raw wait status: 768 is exit 3, 9 is signal 9, 15 (cancel, time limit) SIGTERM
    assert (records["213"].exit_status, records["213"].signal) == (3, None)
    assert (records["207"].exit_status, records["207"].signal) == (7, None)
    assert (records["214"].exit_status, records["214"].signal) == (None, 9)
    assert (records["215"].state, records["215"].signal) == ("CANCELLED", 15)
    timeout = records["217"]
    assert (timeout.state, timeout.signal, timeout.reason) == ("TIMEOUT", 15, "TimeLimit")
    assert (records["212"].state, records["212"].exit_status) == ("COMPLETED", 0)
    assert records["205"].reason == "JobLaunchFailure"


def test_recorded_sacct() -> None:
    listing = parse_sacct(recorded("sacct-22.05.txt"))
    assert listing.garbled == {}
    records = listing.records
    assert len(records) == 13
    assert records["215"] == JobRecord(
        job_id="215", state="CANCELLED", exit_status=0, note="by 0", reason="None", source="sacct"
    )
    assert (records["213"].state, records["213"].exit_status, records["213"].signal) == ("FAILED", 3, None)
    assert (records["214"].exit_status, records["214"].signal) == (None, 9)
    assert (records["205"].exit_status, records["205"].signal) == (None, 53)
    assert records["209"].reason == "JobHeldUser" and records["209"].state == "PENDING"
    assert records["217"].state == "TIMEOUT"
    assert all(r.host is None for r in records.values())


def test_squeue_name_and_reason_holding_the_separator() -> None:
    listing = parse_squeue(
        "5|RUNNING|0|n1|n1|my|odd|name|None\n"
        "6|PENDING|0|n/a||plain|ReqNodeNotAvail, UnavailableNodes:n[1-3]\n"
    )
    assert listing.records["5"].name == "my|odd|name" and listing.records["5"].reason == "None"
    assert listing.records["6"].reason == "ReqNodeNotAvail, UnavailableNodes:n[1-3]"


@pytest.mark.parametrize(
    "line",
    [
        "7|RUNNING|0|vm",  # cut short
        "7",
        "7|running|0|vm|vm|n|None",  # not a Slurm state word
        "7||0|vm|vm|n|None",
        "7|RUN NING|0|vm|vm|n|None",
        "7|RUNNING|0|vm|vm|name-without-reason",
    ],
)
def test_garbled_squeue_line_of_a_job_is_kept_apart(line: str) -> None:
    listing = parse_squeue(line + "\n")
    assert listing.records == {} and listing.garbled == {"7": line}


def test_lines_that_name_no_job_are_ignored() -> None:
    text = (
        "squeue: error: something\n"
        "\n"
        "   \n"
        "second half of a name\nholding a newline|None\n"
        "-1|RUNNING|0|vm|vm|n|None\n"
        "12abc|RUNNING|0|vm|vm|n|None\n"
        "\x1b[31m8|RUNNING|0|vm|vm|n|None\n"
    )
    listing = parse_squeue(text)
    assert listing.records == {} and listing.garbled == {}


def test_only_newline_splits_lines() -> None:
    # a job name may hold characters str.splitlines() would split on
    listing = parse_squeue("9|RUNNING|0|vm|vm|a\u2028b\x1cc\x85d|None\r\n")
    assert listing.records["9"].name == "a\u2028b\x1cc\x85d"
    assert listing.records["9"].reason == "None"


def test_a_good_line_after_a_garbled_one_of_the_same_job_wins() -> None:
    listing = parse_squeue("7|RUNNING\n7|RUNNING|0|vm|vm|n|None\n")
    assert "7" in listing.records and listing.garbled == {}


def test_hostile_host_fields_give_no_host() -> None:
    listing = parse_squeue("3|RUNNING|0|$(id)|;rm -rf /|n|None\n4|RUNNING|0|n/a|gpu[07-09,12],cpu1|n|None\n")
    assert listing.records["3"].host is None
    assert listing.records["4"].host == "gpu07"


@pytest.mark.parametrize(
    ("nodelist", "host"),
    [
        ("vm", "vm"),
        ("node[01-04]", "node01"),
        ("node[3,5-7]", "node3"),
        ("rack[1-2]-node[01-04]", "rack1-node01"),
        ("a1,b2", "a1"),
        ("", None),
        ("None assigned", None),
        ("(null)", None),
        ("n/a", None),
        ("-x", None),
        ("[01-03]", "01"),
    ],
)
def test_first_host(nodelist: str, host: str | None) -> None:
    assert first_host(nodelist) == host


@pytest.mark.parametrize(
    ("text", "decoded"),
    [
        ("0", (0, None)),
        ("768", (3, None)),
        ("256", (1, None)),
        ("9", (None, 9)),
        ("15", (None, 15)),
        ("4021", (None, 53)),
        ("4991", (None, None)),  # a stopped process (0x7f): no end to report
        ("4294967294", (None, None)),  # Slurm's NO_VAL
        ("", (None, None)),
        ("-1", (None, None)),
        ("3:0", (None, None)),
        ("x", (None, None)),
    ],
)
def test_decode_wait_status(text: str, decoded: tuple[int | None, int | None]) -> None:
    assert decode_wait_status(text) == decoded


@pytest.mark.parametrize(
    ("text", "decoded"),
    [
        ("3:0", (3, None)),
        ("0:0", (0, None)),
        ("0:9", (None, 9)),
        ("1:15", (None, 15)),
        ("", (None, None)),
        ("3", (None, None)),
        ("a:b", (None, None)),
        ("1234:0", (None, None)),
    ],
)
def test_decode_exit_pair(text: str, decoded: tuple[int | None, int | None]) -> None:
    assert decode_exit_pair(text) == decoded


def test_sacct_state_words_and_garbled_lines() -> None:
    listing = parse_sacct(
        "1|CANCELLED by 1001|0:15|None\n"
        "2|CANCELLED+|0:0|None\n"
        "3|FAILED|2:0|Reason with | a bar\n"
        "4|FAILED\n"
        "5|weird state|0:0|None\n"
        "6|COMPLETED|0:0|None\n"
        "6|FAILED|4:0|None\n"
        "x|COMPLETED|0:0|None\n"
    )
    assert listing.records["1"].note == "by 1001" and listing.records["1"].signal == 15
    assert listing.records["2"].state == "CANCELLED"
    assert listing.records["3"].reason == "Reason with | a bar"
    assert listing.records["6"].state == "FAILED"  # the last line of a job wins
    assert sorted(listing.garbled) == ["4", "5"]


@pytest.mark.parametrize(
    ("stdout", "job_id"),
    [
        ("1234\n", "1234"),
        ("1234;testbed\n", "1234"),
        ("sbatch: warning: something\n1234\n", "1234"),
        ("", None),
        ("Submitted batch job 1234\n", None),
        ("12 34\n", None),
        ("--wrap\n", None),
    ],
)
def test_parse_sbatch(stdout: str, job_id: str | None) -> None:
    assert parse_sbatch(stdout) == job_id


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parsers_never_raise(text: str) -> None:
    for parse in (parse_squeue, parse_sacct):
        listing = parse(text)
        assert all(r.job_id == key for key, r in listing.records.items())
        assert not set(listing.records) & set(listing.garbled)
    parse_sbatch(text)
    first_host(text)
    decode_wait_status(text)
    decode_exit_pair(text)
