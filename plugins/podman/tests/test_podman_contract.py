"""The engine contract and end-to-end checks against the real podman of the testbed.

Needs ``podman`` and the image ``localhost/testbed-busybox:latest`` (``testbed/setup.sh`` provides
both); the module is skipped, saying which is missing, when either is absent. Every container these
tests start carries a label unique to this run and is removed at the end, even after a failure.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator

import pytest

import rosetta_podman.plugin
from rosetta_core.engines import Observed, TaskSpec, handle_for
from rosetta_core.errors import BackendError
from rosetta_core.executors import Executor
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, Software, TaskStatus
from rosetta_core.testing.contracts import HOSTILE, EngineContract, wait_for
from rosetta_podman.engine import PodmanEngine, PodmanOptions

IMAGE = "localhost/testbed-busybox:latest"
PAGE = "testbed-busybox OK"
PODMAN = shutil.which("podman")
if PODMAN is None:
    pytest.skip("podman is not installed (run testbed/setup.sh)", allow_module_level=True)
if subprocess.run([PODMAN, "image", "exists", IMAGE], check=False).returncode != 0:
    pytest.skip(f"podman has no image {IMAGE} (run testbed/setup.sh)", allow_module_level=True)

pytestmark = pytest.mark.testbed

RUN_LABEL = f"rosetta.test-run={uuid.uuid4().hex}"
# --init: busybox httpd runs as PID 1, which ignores SIGTERM, so every stop would wait out the
# grace period; the label lets the module remove whatever a failing test left behind
TEST_ARGS = ("--init", "--label", RUN_LABEL)


@pytest.fixture(scope="module", autouse=True)
def remove_leftovers() -> Iterator[None]:
    yield
    assert PODMAN is not None
    found = subprocess.run(
        [PODMAN, "ps", "-aq", "--filter", f"label={RUN_LABEL}"], capture_output=True, text=True, check=False
    )
    ids = found.stdout.split()
    if ids:
        subprocess.run([PODMAN, "rm", "-f", "-t", "0", *ids], capture_output=True, check=False)


def make_engine() -> PodmanEngine:
    return PodmanEngine(PodmanOptions(pull_policy="never", extra_args=TEST_ARGS))


def get(url: str, timeout: float) -> str:
    """The body at ``url``, retrying until ``timeout``: the server may not listen yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class TestPodmanContract(EngineContract):
    """The kernel's engine contract, plus checks of what the contract cannot know about podman."""

    @pytest.fixture
    def engine(self) -> PodmanEngine:
        return make_engine()

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
        engine: PodmanEngine,
        executor: Executor,
        make_spec: Callable[..., TaskSpec],
        started: list[str],
    ) -> None:
        handle = engine.start(make_spec(), executor)
        started.append(handle)
        obs = wait_for(lambda: engine.poll(handle, executor), lambda o: o.port is not None, 30)
        assert obs.state is Observed.RUNNING and obs.host == "127.0.0.1" and obs.port is not None
        assert PAGE in get(f"http://{obs.host}:{obs.port}/", timeout=10)

    def test_environment_values_reach_the_container_intact(
        self,
        engine: PodmanEngine,
        executor: Executor,
        make_spec: Callable[..., TaskSpec],
        started: list[str],
    ) -> None:
        command = ("sh", "-c", 'printf "%s\\n" "$ROSETTA_CONTRACT"; echo done >&2; exec sleep 60')
        handle = engine.start(make_spec(command=command, interface_port=None), executor)
        started.append(handle)
        deadline = time.monotonic() + 10
        while "done" not in (text := engine.logs(handle, executor, tail=10)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert text == f"{HOSTILE}\ndone\n"
        assert engine.logs(handle, executor, tail=1) == "done\n"

    def test_failed_start_says_why_and_leaves_nothing(
        self, executor: Executor, make_spec: Callable[..., TaskSpec]
    ) -> None:
        # without --init the runtime itself fails to exec, so `podman run -d` fails after creating
        engine = PodmanEngine(PodmanOptions(pull_policy="never", extra_args=("--label", RUN_LABEL)))
        spec = make_spec(command=("/no/such/program",))
        with pytest.raises(BackendError, match="/no/such/program"):
            engine.start(spec, executor)
        assert engine.poll(spec.name, executor).state is Observed.GONE

    def test_missing_image_is_a_readable_error(
        self, engine: PodmanEngine, executor: Executor, make_spec: Callable[..., TaskSpec]
    ) -> None:
        spec = make_spec(image="localhost/rosetta-no-such-image:latest")
        with pytest.raises(BackendError, match="image not known"):
            engine.start(spec, executor)
        assert engine.poll(spec.name, executor).state is Observed.GONE


def test_a_task_runs_and_stops_through_the_orchestrator(
    rosetta_kernel_factory: Callable[..., Kernel],
) -> None:
    kernel = rosetta_kernel_factory(
        {"podman": rosetta_podman.plugin},
        plugin_options={"podman": {"pull_policy": "never", "extra_args": list(TEST_ARGS)}},
    )
    kernel.store.add(Software(name="bb", image="testbed-busybox", registry="localhost", interface_port=8080))
    kernel.store.add(Computing(name="here", engines=("podman",)))
    engine = kernel.engines.get("podman")
    executor = kernel.executor_for(kernel.store.get(Computing, "here"))
    task = kernel.orchestrator.run_task(owner="ada", software="bb", computing="here")
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

        stopped = kernel.orchestrator.stop_task(task.id)
        assert stopped.status is TaskStatus.STOPPED
        assert engine.poll(handle, executor).state is Observed.GONE
        assert handle not in engine.list_handles(executor)
    finally:
        with contextlib.suppress(BackendError):
            engine.stop(handle, executor)
