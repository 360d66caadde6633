"""Pulling images: the engine's ``pull`` on a fake client, and real pulls from the testbed's registry.

The real pulls need the docker daemon and the loopback registry of ``testbed/setup.sh`` (component
``registry``, named by ``TESTBED_REGISTRY`` in ``/var/lib/testbed/testbed.env``); they are skipped,
saying why, without them. Docker treats ``127.0.0.0/8`` registries as insecure by default, so the
daemon needs no configuration. The registry image's local copy is removed before and after.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import docker
import docker.errors
import pytest
import requests

import rosetta_docker.plugin
from rosetta_core.engines import Observed, PullingEngine, TaskSpec, handle_for
from rosetta_core.errors import BackendError, BackendUnavailable
from rosetta_core.executors import LocalExecutor
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, Software, TaskStatus, new_id
from rosetta_core.testing.contracts import wait_for
from rosetta_core.testing.fakes import ScriptedExecutor
from rosetta_docker.engine import DockerEngine, DockerOptions, connect, pull_progress_line
from rosetta_docker.plugin import LazyDockerEngine

NAME = "rosetta-0123abcd"
REF = "127.0.0.1:5000/testbed/busybox:latest"


def sdk_executor() -> ScriptedExecutor:
    """A scripted executor named as the local one, so calls take the SDK path; any command run
    through it would fail the test (it has no answers)."""
    executor = ScriptedExecutor()
    executor.name = "local"
    return executor


STREAM = [
    {"status": "Pulling from testbed/busybox", "id": "latest"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "46bbfdf5c16b"},
    {
        "status": "Downloading",
        "progressDetail": {"current": 1_234_567, "total": 2_500_000},
        "id": "46bbfdf5c16b",
    },
    {"status": "Pull complete", "progressDetail": {}, "id": "46bbfdf5c16b"},
    {"status": "Digest: sha256:0123"},
    {"status": f"Status: Downloaded newer image for {REF}"},
]


def spec(image: str = REF, **overrides: Any) -> TaskSpec:
    return TaskSpec(task_id="0123abcd", name=NAME, image=image, interface_port=8080, **overrides)


def fake_engine(**options: Any) -> tuple[DockerEngine, Any]:
    api = mock.create_autospec(docker.APIClient, instance=True)
    api.create_host_config.side_effect = lambda **kwargs: {"host": kwargs}
    api.create_container.return_value = {"Id": "52a272cafb43", "Warnings": []}
    api.inspect_image.side_effect = docker.errors.ImageNotFound("No such image")
    api.pull.return_value = iter(STREAM)
    return DockerEngine(DockerOptions(**options), client_factory=lambda _options: api), api


# ---------------------------------------------------------------- pull on a fake client


def test_the_engine_and_its_lazy_proxy_are_pulling_engines() -> None:
    assert isinstance(DockerEngine(), PullingEngine)
    lazy = LazyDockerEngine(DockerOptions())
    assert isinstance(lazy, PullingEngine)
    with mock.patch.object(DockerEngine, "pull") as pull:
        lazy.pull(spec(), sdk_executor(), print)
    pull.assert_called_once_with(spec(), mock.ANY, print)


def test_missing_pulls_reports_the_stream_and_start_does_not_look_again() -> None:
    engine, api = fake_engine(pull_policy="missing")
    lines: list[str] = []
    executor = sdk_executor()
    engine.pull(spec(), executor, lines.append)
    api.pull.assert_called_once_with(REF, stream=True, decode=True, platform=None)
    assert lines == [
        f"pulling {REF}",
        "latest: Pulling from testbed/busybox",
        "46bbfdf5c16b: Pulling fs layer",
        "46bbfdf5c16b: Downloading 1.2MB/2.5MB",
        "46bbfdf5c16b: Pull complete",
        "Digest: sha256:0123",
        f"Status: Downloaded newer image for {REF}",
        f"pulled {REF}",
    ]
    assert engine.start(spec(), executor) == NAME
    assert api.inspect_image.call_count == 1 and api.pull.call_count == 1
    assert executor.calls == []
    # a start without a pull before it applies the policy itself, silently
    api.pull.return_value = iter(STREAM)
    engine.start(spec(), executor)
    assert api.inspect_image.call_count == 2 and api.pull.call_count == 2


def test_missing_keeps_a_local_image() -> None:
    engine, api = fake_engine(pull_policy="missing")
    api.inspect_image.side_effect = None
    api.inspect_image.return_value = {"Id": "sha256:1", "Architecture": "amd64"}
    lines: list[str] = []
    engine.pull(spec(arch="amd64"), sdk_executor(), lines.append)
    assert lines == []
    api.pull.assert_not_called()


def test_always_pulls_for_the_platform_without_looking() -> None:
    engine, api = fake_engine(pull_policy="always")
    lines: list[str] = []
    engine.pull(spec(arch="arm64/v8"), sdk_executor(), lines.append)
    api.inspect_image.assert_not_called()
    api.pull.assert_called_once_with(REF, stream=True, decode=True, platform="linux/arm64/v8")
    assert lines[0] == f"pulling {REF} for linux/arm64/v8"
    engine.start(spec(arch="arm64/v8"), sdk_executor())
    assert api.pull.call_count == 1  # start did not pull a second time


def test_never_refuses_a_missing_image_without_asking_a_registry() -> None:
    engine, api = fake_engine(pull_policy="never")
    with pytest.raises(BackendError, match="not found locally, and pull_policy is 'never'") as info:
        engine.pull(spec(), sdk_executor(), print)
    assert not isinstance(info.value, BackendUnavailable)
    api.pull.assert_not_called()


def test_a_failed_pull_says_why() -> None:
    engine, api = fake_engine(pull_policy="always")
    api.pull.return_value = iter([{"status": "Pulling from testbed/nope"}, {"error": "manifest unknown"}])
    lines: list[str] = []
    with pytest.raises(BackendError, match=r"cannot pull image .*: manifest unknown"):
        engine.pull(spec(), sdk_executor(), lines.append)
    assert lines == [f"pulling {REF}", "Pulling from testbed/nope"]
    response = requests.Response()
    response.status_code = 500
    api.pull.side_effect = docker.errors.APIError("500", response=response, explanation="connection refused")
    with pytest.raises(BackendError, match="connection refused") as info:
        engine.pull(spec(), sdk_executor(), lines.append)
    assert not isinstance(info.value, BackendUnavailable)
    # neither failure counts as pulled: start applies the policy itself
    api.pull.side_effect = None
    api.pull.return_value = iter(STREAM)
    engine.start(spec(), sdk_executor())
    assert api.pull.call_count == 3


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            {"status": "Extracting", "progressDetail": {"current": 512, "total": 4096}, "id": "a1"},
            "a1: Extracting 512B/4.1kB",
        ),
        (
            {"status": "Downloading", "progressDetail": {"current": 3_000_000_000}, "id": "a1"},
            "a1: Downloading 3.0GB",
        ),
        ({"status": "Waiting", "progressDetail": {}, "id": "a1"}, "a1: Waiting"),
        ({"status": ""}, ""),
        ({"progress": "[==>  ]"}, ""),
        ("not a mapping", ""),
    ],
)
def test_pull_progress_line(event: object, line: str) -> None:
    assert pull_progress_line(event) == line


# ---------------------------------------------------------------- real pulls from the testbed registry


def registry_from_testbed() -> str | None:
    """``TESTBED_REGISTRY`` from the environment or the testbed's env file."""
    if os.environ.get("TESTBED_REGISTRY"):
        return os.environ["TESTBED_REGISTRY"]
    env_file = Path(os.environ.get("TESTBED_STATE", "/var/lib/testbed")) / "testbed.env"
    with contextlib.suppress(OSError):
        for line in env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "TESTBED_REGISTRY":
                return value.strip().strip('"') or None
    return None


@pytest.fixture
def registry() -> Iterator[str]:
    registry = registry_from_testbed()
    if registry is None:
        pytest.skip("no TESTBED_REGISTRY (run testbed/setup.sh with the component 'registry')")
    try:
        with urllib.request.urlopen(f"http://{registry}/v2/", timeout=5):
            pass
    except (urllib.error.URLError, OSError) as exc:
        pytest.skip(f"the testbed registry {registry} does not answer ({exc}; run testbed/setup.sh)")
    try:
        api = connect(DockerOptions(timeout=10))
    except BackendError as exc:
        pytest.skip(f"no docker daemon to test against ({exc}; run testbed/setup.sh)")
    ref = f"{registry}/testbed/busybox:latest"
    with contextlib.suppress(docker.errors.NotFound):
        api.remove_image(ref, force=True)
    try:
        yield registry
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_image(ref, force=True)
        api.close()


def registry_kernel(factory: Callable[..., Kernel], registry: str) -> Kernel:
    kernel = factory(
        {"docker": rosetta_docker.plugin},
        plugin_options={
            "docker": {
                "pull_policy": "missing",
                "init": True,
                "labels": {"test.rosetta-run": uuid.uuid4().hex},
            }
        },
    )
    kernel.store.add(Software(name="remote", image="testbed/busybox", registry=registry, interface_port=8080))
    kernel.store.add(Software(name="nope", image="testbed/nope", registry=registry))
    kernel.store.add(Computing(name="here", engines=("docker",)))
    return kernel


@pytest.mark.testbed
def test_a_task_pulls_its_image_from_the_registry_and_runs(
    rosetta_kernel_factory: Callable[..., Kernel], registry: str
) -> None:
    ref = f"{registry}/testbed/busybox:latest"
    kernel = registry_kernel(rosetta_kernel_factory, registry)
    engine = kernel.engines.get("docker")
    assert isinstance(engine, LazyDockerEngine)
    api = engine.engine._api()
    with pytest.raises(docker.errors.ImageNotFound):
        api.inspect_image(ref)  # type: ignore[no-untyped-call]
    executor = kernel.executor_for(kernel.store.get(Computing, "here"))
    task = kernel.orchestrator.run_task(owner="ada", software="remote", computing="here")
    handle = handle_for(task.id)
    try:
        deadline = time.monotonic() + 60
        while task.status is not TaskStatus.RUNNING and time.monotonic() < deadline:
            assert task.status in (TaskStatus.QUEUED, TaskStatus.STARTING), task
            time.sleep(0.2)
            kernel.orchestrator.reconcile()
            task = kernel.store.get_task(task.id)
        assert task.status is TaskStatus.RUNNING, task
        assert api.inspect_image(ref)["Id"]  # type: ignore[no-untyped-call]
        notes = [e for e in kernel.store.task_events(task.id) if e.from_status is e.to_status]
        assert notes and all(e.to_status is TaskStatus.STARTING for e in notes)
        assert notes[0].detail == f"pulling {ref} for linux/amd64"
        assert task.interface_port is not None
        with urllib.request.urlopen(f"http://127.0.0.1:{task.interface_port}/", timeout=10) as page:
            assert "testbed-busybox OK" in page.read().decode()
        stopped = kernel.orchestrator.stop_task(task.id)
        assert stopped.status is TaskStatus.STOPPED
        assert engine.poll(handle, executor).state is Observed.GONE
    finally:
        with contextlib.suppress(BackendError):
            engine.stop(handle, executor)


@pytest.mark.testbed
def test_an_image_the_registry_lacks_fails_the_task(
    rosetta_kernel_factory: Callable[..., Kernel], registry: str
) -> None:
    kernel = registry_kernel(rosetta_kernel_factory, registry)
    task = kernel.orchestrator.run_task(owner="ada", software="nope", computing="here")
    assert task.status is TaskStatus.FAILED, task
    assert task.error is not None
    assert f"cannot get image {registry}/testbed/nope:latest" in task.error
    engine = kernel.engines.get("docker")
    executor = kernel.executor_for(kernel.store.get(Computing, "here"))
    assert engine.poll(handle_for(task.id), executor).state is Observed.GONE


@pytest.mark.testbed
def test_an_unreachable_registry_is_a_readable_error(registry: str) -> None:
    del registry  # (the fixture skips without a daemon and a registry)
    engine = DockerEngine(DockerOptions(pull_policy="always"))
    try:
        with pytest.raises(BackendError, match="connection refused") as info:
            engine.pull(spec(image="127.0.0.1:9/testbed/busybox:latest"), sdk_executor(), print)
        assert not isinstance(info.value, BackendUnavailable)
    finally:
        engine.close()


class LocalCLIExecutor(LocalExecutor):
    """A test double: this machine's executor under another name, so the engine runs the docker
    program through it (the command-line path), as for an SSH-reached host."""

    name = "local-cli"


@pytest.fixture
def docker_program() -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker program on this machine (run testbed/setup.sh)")


@pytest.mark.testbed
@pytest.mark.usefixtures("docker_program")
def test_a_pull_through_the_command_line_reports_dockers_lines_and_the_image_runs(registry: str) -> None:
    ref = f"{registry}/testbed/busybox:latest"
    run = uuid.uuid4().hex
    engine = DockerEngine(DockerOptions(pull_policy="missing", init=True, labels={"test.rosetta-run": run}))
    executor = LocalCLIExecutor()
    task_id = new_id()
    task = TaskSpec(task_id=task_id, name=handle_for(task_id), image=ref, interface_port=8080, arch="amd64")
    lines: list[str] = []
    try:
        engine.pull(task, executor, lines.append)
        assert lines[0] == f"pulling {ref} for linux/amd64" and lines[-1] == f"pulled {ref}"
        assert f"Status: Downloaded newer image for {ref}" in lines
        assert engine._client is None  # the SDK was not asked
        engine.pull(task, executor, lines.append)  # now the daemon has it: nothing to do, nothing said
        assert lines[-1] == f"pulled {ref}" and lines.count(f"pulled {ref}") == 1
        assert engine.start(task, executor) == task.name
        obs = wait_for(lambda: engine.poll(task.name, executor), lambda o: o.port is not None, 30)
        assert obs.state is Observed.RUNNING and obs.port is not None
    finally:
        engine.stop(task.name, executor)
    assert engine.poll(task.name, executor).state is Observed.GONE
    left = executor.run(["docker", "ps", "-aq", "--filter", f"label=test.rosetta-run={run}"]).stdout
    assert left == ""


@pytest.mark.testbed
@pytest.mark.usefixtures("docker_program")
def test_an_unreachable_registry_is_a_readable_error_through_the_command_line(registry: str) -> None:
    del registry  # (the fixture skips without a daemon and a registry)
    engine = DockerEngine(DockerOptions(pull_policy="always"))
    with pytest.raises(BackendError, match="connection refused") as info:
        engine.pull(spec(image="127.0.0.1:9/testbed/busybox:latest"), LocalCLIExecutor(), print)
    assert not isinstance(info.value, BackendUnavailable)
    assert str(info.value).startswith("docker: cannot pull image 127.0.0.1:9/testbed/busybox:latest: ")
