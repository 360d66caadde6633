"""Transports: the proxy's route leads through the tunnel the resource's ``transport`` names."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import rosetta_proxy.plugin
from rosetta_core import hookimpl
from rosetta_core.errors import PluginError
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, Task, TaskStatus
from rosetta_core.tunnels import Endpoint, Tunnel
from rosetta_proxy.transport import Transports, transport_name
from rosetta_proxy.tunnel import ProxyTunnel


class RecordingTunnel:
    """A fake transport: every task's platform end is 127.0.0.1:7000; records opens and closes."""

    name = "recording"

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.closed: list[str] = []

    def open(self, task: Task, computing: Computing) -> Endpoint:
        self.opened.append(task.id)
        return Endpoint(host="127.0.0.1", port=7000)

    def endpoint(self, task_id: str) -> Endpoint | None:
        return None

    def close(self, task_id: str) -> None:
        self.closed.append(task_id)


class TransportPlugin:
    def __init__(self, tunnel: RecordingTunnel) -> None:
        self.tunnel = tunnel

    @hookimpl
    def rosetta_register_tunnels(self, register: Callable[[str, Tunnel], None]) -> None:
        register(self.tunnel.name, self.tunnel)


def running_task(computing: str) -> Task:
    return Task(
        name="t",
        owner="ada",
        software="s",
        computing=computing,
        status=TaskStatus.RUNNING,
        interface_host="10.0.0.7",
        interface_port=8888,
    )


@pytest.fixture
def recording() -> RecordingTunnel:
    return RecordingTunnel()


@pytest.fixture
def kernel(rosetta_kernel_factory: Callable[..., Kernel], recording: RecordingTunnel) -> Kernel:
    return rosetta_kernel_factory({"proxy": rosetta_proxy.plugin, "recording": TransportPlugin(recording)})


def proxy_of(kernel: Kernel) -> ProxyTunnel:
    tunnel = kernel.tunnels.get("proxy")
    assert isinstance(tunnel, ProxyTunnel)
    return tunnel


def test_a_transport_carries_the_route_and_is_closed_with_it(
    kernel: Kernel, recording: RecordingTunnel
) -> None:
    computing = Computing(
        name="far", engines=("podman",), options={"tunnel": "proxy", "transport": "recording"}
    )
    task = running_task("far")
    proxy = proxy_of(kernel)
    first = proxy.open(task, computing)
    assert proxy.open(task, computing) == first  # idempotent: the transport is opened once
    route = proxy.routes.get(task.id)
    assert route is not None and (route.host, route.port) == ("127.0.0.1", 7000)
    assert recording.opened == [task.id]
    proxy.close(task.id)
    assert recording.closed == [task.id] and proxy.routes.get(task.id) is None
    proxy.close(task.id)  # closing again closes nothing more
    assert recording.closed == [task.id]


def test_without_a_transport_the_route_is_the_interface(kernel: Kernel, recording: RecordingTunnel) -> None:
    computing = Computing(name="here", engines=("podman",), options={"tunnel": "proxy"})
    task = running_task("here")
    proxy_of(kernel).open(task, computing)
    route = proxy_of(kernel).routes.get(task.id)
    assert route is not None and (route.host, route.port) == ("10.0.0.7", 8888)
    proxy_of(kernel).close(task.id)
    assert recording.opened == recording.closed == []


@pytest.mark.parametrize("value", ["proxy", 5, True])
def test_a_transport_that_is_no_other_tunnel_is_refused(value: object) -> None:
    computing = Computing(name="c", engines=("podman",), options={"transport": value})  # type: ignore[dict-item]
    with pytest.raises(PluginError, match="transport must name a tunnel"):
        transport_name(computing)


def test_an_unknown_transport_opens_no_route(kernel: Kernel) -> None:
    computing = Computing(name="far", engines=("podman",), options={"transport": "no-such-tunnel"})
    task = running_task("far")
    with pytest.raises(PluginError):
        proxy_of(kernel).open(task, computing)
    assert proxy_of(kernel).routes.get(task.id) is None


def test_a_failing_close_is_logged_not_raised(kernel: Kernel, recording: RecordingTunnel) -> None:
    def broken(task_id: str) -> None:
        raise OSError("gone")

    recording.close = broken  # type: ignore[method-assign]
    transports = Transports(kernel)
    computing = Computing(name="far", engines=("podman",), options={"transport": "recording"})
    assert transports.upstream(running_task("far"), computing) == ("127.0.0.1", 7000)
    transports.release(recording.opened[0])
