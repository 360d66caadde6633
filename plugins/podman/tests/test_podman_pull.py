"""Pulling images: the pull-policy decisions (scripted, no podman run) and real pulls from the
testbed's registry.

The real pulls need podman and the loopback registry of ``testbed/setup.sh`` (component
``registry``, named by ``TESTBED_REGISTRY`` in ``/var/lib/testbed/testbed.env``); they are skipped,
saying why, without them. They remove the registry image's local copy before and after.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import rosetta_podman.plugin
from rosetta_core.engines import Observed, PullingEngine, TaskSpec, handle_for
from rosetta_core.errors import BackendError, BackendUnavailable, CommandTimeout, ConfigError
from rosetta_core.executors import LocalExecutor
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, Software, TaskStatus
from rosetta_core.testing.fakes import ScriptedExecutor
from rosetta_podman.engine import PodmanEngine, PodmanOptions, registry_of

NAME = "rosetta-0123abcd"
REF = "127.0.0.1:5000/testbed/busybox:latest"
PULL_STDERR = (
    "Trying to pull 127.0.0.1:5000/testbed/busybox:latest...\n"
    "Getting image source signatures\n"
    "Copying blob sha256:769ce78cb2af done   |\n"
    "Copying config sha256:5d3a0d2e1f4b done   |\n"
    "Writing manifest to image destination\n"
)


def spec(image: str = REF, **overrides: Any) -> TaskSpec:
    return TaskSpec(task_id="0123abcd", name=NAME, image=image, interface_port=8080, **overrides)


def engine(**options: Any) -> PodmanEngine:
    return PodmanEngine(PodmanOptions(**options))


def pull(eng: PodmanEngine, ex: ScriptedExecutor, task: TaskSpec | None = None) -> list[str]:
    lines: list[str] = []
    eng.pull(task or spec(), ex, lines.append)
    return lines


# ---------------------------------------------------------------- policy decisions (scripted)


def test_the_engine_is_a_pulling_engine() -> None:
    assert isinstance(engine(), PullingEngine)


def test_never_does_nothing_and_start_keeps_the_policy() -> None:
    ex = ScriptedExecutor()
    eng = engine(pull_policy="never")
    assert pull(eng, ex) == [] and ex.calls == []
    ex.expect(["podman", "run"], stdout="abc\n")
    eng.start(spec(), ex)
    assert "--pull=never" in ex.calls[-1].argv


def test_missing_with_a_local_image_does_not_pull() -> None:
    ex = ScriptedExecutor()
    ex.expect(["podman", "image", "exists", REF])
    eng = engine(pull_policy="missing")
    assert pull(eng, ex) == []
    assert [c.argv[:3] for c in ex.calls] == [("podman", "image", "exists")]
    # start after a pull that found the image: no second look at the registry
    ex.expect(["podman", "run"], stdout="abc\n")
    eng.start(spec(), ex)
    assert "--pull=never" in ex.calls[-1].argv


def test_missing_without_a_local_image_pulls_and_reports() -> None:
    ex = ScriptedExecutor()
    ex.expect(["podman", "image", "exists"], returncode=1)
    ex.expect(["podman", "pull"], stdout="5d3a0d2e1f4b9c8a\n", stderr=PULL_STDERR)
    eng = engine(pull_policy="missing", insecure_registries=("127.0.0.1:5000",))
    lines = pull(eng, ex, spec(arch="arm64/v8"))
    assert ex.calls[-1].argv == (
        "podman",
        "pull",
        "--tls-verify=false",
        "--arch",
        "arm64",
        "--variant",
        "v8",
        REF,
    )
    assert lines[0] == f"pulling {REF}"
    assert lines[-1] == f"pulled {REF} (5d3a0d2e1f4b)"
    assert "Copying blob sha256:769ce78cb2af done   |" in lines
    assert "Getting image source signatures" not in lines


@pytest.mark.parametrize("policy", ["always", "newer"])
def test_always_and_newer_pull_without_looking_and_start_does_not_pull_again(policy: str) -> None:
    ex = ScriptedExecutor()
    ex.expect(["podman", "pull"], stdout="5d3a\n", stderr=PULL_STDERR)
    ex.expect(["podman", "run"], stdout="abc\n")
    eng = engine(pull_policy=policy)
    pull(eng, ex, spec(image="localhost/web:1"))
    # not an insecure registry: TLS verification stays on
    assert ex.calls[0].argv == ("podman", "pull", "localhost/web:1")
    assert eng.start(spec(image="localhost/web:1"), ex) == NAME
    assert "--pull=never" in ex.calls[-1].argv
    # a start without a pull before it (a container restarted later) applies the policy itself
    eng.start(spec(image="localhost/web:1"), ex)
    assert f"--pull={policy}" in ex.calls[-1].argv
    assert eng.build_command(spec(image="localhost/web:1"))[3] == f"--pull={policy}"


def test_a_failed_pull_says_why() -> None:
    ex = ScriptedExecutor()
    ex.expect(
        ["podman", "pull"],
        returncode=125,
        stderr="Trying to pull 127.0.0.1:5000/testbed/nope:latest...\n"
        "Error: initializing source docker://127.0.0.1:5000/testbed/nope:latest: "
        "reading manifest latest in 127.0.0.1:5000/testbed/nope: manifest unknown\n",
    )
    lines: list[str] = []
    eng = engine(pull_policy="always")
    with pytest.raises(BackendError, match=r"cannot pull image .*manifest unknown") as info:
        eng.pull(spec(image="127.0.0.1:5000/testbed/nope:latest"), ex, lines.append)
    assert not isinstance(info.value, BackendUnavailable)
    assert lines == ["pulling 127.0.0.1:5000/testbed/nope:latest"]
    # the failed pull leaves start with its own policy
    ex.expect(["podman", "run"], stdout="abc\n")
    eng.start(spec(image="127.0.0.1:5000/testbed/nope:latest"), ex)
    assert "--pull=always" in ex.calls[-1].argv


def test_podman_failing_to_look_up_an_image_is_an_error() -> None:
    ex = ScriptedExecutor()
    ex.expect(["podman", "image", "exists"], returncode=125, stderr="Error: database is locked")
    with pytest.raises(BackendError, match=r"cannot look up image .*database is locked"):
        pull(engine(pull_policy="missing"), ex)
    assert len(ex.calls) == 1


def test_a_pull_that_times_out_is_unavailability_with_the_pull_timeout() -> None:
    ex = ScriptedExecutor()
    ex.expect(["podman", "pull"], raises=CommandTimeout("too slow"))
    with pytest.raises(BackendUnavailable, match="did not answer within 600 s"):
        pull(engine(pull_policy="always", timeout=30, pull_timeout=600), ex)
    assert ex.calls[0].timeout == 600


def test_a_bad_image_reference_is_refused_before_podman_runs() -> None:
    ex = ScriptedExecutor()
    with pytest.raises(BackendError, match="is not an image reference"):
        pull(engine(pull_policy="always"), ex, spec(image="--privileged"))
    assert ex.calls == []


@pytest.mark.parametrize(
    ("image", "registry"),
    [
        ("127.0.0.1:5000/testbed/busybox:latest", "127.0.0.1:5000"),
        ("localhost/web:1", "localhost"),
        ("registry.internal/a/b", "registry.internal"),
        ("[::1]:5000/x", "[::1]:5000"),
        ("busybox", ""),
        ("library/busybox:1", ""),
    ],
)
def test_registry_of(image: str, registry: str) -> None:
    assert registry_of(image) == registry


def test_insecure_registries_are_validated(rosetta_kernel_factory: Callable[..., Kernel]) -> None:
    kernel = rosetta_kernel_factory(
        {"podman": rosetta_podman.plugin},
        plugin_options={"podman": {"insecure_registries": ["127.0.0.1:5000", "localhost"]}},
    )
    eng = kernel.engines.get("podman")
    assert isinstance(eng, PodmanEngine)
    assert eng.options.insecure_registries == ("127.0.0.1:5000", "localhost")
    for bad in (["http://127.0.0.1:5000"], ["127.0.0.1:5000/x"], ["host:70000"], [""]):
        with pytest.raises(ConfigError, match=r"\$\.plugin\.podman\.insecure_registries"):
            rosetta_kernel_factory(
                {"podman": rosetta_podman.plugin}, plugin_options={"podman": {"insecure_registries": bad}}
            )


# ---------------------------------------------------------------- real pulls from the testbed registry

PODMAN = shutil.which("podman")


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


def registry_or_skip() -> str:
    if PODMAN is None:
        pytest.skip("podman is not installed (run testbed/setup.sh)")
    registry = registry_from_testbed()
    if registry is None:
        pytest.skip("no TESTBED_REGISTRY (run testbed/setup.sh with the component 'registry')")
    try:
        with urllib.request.urlopen(f"http://{registry}/v2/", timeout=5):
            pass
    except (urllib.error.URLError, OSError) as exc:
        pytest.skip(f"the testbed registry {registry} does not answer ({exc}; run testbed/setup.sh)")
    return registry


def rmi(ref: str) -> None:
    assert PODMAN is not None
    subprocess.run([PODMAN, "rmi", "-f", ref], capture_output=True, check=False)


@pytest.fixture
def registry() -> Iterator[str]:
    registry = registry_or_skip()
    rmi(f"{registry}/testbed/busybox:latest")
    yield registry
    rmi(f"{registry}/testbed/busybox:latest")


def registry_kernel(factory: Callable[..., Kernel], registry: str) -> Kernel:
    kernel = factory(
        {"podman": rosetta_podman.plugin},
        plugin_options={
            "podman": {
                "pull_policy": "missing",
                "insecure_registries": [registry],
                # busybox httpd as PID 1 ignores SIGTERM; the label marks what this test started
                "extra_args": ["--init", "--label", f"rosetta.test-run={uuid.uuid4().hex}"],
            }
        },
    )
    kernel.store.add(Software(name="remote", image="testbed/busybox", registry=registry, interface_port=8080))
    kernel.store.add(Software(name="nope", image="testbed/nope", registry=registry))
    kernel.store.add(Computing(name="here", engines=("podman",)))
    return kernel


@pytest.mark.testbed
def test_a_task_pulls_its_image_from_the_registry_and_runs(
    rosetta_kernel_factory: Callable[..., Kernel], registry: str
) -> None:
    ref = f"{registry}/testbed/busybox:latest"
    assert PODMAN is not None
    assert subprocess.run([PODMAN, "image", "exists", ref], check=False).returncode == 1
    kernel = registry_kernel(rosetta_kernel_factory, registry)
    eng = kernel.engines.get("podman")
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
        assert subprocess.run([PODMAN, "image", "exists", ref], check=False).returncode == 0
        notes = [e for e in kernel.store.task_events(task.id) if e.from_status is e.to_status]
        assert notes and all(e.to_status is TaskStatus.STARTING for e in notes)
        assert notes[0].detail == f"pulling {ref}"
        assert task.interface_port is not None
        with urllib.request.urlopen(f"http://127.0.0.1:{task.interface_port}/", timeout=10) as page:
            assert "testbed-busybox OK" in page.read().decode()
        stopped = kernel.orchestrator.stop_task(task.id)
        assert stopped.status is TaskStatus.STOPPED
        assert eng.poll(handle, executor).state is Observed.GONE
    finally:
        with contextlib.suppress(BackendError):
            eng.stop(handle, executor)


@pytest.mark.testbed
def test_an_image_the_registry_lacks_fails_the_task(
    rosetta_kernel_factory: Callable[..., Kernel], registry: str
) -> None:
    kernel = registry_kernel(rosetta_kernel_factory, registry)
    task = kernel.orchestrator.run_task(owner="ada", software="nope", computing="here")
    assert task.status is TaskStatus.FAILED, task
    assert task.error is not None
    assert f"cannot get image {registry}/testbed/nope:latest" in task.error
    assert "manifest unknown" in task.error or "not found" in task.error, task.error
    eng = kernel.engines.get("podman")
    executor = kernel.executor_for(kernel.store.get(Computing, "here"))
    assert eng.poll(handle_for(task.id), executor).state is Observed.GONE


@pytest.mark.testbed
def test_an_unreachable_registry_is_a_readable_error() -> None:
    registry_or_skip()
    eng = engine(pull_policy="always", insecure_registries=("127.0.0.1:9",), timeout=30)
    with pytest.raises(
        BackendError, match=re.escape("cannot pull image 127.0.0.1:9/testbed/busybox:latest")
    ) as info:
        eng.pull(spec(image="127.0.0.1:9/testbed/busybox:latest"), LocalExecutor(), lambda _line: None)
    assert not isinstance(info.value, BackendUnavailable)
    assert "connection refused" in str(info.value).lower() and "level=warning" not in str(info.value)
