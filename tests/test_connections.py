"""Connections: a resource's tunnel is opened for running tasks, kept open, closed when they end."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from conftest import add_defaults
from rosetta_core import hookimpl
from rosetta_core.connections import tunnel_name
from rosetta_core.errors import BackendError, ConfigError, ConflictError, UnknownNameError
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, Task, TaskStatus
from rosetta_core.testing import FakeEngine
from rosetta_core.tunnels import Endpoint


class CountingTunnel:
    """A fake tunnel: hands out 127.0.0.1:<40000 + n>, records opens and closes, can be broken."""

    name = "counting"

    def __init__(self) -> None:
        self.open_tasks: dict[str, Endpoint] = {}
        self.opens = 0
        self.closed: list[str] = []
        self.broken = False

    def open(self, task: Task, computing: Computing) -> Endpoint:
        if self.broken:
            raise BackendError("the resource does not answer")
        self.opens += 1
        return self.open_tasks.setdefault(
            task.id, Endpoint(host="127.0.0.1", port=40000 + len(self.open_tasks))
        )

    def endpoint(self, task_id: str) -> Endpoint | None:
        return self.open_tasks.get(task_id)

    def close(self, task_id: str) -> None:
        if self.open_tasks.pop(task_id, None) is not None:
            self.closed.append(task_id)


class Plugin:
    def __init__(self) -> None:
        self.engine = FakeEngine()
        self.tunnel = CountingTunnel()

    @hookimpl
    def rosetta_register_engines(self, register: Callable[[str, Any], None]) -> None:
        register("fake", self.engine)

    @hookimpl
    def rosetta_register_tunnels(self, register: Callable[[str, Any], None]) -> None:
        register("counting", self.tunnel)


@pytest.fixture
def plugin() -> Plugin:
    return Plugin()


@pytest.fixture
def kernel(rosetta_kernel_factory: Callable[..., Kernel], plugin: Plugin) -> Kernel:
    kernel = rosetta_kernel_factory([plugin])
    add_defaults(kernel, options={"tunnel": "counting"})
    return kernel


def test_connect_opens_the_resources_tunnel_once(kernel: Kernel, plugin: Plugin) -> None:
    task = kernel.orchestrator.run_task(owner="ada", software="web", computing="box")
    assert task.status is TaskStatus.RUNNING
    first = kernel.connections.connect(task.name)
    assert kernel.connections.connect(task.id) == first and first.port == 40000
    assert plugin.tunnel.endpoint(task.id) == first


def test_the_tunnel_closes_when_the_task_ends(kernel: Kernel, plugin: Plugin) -> None:
    task = kernel.orchestrator.run_task(owner="ada", software="web", computing="box")
    kernel.connections.connect(task.id)
    kernel.orchestrator.stop_task(task.id)
    assert plugin.tunnel.closed == [task.id] and plugin.tunnel.endpoint(task.id) is None
    with pytest.raises(ConflictError, match="only a running task"):
        kernel.connections.connect(task.id)


def test_keep_open_reopens_after_a_restart_and_retries_failures(kernel: Kernel, plugin: Plugin) -> None:
    tasks = [kernel.orchestrator.run_task(owner="ada", software="web", computing="box") for _ in range(2)]
    plugin.tunnel.broken = True
    assert kernel.connections.keep_open() == 0  # logged, not raised
    plugin.tunnel.broken = False
    assert kernel.connections.keep_open() == 2
    assert set(plugin.tunnel.open_tasks) == {t.id for t in tasks}


def test_run_forever_keeps_tunnels_open(kernel: Kernel, plugin: Plugin) -> None:
    task = kernel.orchestrator.run_task(owner="ada", software="web", computing="box")
    stop = threading.Event()
    worker = threading.Thread(target=kernel.orchestrator.run_forever, args=(stop, 0.05))
    worker.start()
    try:
        for _ in range(100):
            if plugin.tunnel.endpoint(task.id):
                break
            stop.wait(0.02)
    finally:
        stop.set()
        worker.join(10)
    assert plugin.tunnel.endpoint(task.id) is not None


def test_direct_is_the_default_and_unknown_tunnels_are_named(
    rosetta_kernel_factory: Callable[..., Kernel], plugin: Plugin
) -> None:
    assert tunnel_name(Computing(name="c", engines=("fake",))) == "direct"
    kernel = rosetta_kernel_factory([plugin])
    add_defaults(kernel, options={"tunnel": "nonesuch"})
    task = kernel.orchestrator.run_task(owner="ada", software="web", computing="box")
    with pytest.raises(UnknownNameError, match="nonesuch"):
        kernel.connections.connect(task.id)
    assert kernel.connections.keep_open() == 0


def test_a_tunnel_server_that_cannot_listen_is_a_clear_error(
    rosetta_kernel_factory: Callable[..., Kernel], plugin: Plugin
) -> None:
    class Busy:
        name = "busy"

        def serve(self) -> str:
            raise OSError(98, "Address already in use")

    class Register:
        @hookimpl
        def rosetta_register_tunnels(self, register: Callable[[str, Any], None]) -> None:
            register("busy", Busy())

    kernel = rosetta_kernel_factory([plugin, Register()])
    with pytest.raises(ConfigError, match=r"busy tunnel cannot start its server.*in use"):
        kernel.connections.serve()
