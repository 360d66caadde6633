"""The workload manager's commands: first against a scripted executor (every argv, every failure
Slurm or the executor can show), then against the testbed's real Slurm."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rosetta_core.engines import Observation, Observed, TaskSpec, handle_for
from rosetta_core.errors import (
    BackendError,
    BackendUnavailable,
    CommandNotFound,
    CommandTimeout,
    ExecutorError,
)
from rosetta_core.executors import LocalExecutor
from rosetta_core.model import new_id
from rosetta_core.testing.counting import CountingExecutor
from rosetta_core.testing.fakes import ScriptedExecutor
from rosetta_core.testing.testbed import unprivileged_account
from rosetta_slurm import SlurmOptions, SlurmWorkloadManager
from rosetta_slurm.parse import SQUEUE_FORMAT

DATA = Path(__file__).parent / "data"
JOB_DIR = "/scratch/jobs"
SQUEUE = (
    "squeue",
    "--noheader",
    "--all",
    "--me",
    "--states=all",
    f"--Format={SQUEUE_FORMAT}",
)
SACCT = ("sacct", "--allocations", "--noheader", "--parsable2")


def recorded(name: str) -> str:
    return (DATA / name).read_text()


def make_spec() -> TaskSpec:
    task_id = new_id()
    return TaskSpec(task_id=task_id, name=handle_for(task_id), image="localhost/none:latest")


@pytest.fixture
def wm() -> SlurmWorkloadManager:
    return SlurmWorkloadManager(SlurmOptions(job_dir=JOB_DIR, timeout=12))


@pytest.fixture
def ex() -> ScriptedExecutor:
    executor = ScriptedExecutor()
    executor.expect(["mkdir"])
    executor.expect(SQUEUE, stdout=recorded("squeue-22.05.txt"))
    executor.expect(SACCT, stdout="")
    return executor


def programs(executor: ScriptedExecutor) -> list[str]:
    return [argv[0] for argv in executor.argvs()]


# ---------------------------------------------------------------- submit


def test_submit_makes_the_folder_then_pipes_the_script_to_sbatch(
    wm: SlurmWorkloadManager, ex: ScriptedExecutor
) -> None:
    ex.expect(["sbatch"], stdout="4242;testbed\n")
    spec = make_spec()
    script = wm.render_script(spec, ["sleep", "300"])
    assert wm.submit(script, spec, ex) == "4242"
    mkdir, sbatch = ex.calls
    assert mkdir.argv == ("mkdir", "-p", "-m", "700", "--", JOB_DIR)
    assert sbatch.argv == ("sbatch", "--parsable", f"--chdir={JOB_DIR}")
    assert sbatch.input == script
    assert sbatch.timeout == mkdir.timeout == 12


def test_a_relative_job_folder_is_under_the_accounts_home() -> None:
    wm = SlurmWorkloadManager(SlurmOptions(sbatch="/opt/slurm/bin/sbatch", job_dir=".rosetta/jobs"))
    ex = ScriptedExecutor()
    ex.expect(["sh", "-c"], stdout="/home/ada")
    ex.expect(["mkdir"])
    ex.expect(["/opt/slurm/bin/sbatch"], stdout="7\n")
    assert wm.submit("#!/bin/bash\n", make_spec(), ex) == "7"
    assert wm.submit("#!/bin/bash\n", make_spec(), ex) == "7"
    assert ex.argvs()[:3] == [
        ("sh", "-c", 'printf "%s" "$HOME"'),
        ("mkdir", "-p", "-m", "700", "--", "/home/ada/.rosetta/jobs"),
        ("/opt/slurm/bin/sbatch", "--parsable", "--chdir=/home/ada/.rosetta/jobs"),
    ]
    assert programs(ex).count("sh") == 1  # asked once per executor
    ex.files["/home/ada/.rosetta/jobs/7.log"] = b"hello\n"
    assert wm.logs("7", ex) == "hello"
    assert programs(ex).count("sh") == 1


@pytest.mark.parametrize(
    "answer",
    [
        {"raises": ExecutorError("connection lost")},
        {"raises": CommandTimeout("slow")},
        {"returncode": 1, "stderr": "sh: not found"},
        {"stdout": "relative/home"},
        {"stdout": ""},
        {"stdout": "/home/a\n#SBATCH --uid=0"},
    ],
)
def test_a_home_that_cannot_be_known_stops_the_submission(answer: dict[str, object]) -> None:
    wm = SlurmWorkloadManager(SlurmOptions(job_dir="jobs"))
    ex = ScriptedExecutor()
    ex.expect(["sh", "-c"], **answer)  # type: ignore[arg-type]
    with pytest.raises(BackendError, match="home folder"):
        wm.submit("#!/bin/bash\n", make_spec(), ex)
    assert programs(ex) == ["sh"]


def test_sbatch_refusal_is_a_backend_error_with_its_words(
    wm: SlurmWorkloadManager, ex: ScriptedExecutor
) -> None:
    ex.expect(["sbatch"], returncode=1, stderr=recorded("sbatch-bad-partition.stderr"))
    with pytest.raises(BackendError, match=r"(?s)sbatch refused the job: .*Invalid partition name") as caught:
        wm.submit("#!/bin/bash\n", make_spec(), ex)
    assert not isinstance(caught.value, BackendUnavailable)


def test_sbatch_without_a_controller_is_unavailable(wm: SlurmWorkloadManager, ex: ScriptedExecutor) -> None:
    ex.expect(["sbatch"], returncode=1, stderr=recorded("sbatch-controller-down.stderr"))
    with pytest.raises(BackendUnavailable, match="Unable to contact slurm controller"):
        wm.submit("#!/bin/bash\n", make_spec(), ex)


@pytest.mark.parametrize("stdout", ["", "Submitted batch job 12\n", "garbage"])
def test_sbatch_answer_without_a_job_id_is_unavailable(
    wm: SlurmWorkloadManager, ex: ScriptedExecutor, stdout: str
) -> None:
    # the job may exist: "unavailable" makes the orchestrator look it up by name, never fail it
    ex.expect(["sbatch"], stdout=stdout)
    with pytest.raises(BackendUnavailable, match="without a job id"):
        wm.submit("#!/bin/bash\n", make_spec(), ex)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ExecutorError("connection lost"), BackendUnavailable),
        (CommandTimeout("too slow"), BackendUnavailable),
        (BackendUnavailable("host down"), BackendUnavailable),
        (CommandNotFound("program not found: sbatch"), BackendError),
    ],
)
def test_executor_trouble_while_submitting(
    wm: SlurmWorkloadManager, ex: ScriptedExecutor, error: Exception, expected: type[Exception]
) -> None:
    ex.expect(["sbatch"], raises=error)
    with pytest.raises(expected) as caught:
        wm.submit("#!/bin/bash\n", make_spec(), ex)
    assert type(caught.value) is expected


def test_a_job_folder_that_cannot_be_made_is_a_backend_error(
    wm: SlurmWorkloadManager, ex: ScriptedExecutor
) -> None:
    ex.expect(["mkdir"], returncode=1, stderr="mkdir: cannot create directory: Permission denied")
    with pytest.raises(BackendError, match="Permission denied"):
        wm.submit("#!/bin/bash\n", make_spec(), ex)
    assert programs(ex) == ["mkdir"]


# ---------------------------------------------------------------- query_many


def test_nothing_to_ask_asks_nothing(wm: SlurmWorkloadManager, ex: ScriptedExecutor) -> None:
    assert wm.query_many([], ex) == {}
    assert ex.calls == []


def test_jobs_the_queue_lists_need_one_squeue_call(wm: SlurmWorkloadManager, ex: ScriptedExecutor) -> None:
    ex.files[f"{JOB_DIR}/213.log"] = b"starting\nboom\n"
    answers = wm.query_many(["208", "209", "212", "213", "208"], ex)
    assert programs(ex) == ["squeue"]
    assert [c.timeout for c in ex.calls] == [12]
    assert answers["208"] == Observation(state=Observed.RUNNING, host="vm", detail="running on vm")
    assert answers["209"].state is Observed.PENDING
    assert (answers["212"].state, answers["212"].exit_code) == (Observed.EXITED, 0)
    assert (answers["213"].state, answers["213"].exit_code) == (Observed.FAILED, 3)
    assert answers["213"].detail == (
        "the job failed: exit code 3\nlast lines of the job's output:\nstarting\nboom"
    )
    assert set(answers) == {"208", "209", "212", "213"}


def test_ids_the_queue_does_not_list_need_one_sacct_call(
    wm: SlurmWorkloadManager, ex: ScriptedExecutor
) -> None:
    ex.expect(SACCT, stdout="9001|COMPLETED|0:0|None\n9002|FAILED|3:0|None\n9004|CANCELLED by 0|0:0|None\n")
    answers = wm.query_many(["208", "9001", "9002", "9003", "9004"], ex)
    assert programs(ex) == ["squeue", "sacct"]
    assert ex.calls[1].argv == (*SACCT, "--jobs=9001,9002,9003,9004", "--format=JobID,State,ExitCode,Reason")
    assert answers["208"].state is Observed.RUNNING
    assert (answers["9001"].state, answers["9001"].exit_code) == (Observed.EXITED, 0)
    assert (answers["9002"].state, answers["9002"].exit_code) == (Observed.FAILED, 3)
    assert answers["9002"].detail == "the job failed: exit code 3"  # no log file: no tail
    assert answers["9003"].state is Observed.GONE
    assert (answers["9004"].state, answers["9004"].detail) == (Observed.FAILED, "cancelled by 0")


def test_a_failed_squeue_is_unavailable_never_gone(wm: SlurmWorkloadManager, ex: ScriptedExecutor) -> None:
    ex.expect(SQUEUE, returncode=1, stderr=recorded("squeue-controller-down.stderr"))
    with pytest.raises(BackendUnavailable, match="Unable to contact slurm controller"):
        wm.query_many(["208"], ex)
    assert programs(ex) == ["squeue"]


@pytest.mark.parametrize(
    "error",
    [ExecutorError("lost"), CommandTimeout("slow"), CommandNotFound("no squeue"), BackendUnavailable("down")],
)
def test_squeue_that_cannot_run_is_unavailable(
    wm: SlurmWorkloadManager, ex: ScriptedExecutor, error: Exception
) -> None:
    ex.expect(SQUEUE, raises=error)
    with pytest.raises(BackendUnavailable):
        wm.query_many(["208"], ex)


def test_without_accounting_only_the_queue_decides(wm: SlurmWorkloadManager, ex: ScriptedExecutor) -> None:
    ex.expect(SACCT, returncode=1, stderr=recorded("sacct-no-accounting.stderr"))
    answers = wm.query_many(["208", "9001"], ex)
    assert answers["208"].state is Observed.RUNNING
    assert answers["9001"].state is Observed.GONE
    assert "keeps no accounting" in answers["9001"].detail


def test_sacct_turned_off_is_never_run(ex: ScriptedExecutor) -> None:
    wm = SlurmWorkloadManager(SlurmOptions(job_dir=JOB_DIR, sacct=""))
    answers = wm.query_many(["9001"], ex)
    assert programs(ex) == ["squeue"]
    assert answers["9001"].state is Observed.GONE and "sacct is turned off" in answers["9001"].detail


def test_sacct_not_installed_means_no_accounting(wm: SlurmWorkloadManager, ex: ScriptedExecutor) -> None:
    ex.expect(SACCT, raises=CommandNotFound("program not found: sacct"))
    assert wm.query_many(["9001"], ex)["9001"].state is Observed.GONE


@pytest.mark.parametrize(
    "answer",
    [
        {"returncode": 1, "stderr": (DATA / "sacct-slurmdbd-down.stderr").read_text()},
        {"raises": CommandTimeout("sacct did not finish")},
        {"raises": ExecutorError("connection lost")},
    ],
)
def test_accounting_that_cannot_be_asked_makes_missing_jobs_unknown(
    wm: SlurmWorkloadManager, ex: ScriptedExecutor, answer: dict[str, object]
) -> None:
    ex.expect(SACCT, **answer)  # type: ignore[arg-type]
    answers = wm.query_many(["208", "9001"], ex)
    assert answers["208"].state is Observed.RUNNING  # what the queue says still stands
    assert answers["9001"].state is Observed.UNKNOWN


@pytest.mark.parametrize("state", ["RUNNING", "PENDING", "COMPLETING"])
def test_accounting_alone_saying_active_is_unknown(
    wm: SlurmWorkloadManager, ex: ScriptedExecutor, state: str
) -> None:
    ex.expect(SACCT, stdout=f"9001|{state}|0:0|None\n")
    obs = wm.query_many(["9001"], ex)["9001"]
    assert obs.state is Observed.UNKNOWN and state in obs.detail


def test_garbled_lines_make_their_job_unknown(wm: SlurmWorkloadManager, ex: ScriptedExecutor) -> None:
    ex.expect(SQUEUE, stdout="501|RUNNING|0\n208|RUNNING|0|vm|vm|cap-running|None\n")
    ex.expect(SACCT, stdout="9001|COMPLETED\n")
    answers = wm.query_many(["501", "208", "9001"], ex)
    assert answers["501"].state is Observed.UNKNOWN and "squeue" in answers["501"].detail
    assert answers["208"].state is Observed.RUNNING
    assert answers["9001"].state is Observed.UNKNOWN and "sacct" in answers["9001"].detail


@pytest.mark.parametrize("bad", ["rosetta-abc", "--help", "12;34", "", "1 2", "-1"])
def test_ids_that_cannot_be_slurm_jobs_are_gone_and_never_passed_on(
    wm: SlurmWorkloadManager, ex: ScriptedExecutor, bad: str
) -> None:
    answers = wm.query_many([bad, "9001"], ex)
    assert answers[bad].state is Observed.GONE
    assert all(bad not in arg for argv in ex.argvs() for arg in argv[1:]) or bad == ""
    assert ex.argvs()[1][4] == "--jobs=9001"


def test_a_log_that_cannot_be_read_leaves_the_state_known(
    wm: SlurmWorkloadManager, ex: ScriptedExecutor
) -> None:
    class Unreadable(ScriptedExecutor):
        def get_file(self, path: str, *, max_bytes: int = 0) -> bytes:
            raise BackendUnavailable("sftp lost")

    unreadable = Unreadable()
    unreadable.expect(SQUEUE, stdout=recorded("squeue-22.05.txt"))
    obs = wm.query_many(["213"], unreadable)["213"]
    assert (obs.state, obs.exit_code, obs.detail) == (Observed.FAILED, 3, "the job failed: exit code 3")


# ---------------------------------------------------------------- find_jobs, cancel, logs


def test_find_jobs(wm: SlurmWorkloadManager, ex: ScriptedExecutor) -> None:
    ex.expect(
        SQUEUE,
        stdout="10|COMPLETED|0|vm|vm|rosetta-a|None\n12|RUNNING|0|vm|vm|rosetta-a|None\n"
        "11|PENDING|0|n/a||rosetta-b|Priority\n13|RUNNING|0|vm|vm|other|None\n",
    )
    assert wm.find_jobs(["rosetta-a", "rosetta-b", "rosetta-c"], ex) == {"rosetta-a": "12", "rosetta-b": "11"}
    assert programs(ex) == ["squeue"]
    assert wm.find_jobs([], ex) == {}
    assert programs(ex) == ["squeue"]


def test_find_jobs_when_squeue_fails(wm: SlurmWorkloadManager, ex: ScriptedExecutor) -> None:
    ex.expect(SQUEUE, returncode=1, stderr=recorded("squeue-controller-down.stderr"))
    with pytest.raises(BackendUnavailable):
        wm.find_jobs(["rosetta-a"], ex)


def test_cancel(wm: SlurmWorkloadManager, ex: ScriptedExecutor) -> None:
    ex.expect(["scancel"])
    wm.cancel("208", ex)
    assert ex.argvs() == [("scancel", "208")]


@pytest.mark.parametrize(
    "stderr",
    [
        "scancel: error: Kill job error on job id 7: Invalid job id specified",
        "scancel: error: Kill job error on job id 7: Job/step already completing or completed",
    ],
)
def test_cancelling_an_ended_job_is_not_an_error(
    wm: SlurmWorkloadManager, ex: ScriptedExecutor, stderr: str
) -> None:
    ex.expect(["scancel"], returncode=1, stderr=stderr)
    wm.cancel("7", ex)


def test_cancel_failures(wm: SlurmWorkloadManager, ex: ScriptedExecutor) -> None:
    ex.expect(["scancel"], returncode=1, stderr=recorded("scancel-controller-down.stderr"))
    with pytest.raises(BackendUnavailable):
        wm.cancel("7", ex)
    ex.expect(["scancel"], returncode=1, stderr="scancel: error: Access/permission denied")
    with pytest.raises(BackendError, match="permission denied"):
        wm.cancel("7", ex)
    ex.expect(["scancel"], raises=CommandTimeout("slow"))
    with pytest.raises(BackendUnavailable):
        wm.cancel("7", ex)


def test_cancel_of_an_id_no_job_can_have_runs_nothing(wm: SlurmWorkloadManager, ex: ScriptedExecutor) -> None:
    wm.cancel("--signal=KILL", ex)
    wm.cancel("rosetta-x", ex)
    assert ex.calls == []


def test_logs(wm: SlurmWorkloadManager, ex: ScriptedExecutor) -> None:
    ex.files[f"{JOB_DIR}/42.log"] = b"one\ntwo\nthree\n"
    assert wm.logs("42", ex) == "one\ntwo\nthree"
    assert wm.logs("42", ex, tail=2) == "two\nthree"
    assert wm.logs("42", ex, tail=0) == ""
    assert wm.logs("43", ex) == ""  # no file (yet)
    assert wm.logs("../../etc/passwd", ex) == ""
    assert ex.calls == []


def test_logs_of_an_unreachable_resource_raise() -> None:
    class Down(ScriptedExecutor):
        def get_file(self, path: str, *, max_bytes: int = 0) -> bytes:
            raise BackendUnavailable("host down")

    with pytest.raises(BackendUnavailable):
        SlurmWorkloadManager(SlurmOptions(job_dir=JOB_DIR)).logs("42", Down())
    with pytest.raises(BackendUnavailable, match="home folder"):
        SlurmWorkloadManager().logs("42", ScriptedExecutor())  # the home cannot be asked either


# ---------------------------------------------------------------- the real Slurm

REAL_TIMEOUT = 90.0


def wait_until(
    ask: Callable[[], Observation], accept: Callable[[Observation], bool], timeout: float = REAL_TIMEOUT
) -> Observation:
    deadline = time.monotonic() + timeout
    obs = ask()
    while not accept(obs) and time.monotonic() < deadline:
        time.sleep(0.3)
        obs = ask()
    return obs


def submit(manager: SlurmWorkloadManager, argv: list[str], submitted: list[str]) -> str:
    spec = make_spec()
    job = manager.submit(manager.render_script(spec, argv), spec, LocalExecutor())
    submitted.append(job)
    return job


def ended(obs: Observation) -> bool:
    return obs.state not in (Observed.PENDING, Observed.RUNNING)


@pytest.mark.testbed
@pytest.mark.usefixtures("slurm")
def test_real_failing_job(manager: SlurmWorkloadManager, submitted: list[str]) -> None:
    job = submit(manager, ["sh", "-c", "echo boom >&2; exit 3"], submitted)
    executor = LocalExecutor()
    obs = wait_until(lambda: manager.query_many([job], executor)[job], ended)
    assert obs.state is Observed.FAILED, obs
    assert obs.exit_code == 3
    assert "boom" in obs.detail
    assert manager.logs(job, executor) == "boom"


@pytest.mark.testbed
@pytest.mark.usefixtures("slurm")
def test_real_completing_job(manager: SlurmWorkloadManager, submitted: list[str], job_dir: str) -> None:
    job = submit(manager, ["sh", "-c", 'echo "done in $(pwd)"'], submitted)
    executor = LocalExecutor()
    obs = wait_until(lambda: manager.query_many([job], executor)[job], ended)
    assert (obs.state, obs.exit_code) == (Observed.EXITED, 0), obs
    assert manager.logs(job, executor) == f"done in {job_dir}"  # the job ran in the job folder
    assert (Path(job_dir) / f"{job}.log").is_file()


@pytest.mark.testbed
@pytest.mark.usefixtures("slurm")
def test_real_cancel(manager: SlurmWorkloadManager, submitted: list[str]) -> None:
    spec = make_spec()
    executor = LocalExecutor()
    job = manager.submit(manager.render_script(spec, ["sleep", "300"]), spec, executor)
    submitted.append(job)
    obs = wait_until(lambda: manager.query_many([job], executor)[job], lambda o: o.state is Observed.RUNNING)
    assert obs.state is Observed.RUNNING and obs.host, obs
    assert manager.find_jobs([spec.name, "rosetta-nothing"], executor) == {spec.name: job}
    manager.cancel(job, executor)
    obs = wait_until(lambda: manager.query_many([job], executor)[job], ended)
    assert obs.state is Observed.FAILED and obs.detail.startswith("cancelled"), obs
    manager.cancel(job, executor)  # twice: not an error


@pytest.mark.testbed
@pytest.mark.usefixtures("slurm")
def test_real_query_makes_one_squeue_call_and_at_most_one_sacct_call(
    manager: SlurmWorkloadManager, submitted: list[str], counting: CountingExecutor
) -> None:
    jobs = [submit(manager, ["sleep", "300"], submitted) for _ in range(2)]
    jobs.append(submit(manager, ["true"], submitted))
    wait_until(lambda: manager.query_many(jobs[-1:], LocalExecutor())[jobs[-1]], ended)
    answers = manager.query_many(jobs, counting)
    assert set(answers) == set(jobs)
    assert counting.runs["squeue"] == 1 and counting.runs["sacct"] == 0, counting.runs
    bogus = ["999999990", "999999991", "999999992", "999999993"]
    counting.runs.clear()
    answers = manager.query_many([*jobs, *bogus], counting)
    assert counting.runs["squeue"] == 1 and counting.runs["sacct"] == 1, counting.runs
    assert all(answers[b].state is Observed.GONE for b in bogus)
    assert answers[jobs[-1]].state is Observed.EXITED


@pytest.fixture
def tbuser() -> str:
    user = unprivileged_account()
    if user is None or os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root and the testbed's unprivileged account (testbed/setup.sh)")
    return user


@pytest.fixture
def tbuser_jobs(tbuser: str) -> Iterator[list[str]]:
    jobs: list[str] = []
    yield jobs
    if jobs:
        subprocess.run(["scancel", *jobs], capture_output=True, check=False)


@pytest.fixture
def tbuser_job_dir(tbuser: str) -> Iterator[str]:
    """A job folder the account owns (pytest's own folders are root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="rosetta-slurm-test-"))
    account = pwd.getpwnam(tbuser)
    os.chown(path, account.pw_uid, account.pw_gid)
    yield str(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.testbed
@pytest.mark.usefixtures("slurm")
def test_real_accounting_answers_for_jobs_the_queue_does_not_list(
    tbuser: str, tbuser_jobs: list[str], tbuser_job_dir: str
) -> None:
    """Another account's jobs are not in ``squeue --me``: only sacct can tell about them."""
    manager = SlurmWorkloadManager(SlurmOptions(job_dir=tbuser_job_dir))

    def submit_as_tbuser(argv: list[str]) -> str:
        spec = make_spec()
        done = subprocess.run(
            ["runuser", "-u", tbuser, "--", "sbatch", "--parsable"],
            input=manager.render_script(spec, argv),
            capture_output=True,
            text=True,
            cwd="/",
            check=True,
        )
        tbuser_jobs.append(done.stdout.strip().split(";")[0])
        return tbuser_jobs[-1]

    failing = submit_as_tbuser(["sh", "-c", "echo boom >&2; exit 3"])
    sleeping = submit_as_tbuser(["sleep", "300"])
    counting = CountingExecutor()
    # accounting learns of a job a moment after it started or ended: until then neither lists it
    obs = wait_until(
        lambda: manager.query_many([failing], counting)[failing], lambda o: o.state is Observed.FAILED
    )
    assert (obs.state, obs.exit_code) == (Observed.FAILED, 3), obs
    assert "boom" in obs.detail
    # accounting alone says it is active: not gone, not running
    obs = wait_until(
        lambda: manager.query_many([sleeping], counting)[sleeping], lambda o: o.state is not Observed.GONE
    )
    assert obs.state is Observed.UNKNOWN and "accounting says" in obs.detail, obs
    counting.runs.clear()
    answers = manager.query_many([failing, sleeping], counting)
    assert counting.runs["squeue"] == 1 and counting.runs["sacct"] == 1
    assert [answers[failing].state, answers[sleeping].state] == [Observed.FAILED, Observed.UNKNOWN]


@pytest.mark.testbed
@pytest.mark.usefixtures("slurm")
def test_real_relative_job_folder_is_under_home(submitted: list[str]) -> None:
    relative = f".rosetta/test-jobs-{uuid.uuid4().hex[:12]}"
    folder = Path.home() / relative
    manager = SlurmWorkloadManager(SlurmOptions(job_dir=relative))
    try:
        job = submit(manager, ["sh", "-c", "pwd"], submitted)
        executor = LocalExecutor()
        obs = wait_until(lambda: manager.query_many([job], executor)[job], ended)
        assert obs.state is Observed.EXITED, obs
        assert (folder / f"{job}.log").read_text() == f"{folder}\n"
        assert manager.logs(job, executor) == str(folder)
        assert folder.stat().st_mode & 0o777 == 0o700
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.testbed
@pytest.mark.usefixtures("slurm")
def test_real_sbatch_never_reads_directives_from_arguments(
    manager: SlurmWorkloadManager, submitted: list[str]
) -> None:
    spec = make_spec()
    hostile = "x\n#SBATCH --job-name=evil\n#SBATCH --partition=nope\n"
    executor = LocalExecutor()
    job = manager.submit(manager.render_script(spec, ["printf", "%s", hostile]), spec, executor)
    submitted.append(job)
    obs = wait_until(lambda: manager.query_many([job], executor)[job], ended)
    assert obs.state is Observed.EXITED, obs
    assert manager.find_jobs([spec.name, "evil"], executor) == {spec.name: job}
    assert manager.logs(job, executor) == hostile.rstrip("\n")
