"""The platform's side of the agent: the launch argv, and reading status files only when needed."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from rosetta_core import hookimpl
from rosetta_core.agent.channel import AgentChannel
from rosetta_core.agent.extensions import AgentExtension
from rosetta_core.agent.request import AGENT_SOURCE
from rosetta_core.engines import Observation, Observed, TaskSpec, handle_for
from rosetta_core.errors import BackendError, ExecutorError, PluginError
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, Task, TaskStatus
from rosetta_core.testing import FakeEngine, ScriptedExecutor


@pytest.fixture
def kernel(rosetta_kernel_factory: Callable[..., Kernel]) -> Kernel:
    return rosetta_kernel_factory(
        core_options={"agent_python": "/opt/py/bin/python3", "agent_bind": "0.0.0.0"}
    )


@pytest.fixture
def executor() -> ScriptedExecutor:
    scripted = ScriptedExecutor()
    scripted.expect(["sh", "-c"], stdout="/home/ada")
    return scripted


def task(**fields: object) -> Task:
    base: dict[str, object] = {"name": "t", "owner": "ada", "software": "s", "computing": "c"}
    made = Task(**{**base, **fields})  # type: ignore[arg-type]
    return Task(**{**base, **fields, "id": made.id, "handle": handle_for(made.id)})  # type: ignore[arg-type]


def test_launch_argv_runs_the_agent_with_the_engines_argv(kernel: Kernel, executor: ScriptedExecutor) -> None:
    spec = TaskSpec(task_id="t1", name="rosetta-t1", image="img", interface_port=8080)
    argv = kernel.agents.launch_argv(spec, FakeEngine(), executor)
    assert argv[:3] == ["/opt/py/bin/python3", "-c", AGENT_SOURCE]
    request = json.loads(argv[3])
    assert request["status"] == "/home/ada/.rosetta/agent/rosetta-t1.json"
    assert request["bind"] == "0.0.0.0" and request["engine"] == "fake" and request["callback"] is None
    kernel.agents.launch_argv(spec, FakeEngine(), executor)
    assert sum(c.argv[0] == "sh" for c in executor.calls) == 1  # the home is asked once


def test_a_callback_gets_the_tasks_own_secret(rosetta_kernel_factory: Callable[..., Kernel]) -> None:
    kernel = rosetta_kernel_factory(core_options={"agent_callback_url": "https://platform.example.org/agent"})
    scripted = ScriptedExecutor()
    scripted.expect(["sh", "-c"], stdout="/home/ada")
    spec = TaskSpec(task_id="t1", name="rosetta-t1", image="img")
    callback = json.loads(kernel.agents.launch_argv(spec, FakeEngine(), scripted)[3])["callback"]
    assert callback["url"] == "https://platform.example.org/agent" and len(callback["secret"]) == 64
    assert kernel.secret not in callback["secret"]


EXTENSION_SOURCE = "def start(config, host, port, log):\n    return None\n"


class ExtensionPlugin:
    """Returns ``returns`` for tasks on computing ``only``."""

    def __init__(self, returns: object, only: str = "c") -> None:
        self.returns = returns
        self.only = only
        self.seen: list[tuple[str, str]] = []

    @hookimpl
    def rosetta_agent_extensions(self, task: Task, computing: Computing) -> object:
        self.seen.append((task.id, computing.name))
        return self.returns if computing.name == self.only else None


def test_extensions_from_the_hook_travel_in_the_request(
    rosetta_kernel_factory: Callable[..., Kernel], executor: ScriptedExecutor
) -> None:
    extension = AgentExtension(name="dialer", source=EXTENSION_SOURCE, config={"task": "t1"})
    plugin = ExtensionPlugin([extension])
    kernel = rosetta_kernel_factory({"ext": plugin})
    kernel.store.add(Computing(name="c", engines=("fake",)))
    kernel.store.add(Computing(name="other", engines=("fake",)))
    spec = TaskSpec(task_id="t1", name="rosetta-t1", image="img", interface_port=8080)
    request = json.loads(kernel.agents.launch_argv(spec, FakeEngine(), executor, task(computing="c"))[3])
    assert request["extensions"] == [extension.to_dict()]
    bare = json.loads(kernel.agents.launch_argv(spec, FakeEngine(), executor, task(computing="other"))[3])
    assert bare["extensions"] == []
    assert [name for _, name in plugin.seen] == ["c", "other"]


@pytest.mark.parametrize("returns", [["not an extension"], "dup"])
def test_a_bad_or_doubled_extension_is_a_plugin_error(
    rosetta_kernel_factory: Callable[..., Kernel], returns: object
) -> None:
    extension = AgentExtension(name="dialer", source=EXTENSION_SOURCE)
    plugins = (
        {"a": ExtensionPlugin(returns)}
        if returns != "dup"
        else {"a": ExtensionPlugin([extension]), "b": ExtensionPlugin([extension])}
    )
    kernel = rosetta_kernel_factory(plugins)
    kernel.store.add(Computing(name="c", engines=("fake",)))
    with pytest.raises(PluginError):
        kernel.agents.extensions(task(computing="c"))


def test_status_is_read_only_while_the_address_is_unknown_or_at_the_end(
    kernel: Kernel, executor: ScriptedExecutor
) -> None:
    channel = AgentChannel(kernel)
    t = task(status=TaskStatus.STARTING)
    path = f"/home/ada/.rosetta/agent/{t.handle}.json"
    executor.files[path] = json.dumps(
        {"task": t.id, "state": "running", "host": "node1", "port": 40001}
    ).encode()
    running = Observation(state=Observed.RUNNING, host="node1")
    assert channel.refine(t, running, executor).port == 40001
    known = task(status=TaskStatus.RUNNING, interface_host="node1", interface_port=40001)
    reads = len(executor.calls)
    assert channel.refine(known, running, executor) is running
    assert channel.refine(t, Observation(state=Observed.PENDING), executor).state is Observed.PENDING
    assert len(executor.calls) == reads  # no read when nothing is missing


def test_an_unreadable_status_changes_nothing(kernel: Kernel) -> None:
    broken = ScriptedExecutor()
    broken.expect(["sh", "-c"], raises=ExecutorError("connection lost"))
    obs = Observation(state=Observed.RUNNING, host="n", port=1)
    assert AgentChannel(kernel).refine(task(status=TaskStatus.STARTING), obs, broken) is obs


@pytest.mark.parametrize(("stdout", "code"), [("relative/home", 0), ("", 1), ("/a\n/b", 0)])
def test_a_home_that_cannot_be_used_is_an_error(kernel: Kernel, stdout: str, code: int) -> None:
    odd = ScriptedExecutor()
    odd.expect(["sh", "-c"], stdout=stdout, returncode=code)
    with pytest.raises(BackendError, match="home folder"):
        AgentChannel(kernel).home(odd)
