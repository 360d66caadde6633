"""The qstat parsers on recorded and documented output, and on garbled or hostile text."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rosetta_pbs.qstat import (
    JobRecord,
    QstatOutputError,
    newest_first,
    parse_full,
    parse_json,
    parse_messages,
    parse_table,
)

DATA = Path(__file__).parent / "data"


def sample(name: str) -> str:
    return (DATA / name).read_text()


def test_wrappers_full() -> None:
    listing = parse_full(sample("wrappers-full.txt"))
    assert listing.problems == ()
    running, ended = listing.records
    assert (running.job_id, running.name, running.state, running.owner) == (
        "267",
        "rosetta-5f0c2b7e9a1d4c3b8e6f7a2b1c0d9e8f",
        "R",
        "root",
    )
    assert running.get("exec_host") == "vm/1" and running.get("Resource_List.walltime") == "00:10:00"
    assert (ended.job_id, ended.name, ended.state, ended.get("Exit_status")) == (
        "268",
        "r7c1e9d2a4b6f80",
        "C",
        None,
    )
    assert all(r.problem is None for r in listing.records)


def test_pbspro_full_joins_wrapped_values() -> None:
    listing = parse_full(sample("pbspro-full.txt"))
    assert listing.problems == ()
    assert [r.job_id for r in listing.records] == [f"42{n}.pbs01" for n in range(11, 16)]
    running = listing.records[0]
    assert running.name == "rosetta-0b5e2d1c9a8f4e7d6c5b4a3f2e1d0c9b"
    assert running.get("Output_Path") == (
        "login01.cluster.example.org:/home/alice/.rosetta/jobs/rosetta-0b5e2d1c9a8f4e7d6c5b4a3f2e1d0c9b.out"
    )
    assert (running.get("Variable_List") or "").endswith("PBS_O_HOST=login01.cluster.example.org")
    assert running.owner == "alice"
    assert [r.get("Exit_status") for r in listing.records] == [None, "0", "3", None, "271"]
    assert (
        listing.records[3].get("comment")
        == "Not Running: Insufficient amount of resource: ngpus (R: 1 A: 0 T: 8)"
    )


def test_torque_full() -> None:
    listing = parse_full(sample("torque-full.txt"))
    assert listing.problems == ()
    assert [(r.job_id, r.state, r.get("exit_status")) for r in listing.records] == [
        ("8812.torque01.example.org", "R", None),
        ("8813.torque01.example.org", "C", "3"),
        ("8814.torque01.example.org", "C", "271"),
        ("8815.torque01.example.org", "C", "0"),
    ]
    assert (
        listing.records[0].get(
            "Error_Path",
        )
        == "login01.example.org:/home/alice/.rosetta/jobs/r0b5e2d1c9a8f4e.out"
    )
    # Torque spells it exit_status; the lookup falls back to any case
    assert listing.records[1].get("Exit_status") == "3"


def test_pbspro_json() -> None:
    listing = parse_json(sample("pbspro-full.json"))
    assert listing.problems == ()
    by_id = {r.job_id: r for r in listing.records}
    assert set(by_id) == {"4211.pbs01", "4212.pbs01", "4213.pbs01", "4214.pbs01"}
    running = by_id["4211.pbs01"]
    assert running.state == "R" and running.get("exec_host") == "cn017/0*2"
    assert running.get("Resource_List.ncpus") == "2" and running.get("Variable_List.PBS_NCPUS") == "2"
    assert by_id["4213.pbs01"].get("Exit_status") == "3" and by_id["4214.pbs01"].state == "H"


def test_openpbs_json_without_jobs_and_with_raw_control_characters() -> None:
    assert parse_json(sample("openpbs-empty.json")).records == ()
    (record,) = parse_json(sample("openpbs-exec-failure.json")).records
    assert record.get("Exit_status") == "-1" and "\t" in (record.get("comment") or "")


def test_no_json_output_is_no_job() -> None:
    assert parse_json("").records == parse_json(" \n").records == ()


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"Jobs": [1]}', '{"Jobs": {"1.x": {'])
def test_unreadable_json_raises(text: str) -> None:
    with pytest.raises(QstatOutputError):
        parse_json(text)


def test_json_record_that_is_no_object_is_flagged() -> None:
    listing = parse_json('{"Jobs": {"1.x": "R", "2.x": {"Job_Name": "n"}}}')
    assert [(r.job_id, r.problem) for r in listing.records] == [
        ("1.x", "its record is not an object"),
        ("2.x", "no job_state"),
    ]


def test_tables() -> None:
    pbspro = parse_table(sample("pbspro-table.txt"))
    assert [(r.job_id, r.state) for r in pbspro.records] == [
        ("4211.pbs01", "R"),
        ("4212.pbs01", "F"),
        ("4214.pbs01", "H"),
        ("1234567.pbsserv*", "Q"),
    ]
    assert pbspro.find("1234567.pbsserver02") is pbspro.records[3]
    torque = parse_table(sample("torque-table.txt"))
    assert torque.find("8813.torque01.example.org") is torque.records[1]
    wrappers = parse_table(sample("wrappers-table.txt"))
    assert [(r.job_id, r.state, r.name) for r in wrappers.records] == [
        ("267", "R", "rosetta-5f0c2b7e"),
        ("268", "C", "r7c1e9d2a4b6f80"),
    ]
    assert pbspro.problems == torque.problems == wrappers.problems == ()


def test_table_lines_that_do_not_fit_are_problems() -> None:
    listing = parse_table(
        "Job id Name User Time S Queue\n---- ---\n12 a b 0 R q\nqstat: oops\n13 x y 0 RR q\n"
    )
    assert [r.job_id for r in listing.records] == ["12"]
    assert listing.problems == ("qstat: oops", "13 x y 0 RR q")


def test_find_prefers_the_exact_spelling() -> None:
    listing = parse_full("Job Id: 5.a\n    job_state = R\n\nJob Id: 5.a.b\n    job_state = Q\n")
    assert listing.find("5.a.b") is listing.records[1]
    assert listing.find("5.a") is listing.records[0]
    assert listing.find("5") is listing.records[1]  # bare: the longest spelling
    assert listing.find("6.a") is None


def test_garbled_lines_are_problems_and_taint_their_record() -> None:
    text = (
        "some banner before any job\n"
        "Job Id: 1.srv\n"
        "    Job_Name = a\n"
        "    job_state = R\n"
        "garbage in the middle\n"
        "\n"
        "Job Id: 2.srv\n"
        "    job_state = Q\n"
    )
    listing = parse_full(text)
    assert listing.problems == ("some banner before any job", "garbage in the middle")
    first, second = listing.records
    assert first.problem is not None and "garbage" in first.problem
    assert second.problem is None and second.state == "Q"


def test_a_value_cannot_pose_as_a_second_job_or_attribute() -> None:
    # a hostile job name carrying what looks like more qstat lines (a wrapper prints names raw)
    text = (
        "Job Id:\t300\n"
        "\tJob_Name = x\n"
        "\tjob_state = C\n"
        "\tJob_Owner = mallory@localhost\n"
        "\tjob_state = R\n"
        "\n"
        "Job Id: 4.srv\n"
        "    Job_Name = y\n"
        "\tjob_state = F\n"  # a continuation (other indent), not the attribute
        "    job_state = R\n"
    )
    listing = parse_full(text)
    first, second = listing.records
    assert first.problem == "attribute job_state is given twice"
    assert second.problem is None and second.state == "R" and second.name == "yjob_state = F"


def test_a_record_without_a_state_is_flagged() -> None:
    (record,) = parse_full("Job Id: 9.srv\n    Job_Name = n\n").records
    assert record.problem == "no job_state" and record.state is None


@pytest.mark.parametrize("state", ["", "RR", "r", "1", "R;"])
def test_a_malformed_state_reads_as_none(state: str) -> None:
    assert JobRecord(job_id="1", attributes={"job_state": state}).state is None


@given(st.text(max_size=400))
def test_parsers_never_raise_on_any_text(text: str) -> None:
    for listing in (parse_full(text), parse_table(text)):
        assert len(listing.problems) <= 20
        assert all(len(p) <= 200 for p in listing.problems)


def test_messages() -> None:
    wanted = ["999999.pbs01", "4212.pbs01", "8812.torque01.example.org", "999999.torque01.example.org"]
    stderr = (
        sample("pbspro-unknown.stderr")
        + sample("pbspro-finished-no-history.stderr")
        + sample("torque-unknown.stderr")
        + "qstat: Unknown Job Id 5555.elsewhere\n"
        + "perl: warning: Setting locale failed.\n"
        + "qdel: Job has finished 12.x\n"
    )
    messages = parse_messages(stderr, wanted)
    assert messages.unknown == {"999999.pbs01", "999999.torque01.example.org"}
    assert messages.finished == {"4212.pbs01"}
    assert messages.other == (
        "qstat: Unknown Job Id 5555.elsewhere",
        "perl: warning: Setting locale failed.",
        "qdel: Job has finished 12.x",
    )
    assert parse_messages("qdel: Job has finished 12.x\n", ["12.x"]).finished == {"12.x"}
    assert parse_messages("", wanted) == parse_messages("\n\n", wanted)


def test_newest_first() -> None:
    records = [JobRecord(job_id=j) for j in ("9.a", "10.a", "2.a")]
    assert [r.job_id for r in newest_first(records)] == ["10.a", "9.a", "2.a"]
