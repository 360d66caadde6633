"""The fakes of the testing kit behave as documented."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rosetta_core.engines import ContainerEngine, Observed, TaskSpec
from rosetta_core.errors import BackendError, BackendUnavailable, ExecutorError
from rosetta_core.executors import Executor
from rosetta_core.kernel import Kernel
from rosetta_core.testing import FakeEngine, FakeEnginePlugin, ScriptedExecutor


def test_scripted_executor_answers_by_prefix(scripted_executor: ScriptedExecutor) -> None:
    scripted_executor.expect(["podman", "ps"], stdout="a\n")
    scripted_executor.expect(["podman", "ps", "-a"], stdout="b\n")
    scripted_executor.expect(["podman", "rm"], raises=BackendUnavailable("down"))
    assert scripted_executor.run(["podman", "ps", "-q"]).stdout == "a\n"
    assert scripted_executor.run(["podman", "ps", "-a"]).stdout == "b\n"
    with pytest.raises(BackendUnavailable):
        scripted_executor.run(["podman", "rm", "x"])
    with pytest.raises(ExecutorError, match="no answer"):
        scripted_executor.run(["docker"])
    assert scripted_executor.argvs()[0] == ("podman", "ps", "-q")
    assert isinstance(scripted_executor, Executor)


def test_scripted_executor_files(scripted_executor: ScriptedExecutor) -> None:
    scripted_executor.put_file("/x", b"abc")
    assert scripted_executor.get_file("/x", max_bytes=2) == b"bc"
    with pytest.raises(ExecutorError):
        scripted_executor.get_file("/y")


def test_fake_engine(scripted_executor: ScriptedExecutor) -> None:
    engine = FakeEngine()
    assert isinstance(engine, ContainerEngine)
    spec = TaskSpec(task_id="1", name="rosetta-1", image="i", interface_port=80)
    engine.start(spec, scripted_executor)
    with pytest.raises(BackendError):
        engine.start(spec, scripted_executor)
    obs = engine.poll("rosetta-1", scripted_executor)
    assert obs.state is Observed.RUNNING and obs.port == engine.next_port
    engine.unavailable = True
    with pytest.raises(BackendUnavailable):
        engine.poll("rosetta-1", scripted_executor)
    engine.unavailable = False
    engine.stop("rosetta-1", scripted_executor)
    assert engine.poll("rosetta-1", scripted_executor).state is Observed.GONE


def test_fake_engine_plugin_registers_its_engine(rosetta_kernel_factory: Callable[..., Kernel]) -> None:
    engine = FakeEngine("spare")
    kernel = rosetta_kernel_factory({"spare": FakeEnginePlugin(engine)})
    assert kernel.engines.get("spare") is engine
