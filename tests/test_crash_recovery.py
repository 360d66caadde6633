"""SIGKILL between any two task transitions loses no row and no event; the next start-up reconciles.

A child process drives a real task (the one-file sleep engine: real processes) and kills itself
with SIGKILL right after the N-th committed transition. A new kernel on the same store then starts,
and its reconcile pass must bring the task to the truth: running, with exactly one process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import sleep_engine
from rosetta_core.config import parse_config
from rosetta_core.engines import INSTANCE_LABEL, TaskSpec, handle_for
from rosetta_core.kernel import Kernel, create_kernel
from rosetta_core.model import Computing, TaskStatus

CHILD = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[1])
import sleep_engine
from rosetta_core import create_kernel, hookimpl
from rosetta_core.config import parse_config
from rosetta_core.model import Computing, Software

store, state, kill_at, action = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]

class Killer:
    seen = 0
    @hookimpl
    def rosetta_task_event(self, task, event):
        Killer.seen += 1
        if Killer.seen == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

config = parse_config({"rosetta": {"store": store}, "plugin": {"sleep": {"state_dir": state}}})
kernel = create_kernel(config, plugins={"sleep": sleep_engine, "killer": Killer()})
kernel.start()
if action == "run":
    kernel.store.add(Software(name="sleeper", image="local/sleep"))
    kernel.store.add(Computing(name="here", engines=("sleep",)))
    kernel.orchestrator.run_task(owner="ada", software="sleeper", computing="here", name="victim")
else:
    task = kernel.store.find_task("victim")
    if action == "stop-before-backend":
        # die after the stop request is stored, before the engine is asked
        engine = kernel.engines.get("sleep")
        def die(handle, executor):
            os.kill(os.getpid(), signal.SIGKILL)
        engine.stop = die
    if action == "stop-after-backend":
        # die after the engine stopped the process, before the transition is recorded
        engine = kernel.engines.get("sleep")
        real_stop = engine.stop
        def stop_then_die(handle, executor):
            real_stop(handle, executor)
            os.kill(os.getpid(), signal.SIGKILL)
        engine.stop = stop_then_die
    kernel.orchestrator.stop_task(task.id)
print("survived")
"""


def run_child(tmp_path: Path, kill_at: int, action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(Path(sleep_engine.__file__).parent),
            str(tmp_path / "store.sqlite"),
            str(tmp_path / "state"),
            str(kill_at),
            action,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def reopen(tmp_path: Path) -> Kernel:
    # a lease of 0: the restart is taken as happening after any start under way would have ended
    config = parse_config(
        {
            "rosetta": {"store": str(tmp_path / "store.sqlite"), "action_lease": 0},
            "plugin": {"sleep": {"state_dir": str(tmp_path / "state")}},
        }
    )
    return create_kernel(config, plugins={"sleep": sleep_engine}).start()


def live_pids(state: Path) -> list[int]:
    pids = []
    for pidfile in state.glob("*.pid"):
        pid = int(pidfile.read_text())
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        pids.append(pid)
    return pids


@pytest.fixture
def cleanup(tmp_path: Path):
    yield
    for pid in live_pids(tmp_path / "state") if (tmp_path / "state").exists() else []:
        os.kill(pid, signal.SIGKILL)


# transitions of a run: 1 created, 2 queued, 3 starting, 4 running
@pytest.mark.parametrize("kill_at", [1, 2, 3, 4])
def test_kill_while_starting_then_reconcile(tmp_path: Path, kill_at: int, cleanup: None) -> None:
    child = run_child(tmp_path, kill_at, "run")
    assert child.returncode == -signal.SIGKILL, child.stderr
    kernel = reopen(tmp_path)
    try:
        task = kernel.store.find_task("victim")
        events = kernel.store.task_events(task.id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert len(events) >= kill_at
        assert (
            events[kill_at - 1].to_status
            is [TaskStatus.CREATED, TaskStatus.QUEUED, TaskStatus.STARTING, TaskStatus.RUNNING][kill_at - 1]
        )
        if kill_at == 1:
            # created but never asked to start: reconcile leaves it for the user
            assert task.status is TaskStatus.CREATED
            assert live_pids(tmp_path / "state") == [] if (tmp_path / "state").exists() else True
            return
        assert task.status is TaskStatus.RUNNING, events
        assert len(live_pids(tmp_path / "state")) == 1
        assert kernel.orchestrator.stop_task(task.id).status is TaskStatus.STOPPED
        assert live_pids(tmp_path / "state") == []
    finally:
        kernel.close()


def test_kill_while_stopping_then_reconcile(tmp_path: Path, cleanup: None) -> None:
    assert run_child(tmp_path, 99, "run").returncode == 0
    # the stop's own transition is the 1st event this second child sees
    child = run_child(tmp_path, 1, "stop")
    assert child.returncode == -signal.SIGKILL, child.stderr
    kernel = reopen(tmp_path)
    try:
        task = kernel.store.find_task("victim")
        assert task.status is TaskStatus.STOPPED
        assert [e.to_status for e in kernel.store.task_events(task.id)][-1] is TaskStatus.STOPPED
        assert live_pids(tmp_path / "state") == []
    finally:
        kernel.close()


@pytest.mark.parametrize("action", ["stop-before-backend", "stop-after-backend"])
def test_kill_inside_a_stop(tmp_path: Path, cleanup: None, action: str) -> None:
    assert run_child(tmp_path, 99, "run").returncode == 0
    child = run_child(tmp_path, 99, action)
    assert child.returncode == -signal.SIGKILL, child.stderr
    kernel = reopen(tmp_path)
    try:
        task = kernel.store.find_task("victim")
        # the stop request was stored first, so the next start-up finishes it: stopped, not failed
        assert task.status is TaskStatus.STOPPED, kernel.store.task_events(task.id)
        assert task.error is None
        assert live_pids(tmp_path / "state") == []
    finally:
        kernel.close()


def test_orphan_process_without_a_row_is_stopped(sleep_kernel: Kernel) -> None:
    engine = sleep_kernel.engines.get("sleep")
    executor = sleep_kernel.executor_for(sleep_kernel.store.get(Computing, "here"))
    mine = {INSTANCE_LABEL: sleep_kernel.orchestrator.instance_id}
    engine.start(TaskSpec(task_id="0" * 32, name=handle_for("0" * 32), image="x", labels=mine), executor)
    # another platform instance sharing this engine: its containers are not ours to stop
    theirs = {INSTANCE_LABEL: "another"}
    engine.start(TaskSpec(task_id="1" * 32, name=handle_for("1" * 32), image="x", labels=theirs), executor)
    report = sleep_kernel.orchestrator.reconcile()
    assert report.orphans_stopped == [handle_for("0" * 32)]
    assert engine.list_handles(executor) == [handle_for("1" * 32)]
    engine.stop(handle_for("1" * 32), executor)
