"""The engine contract and end-to-end checks against the real Docker daemon of the testbed, on
both paths: the SDK (the local executor) and the command line (:class:`LocalCLIExecutor`, this
machine's executor under another name, standing in for an SSH-reached host).

Needs a daemon at ``DOCKER_HOST`` or ``unix:///var/run/docker.sock`` with the image
``localhost/testbed-busybox:latest`` (``testbed/setup.sh`` provides both), and for the command
line the ``docker`` program; the module (or the command-line class) is skipped, saying which is
missing, when one is absent. Nothing is ever pulled (``pull_policy = "never"``). Every container
these tests start carries a label unique to this run; after each test none may be left, and the
module removes any at the end, even after a failure.
"""

from __future__ import annotations

import contextlib
import http.client
import shutil
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

import rosetta_docker.plugin
from rosetta_core import hookimpl
from rosetta_core.engines import Bind, Observed, Resources, TaskSpec, handle_for
from rosetta_core.errors import BackendError
from rosetta_core.executors import Executor, ExecutorFactory, LocalExecutor
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, Software, TaskStatus
from rosetta_core.testing.contracts import HOSTILE, EngineContract, wait_for
from rosetta_docker.engine import DockerEngine, DockerOptions, connect
from rosetta_docker.plugin import LazyDockerEngine

IMAGE = "localhost/testbed-busybox:latest"
PAGE = "testbed-busybox OK"
RUN_KEY, RUN_ID = "test.rosetta-run", uuid.uuid4().hex
RUN_LABEL = f"{RUN_KEY}={RUN_ID}"


def _daemon_or_skip() -> None:
    try:
        api = connect(DockerOptions(timeout=10))
    except BackendError as exc:
        pytest.skip(
            f"no docker daemon to test against ({exc}; run testbed/setup.sh)", allow_module_level=True
        )
    try:
        api.inspect_image(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"the docker daemon has no image {IMAGE} (run testbed/setup.sh)", allow_module_level=True)
    finally:
        api.close()


_daemon_or_skip()
pytestmark = pytest.mark.testbed

# init: busybox httpd runs as PID 1, which ignores SIGTERM, so every stop would wait out the
# grace period; the label lets the module remove whatever a failing test left behind
TEST_OPTIONS: dict[str, Any] = {"pull_policy": "never", "init": True, "labels": {RUN_KEY: RUN_ID}}


@pytest.fixture(scope="module", autouse=True)
def remove_leftovers() -> Iterator[None]:
    yield
    api = connect(DockerOptions())
    try:
        for row in api.containers(all=True, filters={"label": RUN_LABEL}):
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_container(row["Id"], force=True, v=True)
    finally:
        api.close()


def containers_of_this_run() -> list[str]:
    """Names of the containers carrying this run's label, running or not."""
    api = connect(DockerOptions())
    try:
        rows = api.containers(all=True, filters={"label": RUN_LABEL})
    finally:
        api.close()
    return sorted(str(name).lstrip("/") for row in rows for name in row.get("Names") or ())


@pytest.fixture(autouse=True)
def nothing_left_behind() -> Iterator[None]:
    """After every test (and its own clean-up), no container of this run may be left."""
    yield
    assert containers_of_this_run() == [], "the test left containers behind"


class LocalCLIExecutor(LocalExecutor):
    """A test double: this machine's executor under another name, so the engine takes the
    command-line path as it does for an SSH-reached host, against the testbed's daemon."""

    name = "local-cli"


class CLIExecutors:
    """A test plugin registering the executor ``local-cli`` (a :class:`LocalCLIExecutor`)."""

    @hookimpl
    def rosetta_register_executors(self, register: Callable[[str, ExecutorFactory], None]) -> None:
        def factory(_computing: Computing, _owner: str | None = None) -> Executor:
            return LocalCLIExecutor()

        register(LocalCLIExecutor.name, factory)


def never_connect(_options: DockerOptions) -> Any:
    raise AssertionError("the command-line path must not make an SDK client")


@pytest.fixture
def inspect() -> Iterator[Callable[[str], dict[str, Any]]]:
    """The daemon's raw inspect record of a container, from a client of the test's own."""
    api = connect(DockerOptions())

    def get(name: str) -> dict[str, Any]:
        record: dict[str, Any] = api.inspect_container(name)
        return record

    yield get
    api.close()


def make_engine(**options: Any) -> DockerEngine:
    return DockerEngine(DockerOptions(**{**TEST_OPTIONS, **options}))


def get(url: str, timeout: float) -> str:
    """The body at ``url``, retrying until ``timeout``: docker's port proxy accepts connections
    before the server in the container listens, and those first requests get an empty reply."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode())
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def wait_for_logs(engine: DockerEngine, handle: str, executor: Executor, needle: str) -> str:
    deadline = time.monotonic() + 10
    while needle not in (text := engine.logs(handle, executor, tail=10)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return text


class TestDockerContract(EngineContract):
    """The kernel's engine contract, plus checks of what the contract cannot know about docker."""

    @pytest.fixture
    def engine(self) -> Iterator[DockerEngine]:
        engine = make_engine()
        yield engine
        engine.close()

    @pytest.fixture
    def image(self) -> str:
        return IMAGE

    @pytest.fixture
    def interface_port(self) -> int | None:
        return 8080

    @pytest.fixture
    def exit_command(self) -> tuple[str, ...]:
        return ("sh", "-c", "exit 3")

    def test_interface_answers_on_the_published_port(
        self,
        engine: DockerEngine,
        executor: Executor,
        make_spec: Callable[..., TaskSpec],
        started: list[str],
        inspect: Callable[[str], dict[str, Any]],
    ) -> None:
        handle = engine.start(make_spec(), executor)
        started.append(handle)
        obs = wait_for(lambda: engine.poll(handle, executor), lambda o: o.port is not None, 30)
        assert obs.state is Observed.RUNNING and obs.host == "127.0.0.1" and obs.port is not None
        assert PAGE in get(f"http://{obs.host}:{obs.port}/", timeout=10)
        # published on loopback only
        (binding,) = inspect(handle)["NetworkSettings"]["Ports"]["8080/tcp"]
        assert binding == {"HostIp": "127.0.0.1", "HostPort": str(obs.port)}

    def test_environment_values_reach_the_container_intact(
        self,
        engine: DockerEngine,
        executor: Executor,
        make_spec: Callable[..., TaskSpec],
        started: list[str],
    ) -> None:
        command = ("sh", "-c", 'printf "%s\\n" "$ROSETTA_CONTRACT"; sleep 0.2; echo done >&2; exec sleep 60')
        handle = engine.start(make_spec(command=command, interface_port=None), executor)
        started.append(handle)
        assert wait_for_logs(engine, handle, executor, "done") == f"{HOSTILE}\ndone\n"
        assert engine.logs(handle, executor, tail=1) == "done\n"

    def test_limits_and_binds_reach_the_container(
        self,
        engine: DockerEngine,
        executor: Executor,
        make_spec: Callable[..., TaskSpec],
        started: list[str],
        inspect: Callable[[str], dict[str, Any]],
        tmp_path: Path,
    ) -> None:
        (tmp_path / "note.txt").write_text("from the host\n")
        spec = make_spec(
            command=(
                "sh",
                "-c",
                "cat /in/note.txt; touch /in/x 2>/dev/null || echo read-only; exec sleep 60",
            ),
            interface_port=None,
            resources=Resources(cpus=1, memory_mb=64),
            binds=(Bind(source=str(tmp_path), target="/in", read_only=True),),
        )
        handle = engine.start(spec, executor)
        started.append(handle)
        assert wait_for_logs(engine, handle, executor, "read-only") == "from the host\nread-only\n"
        host = inspect(handle)["HostConfig"]
        assert (host["NanoCpus"], host["Memory"], host["Init"]) == (1_000_000_000, 64 * 2**20, True)

    def test_starting_twice_starts_one_container(
        self,
        engine: DockerEngine,
        executor: Executor,
        make_spec: Callable[..., TaskSpec],
        started: list[str],
        inspect: Callable[[str], dict[str, Any]],
    ) -> None:
        spec = make_spec()
        handle = engine.start(spec, executor)
        started.append(handle)
        first = inspect(handle)["Id"]
        assert engine.start(spec, executor) == handle
        assert inspect(handle)["Id"] == first

    def test_a_container_left_created_is_started_by_the_next_start(
        self,
        engine: DockerEngine,
        executor: Executor,
        make_spec: Callable[..., TaskSpec],
        started: list[str],
    ) -> None:
        # what a crash between "create" and "start" leaves behind
        spec = make_spec()
        container, host = engine.create_args(spec)
        api = connect(engine.options)
        try:
            api.create_container(**container, host_config=api.create_host_config(**host))
        finally:
            api.close()
        started.append(spec.name)
        assert engine.poll(spec.name, executor).state is Observed.PENDING
        assert engine.start(spec, executor) == spec.name
        assert engine.poll(spec.name, executor).state is Observed.RUNNING

    def test_failed_start_says_why_and_leaves_nothing(
        self, executor: Executor, make_spec: Callable[..., TaskSpec]
    ) -> None:
        # without an init process the runtime itself fails to exec, after the container was created
        engine = make_engine(init=False)
        spec = make_spec(command=("/no/such/program",))
        try:
            with pytest.raises(BackendError, match="/no/such/program") as info:
                engine.start(spec, executor)
            assert str(info.value).startswith(f"docker: cannot start container {spec.name}")
            assert engine.poll(spec.name, executor).state is Observed.GONE
        finally:
            engine.close()

    def test_missing_image_is_a_readable_error(
        self, engine: DockerEngine, executor: Executor, make_spec: Callable[..., TaskSpec]
    ) -> None:
        spec = make_spec(image="localhost/rosetta-no-such-image:latest")
        with pytest.raises(
            BackendError, match="image localhost/rosetta-no-such-image:latest not found locally"
        ):
            engine.start(spec, executor)
        assert engine.poll(spec.name, executor).state is Observed.GONE


class TestDockerContractThroughTheCommandLine(TestDockerContract):
    """The same checks with the engine running the ``docker`` program through the executor."""

    @pytest.fixture(autouse=True)
    def docker_program(self) -> None:
        if shutil.which("docker") is None:
            pytest.skip("no docker program on this machine (run testbed/setup.sh)")

    @pytest.fixture
    def engine(self) -> Iterator[DockerEngine]:
        engine = DockerEngine(DockerOptions(**TEST_OPTIONS), client_factory=never_connect)
        yield engine
        engine.close()

    @pytest.fixture
    def executor(self) -> Executor:
        return LocalCLIExecutor()

    def test_the_engine_takes_the_command_line_path(self, engine: DockerEngine, executor: Executor) -> None:
        assert engine.uses_command_line(executor)
        assert not engine.uses_command_line(LocalExecutor())


def run_kernel(factory: Callable[..., Kernel], **options: Any) -> Kernel:
    kernel = factory(
        {"docker": rosetta_docker.plugin, "cli-executors": CLIExecutors()},
        plugin_options={"docker": {**TEST_OPTIONS, **options}},
    )
    kernel.store.add(Software(name="bb", image="testbed-busybox", registry="localhost", interface_port=8080))
    kernel.store.add(Software(name="none", image="rosetta-no-such-image", registry="localhost"))
    kernel.store.add(Computing(name="here", engines=("docker",)))
    kernel.store.add(Computing(name="there", engines=("docker",), executor=LocalCLIExecutor.name))
    return kernel


@pytest.mark.parametrize("computing", ["here", "there"])
def test_a_task_runs_and_stops_through_the_orchestrator(
    rosetta_kernel_factory: Callable[..., Kernel], computing: str
) -> None:
    if computing == "there" and shutil.which("docker") is None:
        pytest.skip("no docker program on this machine (run testbed/setup.sh)")
    kernel = run_kernel(rosetta_kernel_factory)
    engine = kernel.engines.get("docker")
    assert isinstance(engine, LazyDockerEngine)
    executor = kernel.executor_for(kernel.store.get(Computing, computing))
    assert engine.engine.uses_command_line(executor) is (computing == "there")
    task = kernel.orchestrator.run_task(owner="ada", software="bb", computing=computing)
    handle = handle_for(task.id)
    try:
        assert task.handle == handle
        deadline = time.monotonic() + 30
        while task.status is not TaskStatus.RUNNING and time.monotonic() < deadline:
            assert task.status in (TaskStatus.QUEUED, TaskStatus.STARTING), task
            time.sleep(0.2)
            kernel.orchestrator.reconcile()
            task = kernel.store.get_task(task.id)
        assert task.status is TaskStatus.RUNNING, task
        assert task.interface_host == "127.0.0.1" and task.interface_port is not None
        assert PAGE in get(f"http://127.0.0.1:{task.interface_port}/", timeout=10)
        assert handle in engine.list_handles(executor)
        assert engine.poll(handle, executor).labels["rosetta.instance"] == kernel.orchestrator.instance_id

        stopped = kernel.orchestrator.stop_task(task.id)
        assert stopped.status is TaskStatus.STOPPED
        assert engine.poll(handle, executor).state is Observed.GONE
        assert handle not in engine.list_handles(executor)
    finally:
        with contextlib.suppress(BackendError):
            engine.stop(handle, executor)


@pytest.mark.parametrize("computing", ["here", "there"])
def test_a_missing_image_fails_the_task_with_a_readable_reason(
    rosetta_kernel_factory: Callable[..., Kernel], computing: str
) -> None:
    kernel = run_kernel(rosetta_kernel_factory)
    task = kernel.orchestrator.run_task(owner="ada", software="none", computing=computing)
    assert task.status is TaskStatus.FAILED, task
    assert task.error is not None
    assert "image localhost/rosetta-no-such-image:latest not found locally" in task.error
    engine = kernel.engines.get("docker")
    executor = kernel.executor_for(kernel.store.get(Computing, computing))
    assert engine.poll(handle_for(task.id), executor).state is Observed.GONE
