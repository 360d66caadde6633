"""Workspaces: the job folder resolved against the account's home, once per executor."""

from __future__ import annotations

import pytest

from rosetta_core.errors import BackendError, BackendUnavailable
from rosetta_core.executors import CommandResult, Executor
from rosetta_core.testing.fakes import ScriptedExecutor
from rosetta_pbs.workspace import Workspace, Workspaces

LOOKUP = ("sh", "-c", "id -un && cd && pwd -P", "sh")


def run(executor: Executor, argv: list[str]) -> CommandResult:
    return executor.run(argv)


def answering(stdout: str = "alice\n/home/alice\n", returncode: int = 0) -> ScriptedExecutor:
    executor = ScriptedExecutor()
    executor.expect(("sh", "-c"), stdout=stdout, returncode=returncode)
    return executor


@pytest.mark.parametrize(
    ("job_dir", "directory"),
    [
        (".rosetta/jobs", "/home/alice/.rosetta/jobs"),
        ("./jobs/", "/home/alice/jobs"),
        (".", "/home/alice"),
        ("/scratch/alice//jobs/", "/scratch/alice/jobs"),
    ],
)
def test_relative_folders_are_taken_from_home(job_dir: str, directory: str) -> None:
    assert Workspaces(job_dir, run).get(answering()) == Workspace(user="alice", directory=directory)


def test_the_answer_is_remembered_per_executor() -> None:
    workspaces = Workspaces(".rosetta/jobs", run)
    first, second = answering(), answering("bob\n/home/bob\n")
    for _ in range(3):
        assert workspaces.get(first).user == "alice"
        assert workspaces.get(second).directory == "/home/bob/.rosetta/jobs"
    assert first.argvs() == [LOOKUP] and second.argvs() == [LOOKUP]


def test_prepare_makes_the_folder_every_time() -> None:
    workspaces = Workspaces(".rosetta/jobs", run)
    executor = answering()
    workspaces.prepare(executor)
    workspaces.prepare(executor)
    prepare = ("sh", "-c", 'id -un && cd && pwd -P && mkdir -p -m 700 -- "$1"', "sh", ".rosetta/jobs")
    assert executor.argvs() == [prepare, prepare]
    workspaces.get(executor)  # remembered from prepare
    assert len(executor.calls) == 2


def test_a_home_qsub_cannot_take_is_refused() -> None:
    with pytest.raises(BackendError, match="characters qsub cannot take"):
        Workspaces("jobs", run).get(answering("alice\n/home/alice smith\n"))


@pytest.mark.parametrize(
    "stdout", ["", "alice\n", "alice\nrelative/home\n", "a b\n/home/x\n", "x\n/h\nextra\n"]
)
def test_an_unreadable_answer_is_unavailable(stdout: str) -> None:
    with pytest.raises(BackendUnavailable):
        Workspaces("jobs", run).get(answering(stdout))


def test_a_failing_lookup_says_why() -> None:
    executor = ScriptedExecutor()
    executor.expect(("sh", "-c"), stderr="mkdir: cannot create directory: Permission denied", returncode=1)
    with pytest.raises(BackendError, match="Permission denied"):
        Workspaces("jobs", run).prepare(executor)


def test_paths() -> None:
    workspace = Workspace(user="alice", directory="/home/alice/jobs")
    assert workspace.script("r0b5") == "/home/alice/jobs/r0b5.pbs"
    assert workspace.output("r0b5") == "/home/alice/jobs/r0b5.out"
    assert workspace.output_of_job("4211.pbs01") == "/home/alice/jobs/4211.pbs01.out"
