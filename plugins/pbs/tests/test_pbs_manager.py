"""PBSWorkloadManager against scripted qsub/qstat/qdel answers (the real ones: test_pbs_testbed.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rosetta_core.engines import Observed, TaskSpec
from rosetta_core.errors import (
    BackendError,
    BackendUnavailable,
    CommandNotFound,
    CommandTimeout,
    ExecutorError,
)
from rosetta_core.testing.fakes import ScriptedExecutor
from rosetta_core.workload import WorkloadManager
from rosetta_pbs.manager import PBSWorkloadManager
from rosetta_pbs.options import PBSOptions

DATA = Path(__file__).parent / "data"
HOME = "/home/alice"
JOBS = f"{HOME}/.rosetta/jobs"
TASK = "0b5e2d1c9a8f4e7d6c5b4a3f2e1d0c9b"
SPEC = TaskSpec(task_id=TASK, name=f"rosetta-{TASK}", image="x")


def sample(name: str) -> str:
    return (DATA / name).read_text()


def manager(**options: Any) -> PBSWorkloadManager:
    return PBSWorkloadManager(PBSOptions(**options))


@pytest.fixture
def executor() -> ScriptedExecutor:
    scripted = ScriptedExecutor()
    scripted.expect(("sh", "-c"), stdout=f"alice\n{HOME}\n")
    scripted.expect(("ln",))
    return scripted


def test_is_a_workload_manager() -> None:
    assert isinstance(manager(), WorkloadManager) and manager().name == "pbs"


# ---------------------------------------------------------------- submit


def test_submit_writes_the_script_and_passes_output_options_on_the_command_line(
    executor: ScriptedExecutor,
) -> None:
    executor.expect(("qsub",), stdout="4211.pbs01\n")
    wm = manager()
    script = wm.render_script(SPEC, ["sleep", "60"])
    assert wm.submit(script, SPEC, executor) == "4211.pbs01"
    name = f"rosetta-{TASK}"
    assert executor.files[f"{JOBS}/{name}.pbs"] == script.encode()
    assert executor.argvs()[1:] == [
        ("qsub", "-j", "oe", "-o", f"{JOBS}/{name}.out", "-k", "oed", f"{JOBS}/{name}.pbs"),
        ("ln", "-sfn", "--", f"{name}.out", f"{JOBS}/4211.pbs01.out"),
    ]
    assert executor.calls[0].argv[-1] == ".rosetta/jobs"  # the folder is made first


def test_torque_submission_uses_the_short_name_and_no_keep_option(executor: ScriptedExecutor) -> None:
    executor.expect(("/opt/torque/bin/qsub",), stdout="8812.torque01.example.org\n")
    wm = manager(dialect="torque", qsub="/opt/torque/bin/qsub", job_dir="/scratch/jobs")
    job = wm.submit(wm.render_script(SPEC, ["true"]), SPEC, executor)
    assert job == "8812.torque01.example.org"
    assert executor.argvs()[1] == (
        "/opt/torque/bin/qsub",
        "-j",
        "oe",
        "-o",
        "/scratch/jobs/r0b5e2d1c9a8f4e.out",
        "/scratch/jobs/r0b5e2d1c9a8f4e.pbs",
    )


def test_a_refusal_carries_qsubs_words(executor: ScriptedExecutor) -> None:
    executor.expect(("qsub",), stdout=sample("wrappers-qsub-refused.txt"), returncode=1)
    with pytest.raises(BackendError, match="Invalid partition name specified") as caught:
        manager().submit("#!/bin/bash\n", SPEC, executor)
    assert not isinstance(caught.value, BackendUnavailable)
    executor.expect(("qsub",), stderr="qsub: Unknown queue\n", returncode=170)
    with pytest.raises(BackendError, match="qsub refused the job: qsub: Unknown queue"):
        manager().submit("#!/bin/bash\n", SPEC, executor)


@pytest.mark.parametrize(
    "answer",
    [
        {
            "stderr": "Connection refused\nqsub: cannot connect to server pbs01 (errno=15010)\n",
            "returncode": 1,
        },
        {
            "stdout": "sbatch: error: Batch job submission failed: Unable to contact slurm controller\n",
            "returncode": 1,
        },
        {"stdout": "Job submitted, but no id for you\n"},
        {"raises": ExecutorError("connection lost")},
        {"raises": CommandTimeout("qsub did not finish")},
    ],
)
def test_an_unreachable_server_or_unreadable_answer_is_unavailable(
    executor: ScriptedExecutor, answer: dict[str, Any]
) -> None:
    executor.expect(("qsub",), **answer)
    with pytest.raises(BackendUnavailable):
        manager().submit("#!/bin/bash\n", SPEC, executor)


def test_a_missing_qsub_fails_for_good(executor: ScriptedExecutor) -> None:
    executor.expect(("qsub",), raises=CommandNotFound("program not found: qsub"))
    with pytest.raises(BackendError, match="not installed") as caught:
        manager().submit("#!/bin/bash\n", SPEC, executor)
    assert not isinstance(caught.value, BackendUnavailable)


def test_a_failed_link_still_returns_the_job(executor: ScriptedExecutor) -> None:
    executor.expect(("qsub",), stdout="4211.pbs01\n")
    executor.expect(("ln",), raises=ExecutorError("connection lost"))
    assert manager().submit("#!/bin/bash\n", SPEC, executor) == "4211.pbs01"


def test_a_bad_handle_never_reaches_a_path_or_argv(executor: ScriptedExecutor) -> None:
    with pytest.raises(BackendError, match="job name"):
        manager().submit("#!/bin/bash\n", TaskSpec(task_id="t", name="../x y", image="x"), executor)
    assert executor.calls == []


# ---------------------------------------------------------------- query_many


@pytest.mark.parametrize(
    ("options", "argv"),
    [
        ({}, ("qstat", "-f", "-x", "4211.pbs01", "4212.pbs01")),
        ({"qstat_format": "json"}, ("qstat", "-f", "-F", "json", "-x", "4211.pbs01", "4212.pbs01")),
        ({"qstat_format": "table"}, ("qstat", "-x", "4211.pbs01", "4212.pbs01")),
        ({"dialect": "torque"}, ("qstat", "-f", "4211.pbs01", "4212.pbs01")),
        ({"dialect": "torque", "qstat_format": "table"}, ("qstat", "4211.pbs01", "4212.pbs01")),
    ],
)
def test_one_qstat_call_per_format(
    executor: ScriptedExecutor, options: dict[str, Any], argv: tuple[str, ...]
) -> None:
    executor.expect(("qstat",), stdout="")
    manager(**options).query_many(["4211.pbs01", "4212.pbs01", "4211.pbs01"], executor)
    assert executor.argvs() == [argv]


def test_pbspro_full_answers(executor: ScriptedExecutor) -> None:
    executor.expect(
        ("qstat",), stdout=sample("pbspro-full.txt"), stderr=sample("pbspro-unknown.stderr"), returncode=153
    )
    executor.files[f"{JOBS}/4213.pbs01.out"] = "".join(f"line {n}\n" for n in range(100)).encode()
    ids = ["4211.pbs01", "4212.pbs01", "4213.pbs01", "4214.pbs01", "999999.pbs01"]
    answers = manager().query_many(ids, executor)
    assert {job: answers[job].state for job in ids} == {
        "4211.pbs01": Observed.RUNNING,
        "4212.pbs01": Observed.EXITED,
        "4213.pbs01": Observed.FAILED,
        "4214.pbs01": Observed.PENDING,
        "999999.pbs01": Observed.GONE,
    }
    failed = answers["4213.pbs01"]
    assert failed.exit_code == 3
    assert failed.detail == "job exited with code 3; last lines of its output:\n" + "\n".join(
        f"line {n}" for n in range(80, 100)
    )
    assert answers["4211.pbs01"].host == "cn017" and answers["4212.pbs01"].exit_code == 0
    assert [a[0] for a in executor.argvs()].count("qstat") == 1


def test_json_answers(executor: ScriptedExecutor) -> None:
    executor.expect(("qstat",), stdout=sample("pbspro-full.json"))
    answers = manager(qstat_format="json").query_many(["4211.pbs01", "4213.pbs01", "4214.pbs01"], executor)
    assert [answers[j].state for j in ("4211.pbs01", "4213.pbs01", "4214.pbs01")] == [
        Observed.RUNNING,
        Observed.FAILED,
        Observed.PENDING,
    ]
    assert answers["4213.pbs01"].detail == "job exited with code 3"  # no output file to show


def test_torque_answers_and_its_unknown_message(executor: ScriptedExecutor) -> None:
    executor.expect(
        ("qstat",), stdout=sample("torque-full.txt"), stderr=sample("torque-unknown.stderr"), returncode=153
    )
    ids = ["8812.torque01.example.org", "8814.torque01.example.org", "999999.torque01.example.org"]
    answers = manager(dialect="torque").query_many(ids, executor)
    assert [(answers[j].state, answers[j].exit_code) for j in ids] == [
        (Observed.RUNNING, None),
        (Observed.FAILED, 143),
        (Observed.GONE, None),
    ]
    assert answers[ids[0]].host == "node07"


def test_the_output_tail_falls_back_to_the_name(executor: ScriptedExecutor) -> None:
    executor.expect(("qstat",), stdout=sample("wrappers-full.txt"))
    executor.files[f"{JOBS}/r7c1e9d2a4b6f80.out"] = b"loading model\nerror: no such file: weights.bin\n"
    answers = manager(dialect="torque").query_many(["268"], executor)
    assert answers["268"].state is Observed.EXITED and answers["268"].exit_code is None
    assert answers["268"].detail.endswith("its output:\nloading model\nerror: no such file: weights.bin")


def test_the_output_tail_is_bounded_and_printable(executor: ScriptedExecutor) -> None:
    executor.expect(("qstat",), stdout=sample("torque-full.txt"))
    executor.files[f"{JOBS}/8813.torque01.example.org.out"] = b"x" * 50_000 + b"\nbad \x1b[1m\xff end\n"
    detail = (
        manager(dialect="torque")
        .query_many(["8813.torque01.example.org"], executor)["8813.torque01.example.org"]
        .detail
    )
    assert detail.endswith("bad ?[1m\ufffd end") and len(detail) < 2100


def test_no_ids_no_call(executor: ScriptedExecutor) -> None:
    assert dict(manager().query_many([], executor)) == {}
    assert executor.calls == []


def test_ids_that_are_no_job_ids_never_reach_qstat(executor: ScriptedExecutor) -> None:
    executor.expect(("qstat",), stdout="")
    answers = manager(absent_is_gone=True).query_many(["-x", "1;id", "4211.pbs01"], executor)
    assert answers["-x"].state is Observed.UNKNOWN and answers["1;id"].state is Observed.UNKNOWN
    assert answers["4211.pbs01"].state is Observed.GONE
    assert executor.argvs() == [("qstat", "-f", "-x", "4211.pbs01")]
    assert manager().query_many(["-x"], executor)["-x"].state is Observed.UNKNOWN
    assert len(executor.calls) == 1


def test_silence_is_gone_only_when_asked_and_clean(executor: ScriptedExecutor) -> None:
    executor.expect(("qstat",), stdout="", returncode=153)  # the wrappers' answer for an unknown id
    assert manager().query_many(["5"], executor)["5"].state is Observed.UNKNOWN
    assert manager(absent_is_gone=True).query_many(["5"], executor)["5"].state is Observed.GONE
    executor.expect(("qstat",), stdout="", stderr="qstat: something odd\n", returncode=153)
    obs = manager(absent_is_gone=True).query_many(["5"], executor)["5"]
    assert obs.state is Observed.UNKNOWN and "something odd" in obs.detail
    executor.expect(("qstat",), stdout="garbage line\n")
    assert manager(absent_is_gone=True).query_many(["5"], executor)["5"].state is Observed.UNKNOWN


def test_finished_without_history(executor: ScriptedExecutor) -> None:
    executor.expect(("qstat",), stderr=sample("pbspro-finished-no-history.stderr"), returncode=35)
    obs = manager().query_many(["4212.pbs01"], executor)["4212.pbs01"]
    assert obs.state is Observed.EXITED and obs.exit_code is None


@pytest.mark.parametrize(
    "answer",
    [
        {"stdout": "", "stderr": "Problem loading jobs.\n", "returncode": 255},
        {"stdout": "", "stderr": sample("wrappers-qstat-x.txt"), "returncode": 2},
        {"stdout": "", "stderr": "qstat: cannot connect to server pbs01 (errno=111)\n", "returncode": 153},
        {"stdout": "", "stderr": "", "returncode": 1},
        {"raises": ExecutorError("connection lost")},
        {"raises": CommandTimeout("qstat did not finish")},
        {"raises": CommandNotFound("program not found: qstat")},
    ],
)
def test_a_failed_poll_raises_and_never_ends_a_job(
    executor: ScriptedExecutor, answer: dict[str, Any]
) -> None:
    executor.expect(("qstat",), **answer)
    with pytest.raises(BackendUnavailable):
        manager(absent_is_gone=True).query_many(["4211.pbs01"], executor)


def test_unreadable_json_is_unavailable(executor: ScriptedExecutor) -> None:
    executor.expect(("qstat",), stdout='{"Jobs": {"4211.pbs01": {"job_state": "R"')
    with pytest.raises(BackendUnavailable, match="qstat_format"):
        manager(qstat_format="json").query_many(["4211.pbs01"], executor)


def test_a_table_answers_states(executor: ScriptedExecutor) -> None:
    executor.expect(("qstat",), stdout=sample("pbspro-table.txt"))
    answers = manager(qstat_format="table").query_many(["4211.pbs01", "1234567.pbsserver02"], executor)
    assert answers["4211.pbs01"].state is Observed.RUNNING
    assert answers["1234567.pbsserver02"].state is Observed.PENDING


# ---------------------------------------------------------------- find_jobs


def test_find_jobs_keeps_to_the_accounts_own_jobs(executor: ScriptedExecutor) -> None:
    theirs = (
        "Job Id: 5000.pbs01\n    Job_Name = rosetta-{t}\n    Job_Owner = mallory@login01\n"
        "    job_state = R\n\n"
    )
    listing = theirs.format(t=TASK) + sample("pbspro-full.txt").replace("4211.pbs01", "4000.pbs01").replace(
        "0b5e2d1c9a8f4e7d6c5b4a3f2e1d0c9b", TASK
    )
    executor.expect(("qstat",), stdout=listing)
    found = manager().find_jobs([f"rosetta-{TASK}", "rosetta-nothere"], executor)
    assert found == {f"rosetta-{TASK}": "4000.pbs01"}
    assert executor.argvs()[-1] == ("qstat", "-f")


def test_find_jobs_prefers_a_live_job_then_the_newest(executor: ScriptedExecutor) -> None:
    def job(job_id: str, state: str) -> str:
        return (
            f"Job Id: {job_id}\n    Job_Name = r0b5e2d1c9a8f4e\n    Job_Owner = alice@h\n"
            f"    job_state = {state}\n\n"
        )

    executor.expect(("qstat",), stdout=job("9.t", "C") + job("7.t", "R") + job("8.t", "Q"), returncode=0)
    assert manager(dialect="torque").find_jobs([f"rosetta-{TASK}"], executor) == {f"rosetta-{TASK}": "8.t"}


def test_find_jobs_with_json_and_nothing_listed(executor: ScriptedExecutor) -> None:
    executor.expect(("qstat",), stdout=sample("openpbs-empty.json"))
    assert manager(qstat_format="json").find_jobs([f"rosetta-{TASK}"], executor) == {}
    assert executor.argvs()[-1] == ("qstat", "-f", "-F", "json")
    executor.expect(("qstat",), stdout="", returncode=153)  # the wrappers with no job at all
    assert manager().find_jobs([f"rosetta-{TASK}"], executor) == {}
    assert manager().find_jobs([], executor) == {}


def test_find_jobs_fails_loudly(executor: ScriptedExecutor) -> None:
    executor.expect(("qstat",), stderr="qstat: cannot connect to server pbs01\n", returncode=2)
    with pytest.raises(BackendUnavailable):
        manager().find_jobs([f"rosetta-{TASK}"], executor)


# ---------------------------------------------------------------- cancel


def test_cancel(executor: ScriptedExecutor) -> None:
    executor.expect(("qdel",))
    manager().cancel("4211.pbs01", executor)
    assert executor.argvs() == [("qdel", "4211.pbs01")]


@pytest.mark.parametrize(
    "words",
    [
        "qdel: Unknown Job Id 4211.pbs01\n",
        "qdel: Job has finished 4211.pbs01\n",
        "qdel: Unknown Job Id Error 4211.pbs01\n",
        "qdel: Invalid state for job - COMPLETE 4211.pbs01\n",
    ],
)
def test_cancelling_a_finished_or_unknown_job_is_no_error(executor: ScriptedExecutor, words: str) -> None:
    executor.expect(("qdel",), stderr=words, returncode=153)
    manager().cancel("4211.pbs01", executor)
    assert len(executor.calls) == 1


def test_a_silent_qdel_is_checked_with_qstat(executor: ScriptedExecutor) -> None:
    executor.expect(("qdel",), returncode=1)  # the wrappers: no words at all
    executor.expect(("qstat",), stdout=sample("wrappers-full.txt"))
    wm = manager(dialect="torque", absent_is_gone=True)
    wm.cancel("268", executor)  # finished (C)
    wm.cancel("999", executor)  # not listed
    with pytest.raises(BackendError, match="could not cancel job 267"):
        wm.cancel("267", executor)  # still running


def test_cancel_errors(executor: ScriptedExecutor) -> None:
    with pytest.raises(BackendError, match="not a PBS job id"):
        manager().cancel("-W", executor)
    executor.expect(("qdel",), stderr="qdel: cannot connect to server pbs01\n", returncode=1)
    with pytest.raises(BackendUnavailable):
        manager().cancel("4211.pbs01", executor)
    executor.expect(("qdel",), raises=ExecutorError("connection lost"))
    with pytest.raises(BackendUnavailable):
        manager().cancel("4211.pbs01", executor)


# ---------------------------------------------------------------- logs


def test_logs(executor: ScriptedExecutor) -> None:
    executor.files[f"{JOBS}/4211.pbs01.out"] = b"one\ntwo\nthree\n"
    wm = manager()
    assert wm.logs("4211.pbs01", executor) == "one\ntwo\nthree\n"
    assert wm.logs("4211.pbs01", executor, tail=2) == "two\nthree\n"
    assert wm.logs("4211.pbs01", executor, tail=0) == ""
    assert wm.logs("4299.pbs01", executor) == ""
    assert wm.logs("../../etc/passwd", executor) == ""
