"""Contract test suites every engine, workload manager, executor and tunnel plugin must pass.

Subclass one in your plugin's tests and provide its fixtures::

    from rosetta_core.testing.contracts import EngineContract

    class TestMyEngine(EngineContract):
        @pytest.fixture
        def engine(self):
            return MyEngine()

        @pytest.fixture
        def image(self):
            return "localhost/my-test-image:latest"   # runs until stopped

Run them against the real component (a real engine, a real scheduler): they start and stop real
containers and jobs, and clean up what they started.
"""

from __future__ import annotations

import contextlib
import shlex
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rosetta_core.engines import ContainerEngine, Observation, Observed, TaskSpec, handle_for
from rosetta_core.errors import BackendError, CommandNotFound, CommandTimeout, ExecutorError
from rosetta_core.executors import Executor, LocalExecutor
from rosetta_core.model import Computing, Task, TaskStatus, new_id
from rosetta_core.tunnels import Endpoint, Tunnel
from rosetta_core.validators import NAME_RE
from rosetta_core.workload import WorkloadManager

HOSTILE = "$(touch /tmp/rosetta-pwned); `id` | rm -rf / && echo 'x\"y' > ~/z"
# any text an argv entry can hold: every character but NUL (and lone surrogates, not encodable)
ARGUMENT_TEXT = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=200)


def wait_for(
    check: Callable[[], Observation], accept: Callable[[Observation], bool], timeout: float
) -> Observation:
    """Poll ``check`` until ``accept`` holds or ``timeout`` passes; return the last observation."""
    deadline = time.monotonic() + timeout
    obs = check()
    while not accept(obs) and time.monotonic() < deadline:
        time.sleep(0.1)
        obs = check()
    return obs


class EngineContract:
    """The container engine contract. Fixtures to provide: ``engine``, ``image``.

    Optional: ``executor`` (default: a :class:`LocalExecutor`), ``interface_port`` (the port the
    image serves, or ``None``), ``exit_command`` (argv exiting with code 3), ``start_timeout``.
    """

    @pytest.fixture
    def engine(self) -> ContainerEngine:
        raise NotImplementedError("provide an `engine` fixture")

    @pytest.fixture
    def image(self) -> str:
        raise NotImplementedError("provide an `image` fixture: an image that runs until stopped")

    @pytest.fixture
    def executor(self) -> Executor:
        return LocalExecutor()

    @pytest.fixture
    def interface_port(self) -> int | None:
        return None

    @pytest.fixture
    def exit_command(self) -> tuple[str, ...]:
        return ("sh", "-c", "exit 3")

    @pytest.fixture
    def start_timeout(self) -> float:
        return 30.0

    @pytest.fixture
    def make_spec(self, image: str, interface_port: int | None) -> Callable[..., TaskSpec]:
        def make(**overrides: object) -> TaskSpec:
            task_id = new_id()
            fields: dict[str, object] = {
                "task_id": task_id,
                "name": handle_for(task_id),
                "image": image,
                "interface_port": interface_port,
                "env": {"ROSETTA_CONTRACT": HOSTILE},
                "labels": {"rosetta.task": task_id},
            }
            fields.update(overrides)
            return TaskSpec(**fields)  # type: ignore[arg-type]

        return make

    @pytest.fixture
    def started(self, engine: ContainerEngine, executor: Executor) -> Iterator[list[str]]:
        handles: list[str] = []
        yield handles
        for handle in handles:
            with contextlib.suppress(BackendError):
                engine.stop(handle, executor)

    def test_name_is_valid(self, engine: ContainerEngine) -> None:
        assert isinstance(engine.name, str) and NAME_RE.match(engine.name)

    def test_build_command_is_pure_argv(
        self, engine: ContainerEngine, make_spec: Callable[..., TaskSpec]
    ) -> None:
        spec = make_spec()
        first, second = engine.build_command(spec), engine.build_command(spec)
        assert first == second
        assert isinstance(first, list) and first and all(isinstance(a, str) for a in first)
        # a value travels as one whole argv entry ("KEY=VALUE"), never spliced into a shell string
        carrying = [arg for arg in first if HOSTILE in arg]
        assert carrying == [f"ROSETTA_CONTRACT={HOSTILE}"], carrying

    def test_start_poll_list_stop(
        self,
        engine: ContainerEngine,
        executor: Executor,
        make_spec: Callable[..., TaskSpec],
        started: list[str],
        start_timeout: float,
        interface_port: int | None,
    ) -> None:
        spec = make_spec()
        before = time.time()
        handle = engine.start(spec, executor)
        started.append(handle)
        assert isinstance(handle, str) and handle
        obs = wait_for(
            lambda: engine.poll(handle, executor),
            lambda o: o.state is Observed.RUNNING and (interface_port is None or o.port is not None),
            start_timeout,
        )
        assert obs.state is Observed.RUNNING, obs
        assert dict(obs.labels).items() >= dict(spec.labels).items(), "poll must report the spec's labels"
        pwned = Path("/tmp/rosetta-pwned")  # noqa: S108 - what HOSTILE would create if a shell ran it
        assert not (pwned.exists() and pwned.stat().st_mtime >= before), (
            "an environment value reached a shell"
        )
        if interface_port is not None:
            assert obs.port is not None and 0 < obs.port < 65536
        assert handle in engine.list_handles(executor)
        engine.stop(handle, executor)
        assert engine.poll(handle, executor).state is Observed.GONE
        assert handle not in engine.list_handles(executor)
        engine.stop(handle, executor)  # stopping twice is not an error

    @settings(
        max_examples=200,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )
    @given(value=ARGUMENT_TEXT)
    def test_any_value_stays_one_argv_entry(
        self, engine: ContainerEngine, make_spec: Callable[..., TaskSpec], value: str
    ) -> None:
        spec = make_spec(env={"ROSETTA_PROBE": value}, command=("echo", value))
        argv = engine.build_command(spec)
        assert f"ROSETTA_PROBE={value}" in argv
        assert argv[-2:] == ["echo", value]

    def test_poll_unknown_handle_is_gone(self, engine: ContainerEngine, executor: Executor) -> None:
        assert engine.poll(handle_for(new_id()), executor).state is Observed.GONE

    def test_exit_code_is_reported(
        self,
        engine: ContainerEngine,
        executor: Executor,
        make_spec: Callable[..., TaskSpec],
        started: list[str],
        exit_command: tuple[str, ...],
        start_timeout: float,
    ) -> None:
        handle = engine.start(make_spec(command=exit_command, interface_port=None), executor)
        started.append(handle)
        obs = wait_for(
            lambda: engine.poll(handle, executor),
            lambda o: o.state in (Observed.EXITED, Observed.FAILED),
            start_timeout,
        )
        assert obs.state in (Observed.EXITED, Observed.FAILED), obs
        assert obs.exit_code == 3

    def test_logs_are_text(
        self,
        engine: ContainerEngine,
        executor: Executor,
        make_spec: Callable[..., TaskSpec],
        started: list[str],
    ) -> None:
        handle = engine.start(make_spec(), executor)
        started.append(handle)
        assert isinstance(engine.logs(handle, executor, tail=10), str)


class WorkloadManagerContract:
    """The workload manager contract. Fixtures to provide: ``workload_manager``.

    Optional: ``executor`` (default local), ``engine_argv`` (a long-running command),
    ``job_timeout`` (seconds for a job to be seen running or gone).
    """

    @pytest.fixture
    def workload_manager(self) -> WorkloadManager:
        raise NotImplementedError("provide a `workload_manager` fixture")

    @pytest.fixture
    def executor(self) -> Executor:
        return LocalExecutor()

    @pytest.fixture
    def engine_argv(self) -> list[str]:
        return ["sleep", "300"]

    @pytest.fixture
    def job_timeout(self) -> float:
        return 30.0

    @pytest.fixture
    def spec(self) -> TaskSpec:
        task_id = new_id()
        return TaskSpec(task_id=task_id, name=handle_for(task_id), image="localhost/none:latest")

    @pytest.fixture
    def submitted(self, workload_manager: WorkloadManager, executor: Executor) -> Iterator[list[str]]:
        jobs: list[str] = []
        yield jobs
        for job in jobs:
            with contextlib.suppress(BackendError):
                workload_manager.cancel(job, executor)

    def test_render_script_is_pure_and_quotes(
        self, workload_manager: WorkloadManager, spec: TaskSpec, engine_argv: list[str]
    ) -> None:
        argv = [*engine_argv, HOSTILE]
        script = workload_manager.render_script(spec, argv)
        assert script == workload_manager.render_script(spec, argv)
        assert spec.name in script
        assert shlex.join(argv) in script

    def test_submit_query_cancel(
        self,
        workload_manager: WorkloadManager,
        executor: Executor,
        spec: TaskSpec,
        engine_argv: list[str],
        submitted: list[str],
        job_timeout: float,
    ) -> None:
        job = workload_manager.submit(workload_manager.render_script(spec, engine_argv), spec, executor)
        submitted.append(job)
        bogus = "999999999"

        def ask() -> Observation:
            answers = workload_manager.query_many([job, bogus], executor)
            assert set(answers) == {job, bogus}
            assert answers[bogus].state is Observed.GONE
            return answers[job]

        obs = wait_for(ask, lambda o: o.state is Observed.RUNNING, job_timeout)
        assert obs.state is Observed.RUNNING, obs
        assert workload_manager.find_jobs([spec.name], executor) == {spec.name: job}
        workload_manager.cancel(job, executor)
        obs = wait_for(
            ask, lambda o: o.state is not Observed.RUNNING and o.state is not Observed.PENDING, job_timeout
        )
        assert obs.state in (Observed.GONE, Observed.EXITED, Observed.FAILED), obs
        workload_manager.cancel(job, executor)  # cancelling twice is not an error

    def test_query_nothing(self, workload_manager: WorkloadManager, executor: Executor) -> None:
        assert dict(workload_manager.query_many([], executor)) == {}


class ExecutorContract:
    """The executor contract. Fixtures to provide: ``executor`` and ``workdir`` (a writable folder
    on the resource the executor acts on)."""

    @pytest.fixture
    def executor(self) -> Executor:
        raise NotImplementedError("provide an `executor` fixture")

    @pytest.fixture
    def workdir(self, tmp_path: Path) -> str:
        return str(tmp_path)

    def test_runs_argv_and_returns_output(self, executor: Executor) -> None:
        result = executor.run(["echo", "hello"])
        assert result.returncode == 0 and result.stdout == "hello\n"

    def test_arguments_are_never_shell_interpreted(self, executor: Executor) -> None:
        assert executor.run(["echo", HOSTILE]).stdout == HOSTILE + "\n"

    @settings(
        max_examples=100,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )
    @given(value=ARGUMENT_TEXT)
    def test_any_argument_arrives_unchanged(self, executor: Executor, value: str) -> None:
        # printf prints its argument as given: any shell on the way would have changed it
        assert executor.run(["printf", "%s", value]).stdout == value

    def test_failure_is_returned_not_raised(self, executor: Executor) -> None:
        result = executor.run(["sh", "-c", "echo oops >&2; exit 7"])
        assert result.returncode == 7 and "oops" in result.stderr
        with pytest.raises(ExecutorError):
            result.check()

    def test_missing_program_raises_command_not_found(self, executor: Executor) -> None:
        with pytest.raises(CommandNotFound):
            executor.run(["rosetta-no-such-program-xyz"])

    def test_timeout_raises(self, executor: Executor) -> None:
        with pytest.raises(CommandTimeout):
            executor.run(["sleep", "10"], timeout=0.5)

    def test_input_reaches_stdin(self, executor: Executor) -> None:
        assert executor.run(["cat"], input="abc\n").stdout == "abc\n"

    def test_shell_string_is_refused(self, executor: Executor) -> None:
        with pytest.raises(ExecutorError):
            executor.run("echo hi")

    def test_put_and_get_file(self, executor: Executor, workdir: str) -> None:
        path = f"{workdir}/sub/file.txt"
        executor.put_file(path, b"content\x00\xff", mode=0o600)
        assert executor.get_file(path) == b"content\x00\xff"
        mode = executor.run(["stat", "-c", "%a", path]).stdout.strip()
        assert mode == "600"
        with pytest.raises(ExecutorError):
            executor.get_file(f"{workdir}/missing")


class TunnelContract:
    """The tunnel contract. Fixtures to provide: ``tunnel``; optional ``running_task`` (a task whose
    interface listens at ``interface_host``/``interface_port``) and ``computing``."""

    @pytest.fixture
    def tunnel(self) -> Tunnel:
        raise NotImplementedError("provide a `tunnel` fixture")

    @pytest.fixture
    def computing(self) -> Computing:
        return Computing(name="local", engines=("podman",))

    @pytest.fixture
    def running_task(self) -> Task:
        return Task(
            name="t",
            owner="u",
            software="s",
            computing="local",
            status=TaskStatus.RUNNING,
            interface_host="127.0.0.1",
            interface_port=8888,
        )

    @pytest.fixture
    def opened(self, tunnel: Tunnel) -> Iterator[list[str]]:
        ids: list[str] = []
        yield ids
        for task_id in ids:
            tunnel.close(task_id)

    def test_open_is_idempotent(
        self, tunnel: Tunnel, running_task: Task, computing: Computing, opened: list[str]
    ) -> None:
        first = tunnel.open(running_task, computing)
        opened.append(running_task.id)
        assert isinstance(first, Endpoint) and 0 < first.port < 65536
        assert tunnel.open(running_task, computing) == first
        assert tunnel.endpoint(running_task.id) == first

    def test_close_forgets(self, tunnel: Tunnel, running_task: Task, computing: Computing) -> None:
        tunnel.open(running_task, computing)
        tunnel.close(running_task.id)
        assert tunnel.endpoint(running_task.id) is None
        tunnel.close(running_task.id)

    def test_unknown_task_has_no_endpoint(self, tunnel: Tunnel) -> None:
        assert tunnel.endpoint(new_id()) is None
        tunnel.close(new_id())


__all__: Sequence[str] = ["EngineContract", "ExecutorContract", "TunnelContract", "WorkloadManagerContract"]
