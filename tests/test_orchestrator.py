"""The task lifecycle, driven through fakes (the real-process path is in test_crash_recovery.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import pytest

from conftest import add_defaults
from rosetta_core import hookimpl
from rosetta_core.engines import INSTANCE_LABEL, Observation, Observed, TaskSpec, handle_for
from rosetta_core.errors import (
    BackendUnavailable,
    ConflictError,
    InvalidTransition,
    NotFoundError,
    UnknownNameError,
    ValidationError,
)
from rosetta_core.executors import Executor
from rosetta_core.kernel import Kernel
from rosetta_core.model import AuthConvention, Computing, ComputingKind, Software, Task, TaskStatus
from rosetta_core.orchestrator import ALLOWED
from rosetta_core.testing import FakeEngine, FakeEnginePlugin, FakeWorkloadManager

S = TaskStatus


class Recorder:
    """Records every task event hook call."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    @hookimpl
    def rosetta_task_event(self, task: Task, event: Any) -> None:
        self.seen.append(("event", event.to_status.value))

    @hookimpl
    def rosetta_task_created(self, task: Task) -> None:
        self.seen.append(("created", task.status.value))

    @hookimpl
    def rosetta_task_queued(self, task: Task) -> None:
        self.seen.append(("queued", task.status.value))

    @hookimpl
    def rosetta_task_started(self, task: Task, kernel: Kernel) -> None:
        self.seen.append(("started", task.status.value))

    @hookimpl
    def rosetta_task_exited(self, task: Task) -> None:
        self.seen.append(("exited", task.status.value))

    @hookimpl
    def rosetta_task_failed(self, task: Task) -> None:
        self.seen.append(("failed", task.error or ""))

    @hookimpl
    def rosetta_task_stopped(self, task: Task) -> None:
        self.seen.append(("stopped", task.status.value))

    def hooks(self) -> list[str]:
        return [name for name, _ in self.seen if name != "event"]


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def kernel(rosetta_kernel_factory: Callable[..., Kernel], engine: FakeEngine, recorder: Recorder) -> Kernel:
    # a lease of 0: each reconcile pass may take a start or a submission as cut short
    kernel = rosetta_kernel_factory(
        {"fake": FakeEnginePlugin(engine), "recorder": recorder}, core_options={"action_lease": 0}
    )
    add_defaults(kernel)
    return kernel


def run(kernel: Kernel, **options: Any) -> Task:
    return kernel.orchestrator.run_task(owner="ada", software="web", computing="box", options=options)


def statuses(kernel: Kernel, task: Task) -> list[TaskStatus]:
    return [e.to_status for e in kernel.store.task_events(task.id)]


def test_run_reaches_running_with_the_published_port(
    kernel: Kernel, engine: FakeEngine, recorder: Recorder
) -> None:
    task = run(kernel)
    assert task.status is S.RUNNING
    assert (task.interface_host, task.interface_port) == ("127.0.0.1", engine.next_port)
    assert statuses(kernel, task) == [S.CREATED, S.QUEUED, S.STARTING, S.RUNNING]
    assert recorder.hooks() == ["created", "queued", "started"]
    spec = engine.containers[task.handle or ""].spec
    assert spec.image == "local/web:latest" and spec.interface_port == 8080
    assert spec.labels["rosetta.owner"] == "ada"


def test_stop_records_stopped_and_removes_the_container(
    kernel: Kernel, engine: FakeEngine, recorder: Recorder
) -> None:
    task = run(kernel)
    stopped = kernel.orchestrator.stop_task(task.id)
    assert stopped.status is S.STOPPED and engine.containers == {}
    assert recorder.hooks()[-1] == "stopped"
    assert kernel.orchestrator.stop_task(task.id) == stopped  # idempotent


def test_stop_a_created_task(kernel: Kernel) -> None:
    task = kernel.orchestrator.create_task(owner="ada", software="web", computing="box")
    assert kernel.orchestrator.stop_task(task.id).status is S.STOPPED


def test_exit_codes(kernel: Kernel, engine: FakeEngine, recorder: Recorder) -> None:
    ok, bad = run(kernel), run(kernel)
    for task, code in ((ok, 0), (bad, 2)):
        box = engine.containers[task.handle or ""]
        box.state, box.exit_code = Observed.EXITED, code
    kernel.orchestrator.reconcile()
    assert kernel.store.get_task(ok.id).status is S.EXITED
    failed = kernel.store.get_task(bad.id)
    assert failed.status is S.FAILED and failed.exit_code == 2 and "code 2" in (failed.error or "")
    assert "exited" in recorder.hooks() and ("failed", "exited with code 2") in recorder.seen


def test_unreachable_engine_makes_unknown_then_recovers(kernel: Kernel, engine: FakeEngine) -> None:
    task = run(kernel)
    engine.unavailable = True
    report = kernel.orchestrator.reconcile()
    assert report.unknown == 1
    assert kernel.store.get_task(task.id).status is S.UNKNOWN  # never read as gone
    assert engine.containers  # and nothing was removed
    engine.unavailable = False
    kernel.orchestrator.reconcile()
    assert kernel.store.get_task(task.id).status is S.RUNNING


def test_vanished_container_fails_the_task(kernel: Kernel, engine: FakeEngine) -> None:
    task = run(kernel)
    engine.containers.clear()
    kernel.orchestrator.reconcile()
    got = kernel.store.get_task(task.id)
    assert got.status is S.FAILED and got.error == "the container disappeared"


def test_start_failure_is_recorded_not_raised(kernel: Kernel, engine: FakeEngine) -> None:
    engine.fail_start = "image not found"
    task = run(kernel)
    assert task.status is S.FAILED and "image not found" in (task.error or "")


def test_start_on_an_unreachable_engine_fails_naming_it(kernel: Kernel, engine: FakeEngine) -> None:
    engine.unavailable = True
    task = run(kernel)
    assert task.status is S.FAILED
    assert task.error == "engine 'fake' is not available: fake engine is unreachable"
    engine.unavailable = False
    kernel.orchestrator.reconcile()  # the platform goes on; the failed task stays failed
    assert kernel.store.get_task(task.id).status is S.FAILED and engine.starts == 0


def test_container_missing_while_starting_is_started_again(kernel: Kernel, engine: FakeEngine) -> None:
    task = kernel.orchestrator.create_task(owner="ada", software="web", computing="box")
    # as if the process died right after recording "starting"
    kernel.store.transition(task.id, S.CREATED, S.QUEUED)
    kernel.store.transition(task.id, S.QUEUED, S.STARTING, handle=f"rosetta-{task.id}")
    kernel.orchestrator.reconcile()
    assert kernel.store.get_task(task.id).status is S.RUNNING and engine.starts == 1


def test_interrupted_stop_is_finished_by_reconcile(kernel: Kernel, engine: FakeEngine) -> None:
    task = run(kernel)
    kernel.store.update_task(task.id, stop_requested=True)  # as if we died right after recording it
    kernel.orchestrator.reconcile()
    got = kernel.store.get_task(task.id)
    assert got.status is S.STOPPED and engine.containers == {}


def test_stop_request_explains_an_ended_container(kernel: Kernel, engine: FakeEngine) -> None:
    task = run(kernel)
    kernel.store.update_task(task.id, stop_requested=True)
    engine.containers.clear()  # the engine stopped it, then we died
    kernel.orchestrator.reconcile()
    got = kernel.store.get_task(task.id)
    assert got.status is S.STOPPED and got.error is None


def test_stop_with_unreachable_engine_is_kept_and_finished_later(kernel: Kernel, engine: FakeEngine) -> None:
    task = run(kernel)
    engine.unavailable = True
    with pytest.raises(BackendUnavailable):
        kernel.orchestrator.stop_task(task.id)
    assert kernel.store.get_task(task.id).status is S.RUNNING
    engine.unavailable = False
    kernel.orchestrator.reconcile()
    assert kernel.store.get_task(task.id).status is S.STOPPED and engine.containers == {}


def test_orphan_container_is_stopped(kernel: Kernel, engine: FakeEngine) -> None:
    mine = {INSTANCE_LABEL: kernel.orchestrator.instance_id}
    for task_id, labels in (("f" * 32, mine), ("e" * 32, {INSTANCE_LABEL: "other"}), ("d" * 32, {})):
        engine.start(
            TaskSpec(task_id=task_id, name=handle_for(task_id), image="x", labels=labels), executor=None
        )  # type: ignore[arg-type]
    engine.start(TaskSpec(task_id="x", name="not-ours", image="x", labels=mine), executor=None)  # type: ignore[arg-type]
    report = kernel.orchestrator.reconcile()
    assert report.orphans_stopped == [handle_for("f" * 32)]
    assert sorted(engine.containers) == sorted([handle_for("e" * 32), handle_for("d" * 32), "not-ours"])


def test_finished_task_keeps_its_container_for_logs(kernel: Kernel, engine: FakeEngine) -> None:
    task = run(kernel)
    engine.containers[task.handle or ""].state = Observed.EXITED
    engine.containers[task.handle or ""].output = "one\ntwo\nthree"
    kernel.orchestrator.reconcile()
    kernel.orchestrator.reconcile()
    assert kernel.orchestrator.logs(task.id, tail=2) == "two\nthree"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"software": "nope"}, NotFoundError, "no software named 'nope'"),
        ({"computing": "nope"}, NotFoundError, "no computings named 'nope'"),
        ({"options": {"cpus": -1}}, ValidationError, r"\$\.cpus"),
        ({"options": {"engine": "docker"}}, ValidationError, r"\$\.engine: 'docker' is not offered"),
        ({"options": {"colour": "red"}}, ValidationError, r"\$\.colour: unknown field"),
        ({"name": "bad name; rm"}, ValidationError, r"\$\.name"),
    ],
)
def test_bad_task_requests_write_nothing(
    kernel: Kernel, kwargs: dict[str, Any], error: type, match: str
) -> None:
    args = {"owner": "ada", "software": "web", "computing": "box", **kwargs}
    with pytest.raises(error, match=match):
        kernel.orchestrator.create_task(**args)
    assert kernel.store.list_tasks() == [] and kernel.store.count_events() == 0


def test_engine_that_is_not_installed(kernel: Kernel) -> None:
    kernel.store.add(Computing(name="elsewhere", engines=("docker",)))
    with pytest.raises(UnknownNameError, match="no engine named 'docker'"):
        kernel.orchestrator.create_task(owner="ada", software="web", computing="elsewhere")


def test_transition_table_is_closed() -> None:
    for status, targets in ALLOWED.items():
        assert status not in targets
        if status.is_terminal:
            assert not targets


def test_a_failing_hook_does_not_undo_the_transition(
    rosetta_kernel_factory: Callable[..., Kernel], engine: FakeEngine
) -> None:
    class Grumpy:
        @hookimpl
        def rosetta_task_started(self) -> None:
            raise RuntimeError("grr")

    kernel = rosetta_kernel_factory({"fake": FakeEnginePlugin(engine), "grumpy": Grumpy()})
    add_defaults(kernel)
    assert run(kernel).status is S.RUNNING


# ---------------------------------------------------------------- batch path


def make_batch(
    factory: Callable[..., Kernel], engine: FakeEngine, lease: float
) -> tuple[Kernel, FakeWorkloadManager]:
    wm = FakeWorkloadManager()

    class Plugin:
        @hookimpl
        def rosetta_register_workload_managers(self, register: Callable[[str, Any], None]) -> None:
            register("fakebatch", wm)

    kernel = factory(
        {"fake": FakeEnginePlugin(engine), "batch": Plugin()}, core_options={"action_lease": lease}
    )
    add_defaults(kernel, workload_manager="fakebatch", kind=ComputingKind.CLUSTER)
    return kernel, wm


@pytest.fixture
def batch(
    rosetta_kernel_factory: Callable[..., Kernel], engine: FakeEngine
) -> tuple[Kernel, FakeWorkloadManager]:
    """A batch computing resource; a lease of 0, so every pass may take a claim as cut short."""
    return make_batch(rosetta_kernel_factory, engine, 0)


@pytest.fixture
def leased_batch(
    rosetta_kernel_factory: Callable[..., Kernel], engine: FakeEngine
) -> tuple[Kernel, FakeWorkloadManager]:
    """A batch computing resource with the default lease: claims are left alone for 120 s."""
    return make_batch(rosetta_kernel_factory, engine, 120)


def test_batch_task_lifecycle(batch: tuple[Kernel, FakeWorkloadManager]) -> None:
    kernel, wm = batch
    task = run(kernel, cpus=2)
    assert task.status is S.QUEUED and task.handle == "1000"
    # the job runs the agent, told to run the engine's argv
    assert "rosetta-agent" in wm.scripts[0] and '"argv": ["fake", "run", "--name", "rosetta-' in wm.scripts[0]
    wm.jobs["1000"] = Observation(state=Observed.RUNNING)
    kernel.orchestrator.reconcile()
    assert kernel.store.get_task(task.id).status is S.STARTING  # job runs, interface not known yet
    wm.jobs["1000"] = Observation(state=Observed.RUNNING, host="node1", port=40000)
    kernel.orchestrator.reconcile()
    got = kernel.store.get_task(task.id)
    assert (got.status, got.interface_host, got.interface_port) == (S.RUNNING, "node1", 40000)
    assert kernel.orchestrator.logs(task.id) == "log of 1000"
    assert kernel.orchestrator.stop_task(task.id).status is S.STOPPED


def test_one_scheduler_query_per_resource_per_pass(batch: tuple[Kernel, FakeWorkloadManager]) -> None:
    kernel, wm = batch
    for _ in range(50):
        run(kernel)
    wm.queries = 0
    kernel.orchestrator.reconcile()
    assert wm.queries == 1


def test_failed_scheduler_query_is_unknown_not_gone(batch: tuple[Kernel, FakeWorkloadManager]) -> None:
    kernel, wm = batch
    task = run(kernel)
    wm.unavailable = True
    kernel.orchestrator.reconcile()
    assert kernel.store.get_task(task.id).status is S.UNKNOWN
    wm.unavailable = False
    wm.jobs[task.handle or ""] = Observation(state=Observed.RUNNING, host="n", port=1)
    kernel.orchestrator.reconcile()
    assert kernel.store.get_task(task.id).status is S.RUNNING


def test_lost_submission_is_found_by_name(batch: tuple[Kernel, FakeWorkloadManager]) -> None:
    kernel, wm = batch
    task = run(kernel)
    # as if we died after sbatch, before recording the job id: the claim (the job name) remains
    kernel.store.update_task(task.id, handle=handle_for(task.id))
    kernel.orchestrator.reconcile()
    assert kernel.store.get_task(task.id).handle == task.handle and len(wm.jobs) == 1


def test_stop_finds_a_submission_whose_id_was_lost(batch: tuple[Kernel, FakeWorkloadManager]) -> None:
    kernel, wm = batch
    task = run(kernel)
    job = task.handle or ""
    kernel.store.update_task(task.id, handle=handle_for(task.id))
    assert kernel.orchestrator.stop_task(task.id).status is S.STOPPED
    assert wm.jobs[job].detail == "cancelled"


def test_never_submitted_task_is_submitted_by_reconcile(batch: tuple[Kernel, FakeWorkloadManager]) -> None:
    kernel, _ = batch
    task = kernel.orchestrator.create_task(owner="ada", software="web", computing="box")
    kernel.store.transition(task.id, S.CREATED, S.QUEUED)  # died before submitting
    kernel.orchestrator.reconcile()
    assert kernel.store.get_task(task.id).handle == "1000"


def test_software_without_interface_runs_without_address(kernel: Kernel, engine: FakeEngine) -> None:
    kernel.store.add(Software(name="batchjob", image="local/job"))
    task = kernel.orchestrator.run_task(owner="ada", software="batchjob", computing="box")
    assert task.status is S.RUNNING and task.interface_port is None


def test_claimed_submission_without_a_job_is_never_submitted_twice(
    batch: tuple[Kernel, FakeWorkloadManager],
) -> None:
    kernel, wm = batch
    task = kernel.orchestrator.create_task(owner="ada", software="web", computing="box")
    kernel.store.transition(task.id, S.CREATED, S.QUEUED)
    assert kernel.store.claim_handle(task.id, handle_for(task.id))  # died inside sbatch
    kernel.orchestrator.reconcile()
    got = kernel.store.get_task(task.id)
    assert got.status is S.FAILED and "interrupted" in (got.error or "") and wm.jobs == {}


def test_claim_within_its_lease_is_left_alone(leased_batch: tuple[Kernel, FakeWorkloadManager]) -> None:
    kernel, wm = leased_batch
    task = kernel.orchestrator.create_task(owner="ada", software="web", computing="box")
    kernel.store.transition(task.id, S.CREATED, S.QUEUED)
    assert kernel.store.claim_handle(task.id, handle_for(task.id))  # another process is in sbatch
    kernel.orchestrator.reconcile()
    assert kernel.store.get_task(task.id).status is S.QUEUED and wm.jobs == {}
    assert not kernel.store.claim_handle(task.id, "again")


def test_unreachable_scheduler_at_submit_keeps_the_claim(
    leased_batch: tuple[Kernel, FakeWorkloadManager],
) -> None:
    kernel, wm = leased_batch
    real_submit = wm.submit

    def down(*args: Any) -> str:
        raise BackendUnavailable("sbatch: connection refused")

    wm.submit = down  # type: ignore[method-assign]
    task = run(kernel)
    assert task.status is S.UNKNOWN and task.handle == handle_for(task.id)
    events = len(kernel.store.task_events(task.id))
    kernel.orchestrator.reconcile()
    kernel.orchestrator.reconcile()
    assert len(kernel.store.task_events(task.id)) == events  # no churn while nothing is known
    # the job did reach the scheduler after all: it is found by name and recorded
    wm.submit = real_submit  # type: ignore[method-assign]
    job = real_submit(
        "",
        kernel.orchestrator.build_spec(
            task, kernel.store.get(Software, "web"), kernel.store.get(Computing, "box")
        ),
        None,
    )  # type: ignore[arg-type]
    kernel.orchestrator.reconcile()
    got = kernel.store.get_task(task.id)
    assert (got.status, got.handle) == (S.QUEUED, job)


def test_start_twice_is_refused(batch: tuple[Kernel, FakeWorkloadManager]) -> None:
    kernel, wm = batch
    task = run(kernel)
    with pytest.raises(InvalidTransition, match="only a created task"):
        kernel.orchestrator.start_task(task.id)
    assert len(wm.jobs) == 1


def test_stop_during_submission_cancels_the_new_job(batch: tuple[Kernel, FakeWorkloadManager]) -> None:
    kernel, wm = batch
    real_submit = wm.submit

    def submit_while_user_stops(script: str, spec: TaskSpec, executor: Executor) -> str:
        job = real_submit(script, spec, executor)
        kernel.orchestrator.stop_task(spec.task_id)  # another process, while sbatch ran
        return job

    wm.submit = submit_while_user_stops  # type: ignore[method-assign]
    task = run(kernel)
    assert task.status is S.STOPPED and task.handle == "1000"
    assert wm.jobs["1000"].detail == "cancelled"


def test_requeued_job_goes_back_to_queued(batch: tuple[Kernel, FakeWorkloadManager]) -> None:
    kernel, wm = batch
    task = run(kernel)
    wm.jobs[task.handle or ""] = Observation(state=Observed.RUNNING, host="n1", port=4000)
    kernel.orchestrator.reconcile()
    wm.jobs[task.handle or ""] = Observation(state=Observed.PENDING, detail="requeued")
    kernel.orchestrator.reconcile()
    got = kernel.store.get_task(task.id)
    assert (got.status, got.interface_port) == (S.QUEUED, None)


def test_a_lost_race_does_not_stop_the_pass(kernel: Kernel, engine: FakeEngine) -> None:
    first, second = run(kernel), run(kernel)
    real_poll = engine.poll

    def poll_while_another_process_acts(handle: str, executor: Executor) -> Observation:
        if handle == first.handle:
            if kernel.store.get_task(first.id).status is S.RUNNING:
                kernel.store.transition(first.id, S.RUNNING, S.EXITED)  # another writer, meanwhile
            return Observation(state=Observed.GONE)
        engine.containers[handle].state = Observed.EXITED
        return real_poll(handle, executor)

    engine.poll = poll_while_another_process_acts  # type: ignore[method-assign]
    report = kernel.orchestrator.reconcile()
    assert any("another writer" in e for e in report.errors)
    assert kernel.store.get_task(first.id).status is S.EXITED
    assert kernel.store.get_task(second.id).status is S.EXITED  # the pass went on


def test_stop_requested_meanwhile_ends_stopped_not_failed(kernel: Kernel, engine: FakeEngine) -> None:
    task = run(kernel)

    def poll_after_a_stop_elsewhere(handle: str, executor: Executor) -> Observation:
        kernel.store.update_task(task.id, stop_requested=True)  # a user's stop in another process
        return Observation(state=Observed.GONE)

    engine.poll = poll_after_a_stop_elsewhere  # type: ignore[method-assign]
    kernel.orchestrator.reconcile()
    # the decision made on the old row does not win: the task is not failed
    assert kernel.store.get_task(task.id).status is S.RUNNING
    kernel.orchestrator.reconcile()  # the next pass finishes the stop
    got = kernel.store.get_task(task.id)
    assert got.status is S.STOPPED and got.error is None


def test_start_within_its_lease_is_not_repeated(
    rosetta_kernel_factory: Callable[..., Kernel], engine: FakeEngine
) -> None:
    kernel = rosetta_kernel_factory({"fake": FakeEnginePlugin(engine)})  # default lease: 300 s
    add_defaults(kernel)
    task = kernel.orchestrator.create_task(owner="ada", software="web", computing="box")
    kernel.store.transition(task.id, S.CREATED, S.QUEUED)
    kernel.store.transition(task.id, S.QUEUED, S.STARTING, handle=handle_for(task.id))  # another process
    kernel.orchestrator.reconcile()
    assert kernel.store.get_task(task.id).status is S.STARTING and engine.starts == 0


def test_software_in_use_cannot_be_deleted(kernel: Kernel) -> None:
    task = run(kernel)
    with pytest.raises(ConflictError, match="used by 1 task"):
        kernel.store.delete(Software, "web")
    with pytest.raises(ConflictError):
        kernel.store.delete(Computing, "box")
    kernel.orchestrator.stop_task(task.id)
    kernel.store.delete(Software, "web")


def test_uninstalled_engine_makes_unknown(kernel: Kernel) -> None:
    task = run(kernel)
    kernel.engines._items.pop("fake")  # as if the plugin were disabled since
    kernel.orchestrator.reconcile()
    assert kernel.store.get_task(task.id).status is S.UNKNOWN


# ---------------------------------------------------------------- races and outages


def test_queued_task_left_unknown_by_an_outage_is_started_later(kernel: Kernel, engine: FakeEngine) -> None:
    task = kernel.orchestrator.create_task(owner="ada", software="web", computing="box")
    kernel.store.transition(task.id, S.CREATED, S.QUEUED)  # died before starting it
    engine_plugin = kernel.engines._items.pop("fake")  # the engine is missing for one pass
    kernel.orchestrator.reconcile()
    assert kernel.store.get_task(task.id).status is S.UNKNOWN
    kernel.engines._items["fake"] = engine_plugin
    kernel.orchestrator.reconcile()
    assert kernel.store.get_task(task.id).status is S.RUNNING


def test_plugin_bugs_cost_one_task_not_the_pass(kernel: Kernel, engine: FakeEngine) -> None:
    broken, bad_port, fine = run(kernel), run(kernel), run(kernel)
    real_poll = engine.poll

    def buggy_poll(handle: str, executor: Executor) -> Observation:
        if handle == broken.handle:
            raise KeyError("oops")
        if handle == bad_port.handle:
            return Observation(state=Observed.RUNNING, host="127.0.0.1", port=0)
        engine.containers[handle].state = Observed.EXITED
        return real_poll(handle, executor)

    engine.poll = buggy_poll  # type: ignore[method-assign]
    report = kernel.orchestrator.reconcile()
    assert any("KeyError" in e for e in report.errors)
    assert any("must be between 1 and 65535, got 0" in e for e in report.errors)
    assert kernel.store.get_task(fine.id).status is S.EXITED


def test_one_timeout_per_engine_per_pass(kernel: Kernel, engine: FakeEngine) -> None:
    for _ in range(3):
        run(kernel)
    calls = 0
    real_check = engine._check

    def counting_check() -> None:
        nonlocal calls
        calls += 1
        real_check()

    engine._check = counting_check  # type: ignore[method-assign]
    engine.unavailable = True
    report = kernel.orchestrator.reconcile()
    assert report.unknown == 3
    assert calls == 2  # one poll, then the orphan sweep's listing; not one poll per task


def test_stop_of_a_claim_still_within_its_lease_waits(
    leased_batch: tuple[Kernel, FakeWorkloadManager],
) -> None:
    kernel, wm = leased_batch
    task = kernel.orchestrator.create_task(owner="ada", software="web", computing="box")
    kernel.store.transition(task.id, S.CREATED, S.QUEUED)
    assert kernel.store.claim_handle(task.id, handle_for(task.id))  # another process is in sbatch
    pending = kernel.orchestrator.stop_task(task.id)
    assert pending.status is S.QUEUED and pending.stop_requested
    # the submitter returns from sbatch, records the job, sees the request and cancels
    spec = kernel.orchestrator.build_spec(
        task, kernel.store.get(Software, "web"), kernel.store.get(Computing, "box")
    )
    job = wm.submit("", spec, None)  # type: ignore[arg-type]
    done = kernel.orchestrator.record_job(kernel.store.get_task(task.id), job, wm, None)  # type: ignore[arg-type]
    assert done.status is S.STOPPED and wm.jobs[job].detail == "cancelled"


def test_a_decision_on_an_old_row_does_not_win(batch: tuple[Kernel, FakeWorkloadManager]) -> None:
    kernel, wm = batch
    task = kernel.orchestrator.create_task(owner="ada", software="web", computing="box")
    kernel.store.transition(task.id, S.CREATED, S.QUEUED)
    assert kernel.store.claim_handle(task.id, handle_for(task.id))

    def not_yet(names: Sequence[str], executor: Executor) -> Mapping[str, str]:
        kernel.store.update_task(task.id, handle="4242")  # the submitter records its job meanwhile
        return {}

    wm.find_jobs = not_yet  # type: ignore[method-assign]
    kernel.orchestrator.reconcile()
    got = kernel.store.get_task(task.id)
    assert got.status is S.QUEUED and got.handle == "4242"  # not failed with a live job


def test_stop_while_the_engine_is_starting_the_container(kernel: Kernel, engine: FakeEngine) -> None:
    real_start = engine.start

    def start_while_user_stops(spec: TaskSpec, executor: Executor) -> str:
        handle = real_start(spec, executor)
        kernel.orchestrator.stop_task(spec.task_id)  # another process, meanwhile
        return handle

    engine.start = start_while_user_stops  # type: ignore[method-assign]
    task = run(kernel)
    assert task.status is S.STOPPED and engine.containers == {}


def test_stop_of_a_created_task_that_another_process_starts(kernel: Kernel) -> None:
    task = kernel.orchestrator.create_task(owner="ada", software="web", computing="box")
    kernel.store.transition(task.id, S.CREATED, S.QUEUED)  # another process queued it meanwhile
    stale_read = kernel.store.get_task

    def stale_get(task_id: str) -> Task:
        got = stale_read(task_id)
        return (
            attrs.evolve(got, status=S.CREATED) if got.status is S.QUEUED and not got.stop_requested else got
        )

    kernel.store.get_task = stale_get  # type: ignore[method-assign]
    assert kernel.orchestrator.stop_task(task.id).status is S.STOPPED


def test_stop_records_the_job_it_finds_by_name(leased_batch: tuple[Kernel, FakeWorkloadManager]) -> None:
    kernel, _ = leased_batch
    task = run(kernel)
    job = task.handle or ""
    kernel.store.update_task(task.id, handle=handle_for(task.id))
    stopped = kernel.orchestrator.stop_task(task.id)
    assert stopped.status is S.STOPPED and stopped.handle == job
    assert kernel.orchestrator.logs(task.id) == f"log of {job}"


def test_a_never_started_task_stops_without_its_plugin(kernel: Kernel) -> None:
    task = kernel.orchestrator.create_task(owner="ada", software="web", computing="box")
    kernel.store.transition(task.id, S.CREATED, S.QUEUED)
    kernel.engines._items.pop("fake")
    assert kernel.orchestrator.stop_task(task.id).status is S.STOPPED


def test_protected_software_gets_a_task_token(kernel: Kernel, engine: FakeEngine) -> None:
    kernel.store.add(
        Software(name="lab", image="local/lab", interface_port=8888, auth=AuthConvention.PASSWORD)
    )
    task = kernel.orchestrator.run_task(owner="ada", software="lab", computing="box")
    assert task.auth_token and len(task.auth_token) == 32
    assert engine.containers[task.handle or ""].spec.env["AUTH_PASS"] == task.auth_token
    assert kernel.store.get_task(task.id).auth_token == task.auth_token
    assert "auth_token" not in repr(task) and task.auth_token not in repr(task)
    assert run(kernel).auth_token is None  # no auth convention, no token


def test_pull_progress_becomes_task_events(kernel: Kernel, engine: FakeEngine, recorder: Recorder) -> None:
    engine.pull_progress = ["resolving localhost/web", "layer 1/2", "layer 2/2"]
    seen: list[str] = []

    class Watcher:
        @hookimpl
        def rosetta_task_progress(self, task: Task, event: Any) -> None:
            seen.append(event.detail)

    kernel.pm.register(Watcher(), name="watcher")
    task = run(kernel)
    assert task.status is S.RUNNING
    events = kernel.store.task_events(task.id)
    notes = [e for e in events if e.from_status is e.to_status]
    # rate-limited: the first line is always recorded, the burst after it within a second is not
    assert [e.detail for e in notes] == ["resolving localhost/web"] and seen == ["resolving localhost/web"]
    assert notes[0].to_status is S.STARTING


def test_a_failed_pull_fails_the_task(kernel: Kernel, engine: FakeEngine) -> None:
    engine.fail_pull = "manifest unknown"
    task = run(kernel)
    assert task.status is S.FAILED and task.error == "cannot get image local/web:latest: manifest unknown"
    assert engine.starts == 0
