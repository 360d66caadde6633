"""Jupyter and the noVNC desktop run as tasks with podman, reached only through the proxy.

Each image of the starter catalogue runs through the whole kernel (podman plugin, a computing
resource whose tunnel is ``proxy``); ``kernel.connections.connect`` opens its route, the owner's
single-use link gives the cookie, and the checks of ``images/smoke.py`` run against the proxy's
address with that cookie: Jupyter runs ``print(6*7)`` in a kernel over its WebSocket, noVNC's page
loads and websockify answers the RFB handshake. Without the cookie the proxy answers 401. The
container's port is published on 127.0.0.1 only. Skipped, saying why, without podman or the image.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from proxy_upstream import follow_link

from rosetta_core.catalogue import load_catalogue
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, Task, TaskStatus
from rosetta_core.specs import task_path
from rosetta_proxy import plugin as proxy_plugin
from rosetta_proxy.options import ProxyOptions
from rosetta_proxy.tunnel import ProxyTunnel

ROOT = Path(__file__).resolve().parents[3]
CATALOGUE = {s.name: s for s in load_catalogue(str(ROOT / "images" / "catalogue.toml"))}

pytestmark = pytest.mark.testbed


def load_smoke() -> ModuleType:
    name = "rosetta_images_smoke"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "images" / "smoke.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


smoke = load_smoke()


def missing(image: str) -> str | None:
    """Why ``image`` cannot run with podman here, or ``None``."""
    if shutil.which("podman") is None:
        return "podman is not installed (testbed/setup.sh)"
    ref = f"localhost/rosetta-{image}:latest"
    probe = subprocess.run(["podman", "image", "exists", ref], capture_output=True, timeout=60, check=False)
    return None if probe.returncode == 0 else f"{ref} is not in podman (bash images/build.sh)"


class Running:
    """A task of ``image`` running on podman behind a started proxy."""

    def __init__(self, kernel: Kernel, task: Task) -> None:
        self.kernel, self.task = kernel, task
        tunnel = kernel.tunnels.get("proxy")
        assert isinstance(tunnel, ProxyTunnel)
        self.tunnel = tunnel

    def target(self, cookie: str | None) -> object:
        host, port = self.tunnel.server.address
        return smoke.Target(
            image=self.task.software,
            host=host,
            port=port,
            token=self.task.auth_token or "",
            user=self.task.owner,
            base_url=task_path(self.task.id),
            deadline=time.monotonic() + smoke.START_TIMEOUT[self.task.software],
            headers={"Cookie": cookie} if cookie else {},
            at_root=False,
            signs_in=True,  # the proxy sends the task's token for its owner
        )

    def status(self, path: str, headers: dict[str, str] | None = None) -> int:
        host, port = self.tunnel.server.address
        code, _ = smoke.http_request(host, port, task_path(self.task.id) + path, headers=headers)
        return int(code)


@pytest.fixture
def run_image(rosetta_kernel_factory: Callable[..., Kernel]) -> Iterator[Callable[[str], Running]]:
    started: list[Running] = []

    def run(image: str) -> Running:
        reason = missing(image)
        if reason:
            print(f"skipped: {reason}")
            pytest.skip(reason)
        podman = importlib.import_module("rosetta_podman.plugin")
        kernel = rosetta_kernel_factory(
            {"podman": podman, "proxy": proxy_plugin},
            plugin_options={"podman": {"pull_policy": "never"}, "proxy": {"listen": "127.0.0.1:0"}},
        )
        kernel.store.add(CATALOGUE[image])
        kernel.store.add(Computing(name="here", engines=("podman",), options={"tunnel": "proxy"}))
        tunnel = kernel.tunnels.get("proxy")
        assert isinstance(tunnel, ProxyTunnel)
        host, port = tunnel.start()
        tunnel.options = ProxyOptions(listen=f"{host}:{port}")  # the bound port, for the links
        task = kernel.orchestrator.run_task(owner="ada", software=image, computing="here")
        running = Running(kernel, task)
        started.append(running)
        deadline = time.monotonic() + smoke.START_TIMEOUT[image]
        while task.status is not TaskStatus.RUNNING and time.monotonic() < deadline:
            assert not task.status.is_terminal, f"{task.status.value}: {task.error}"
            time.sleep(0.2)
            kernel.orchestrator.reconcile()
            task = kernel.store.get_task(task.id)
        assert task.status is TaskStatus.RUNNING and task.interface_port is not None, task
        running.task = task
        endpoint = kernel.connections.connect(task.id)
        assert endpoint.url == f"http://{host}:{port}{task_path(task.id)}"
        route = tunnel.routes.get(task.id)
        assert route is not None and route.strip_prefix is not CATALOGUE[image].keeps_prefix
        return running

    yield run
    for running in started:
        stopped = running.kernel.orchestrator.stop_task(running.task.id)
        assert stopped.status is TaskStatus.STOPPED
        # the orchestrator closed the route with the task
        assert running.tunnel.routes.get(running.task.id) is None


def cookie_for(running: Running) -> str:
    response = follow_link(running.tunnel, running.tunnel.open_link(running.task))
    assert response.status == 302, response.status
    return response.headers["Set-Cookie"].split(";")[0]


def test_jupyter_runs_code_through_the_proxy(run_image: Callable[[str], Running]) -> None:
    running = run_image("jupyter")
    target = running.target(cookie_for(running))
    smoke.check_jupyter(target)
    print(*target.notes)  # type: ignore[attr-defined]
    auth = {"Authorization": f"token {running.task.auth_token}"}
    # the token alone does not pass the proxy: the cookie is needed too
    assert running.status("api/status", auth) == 401
    assert running.status("api/status") == 401
    # and the container's own port, were it reached, still wants the token
    interface = (running.task.interface_host or "127.0.0.1", running.task.interface_port or 0)
    assert smoke.http_request(*interface, task_path(running.task.id) + "api/status")[0] == 403
    with pytest.raises(smoke.CheckError, match="401"):
        smoke.WebSocket(
            *running.tunnel.server.address, task_path(running.task.id) + "api/kernels", headers=auth
        )


def test_the_desktop_through_the_proxy(run_image: Callable[[str], Running]) -> None:
    running = run_image("desktop")
    target = running.target(cookie_for(running))
    smoke.check_desktop(target)
    print(*target.notes)  # type: ignore[attr-defined]
    assert running.status("vnc.html") == 401
    with pytest.raises(smoke.CheckError, match="401"):
        smoke.WebSocket(
            *running.tunnel.server.address, task_path(running.task.id) + "websockify", protocols=("binary",)
        )


def outward_address() -> str | None:
    """An address of this host other than loopback, or ``None``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for a UDP connect
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_the_interface_port_is_published_on_loopback_only(run_image: Callable[[str], Running]) -> None:
    running = run_image("jupyter")
    task = running.task
    assert task.interface_host == "127.0.0.1"
    ports = subprocess.run(
        ["podman", "port", str(task.handle)], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    published = [p for p in ports if ":" in p]
    assert published == [f"127.0.0.1:{task.interface_port}"], ports
    inspect = subprocess.run(
        ["podman", "inspect", "--format", "{{json .HostConfig.PortBindings}}", str(task.handle)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    bindings = [b for spec in json.loads(inspect.stdout).values() for b in spec]
    assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}, bindings
    outward = outward_address()
    if outward is None:
        print("this host has no address but loopback: the outward connection is not tried")
        return
    # the control: a socket bound to every address is reached on the outward one
    with socket.create_server(("0.0.0.0", 0)) as control:
        socket.create_connection((outward, control.getsockname()[1]), timeout=3).close()
    with pytest.raises(OSError), socket.create_connection((outward, task.interface_port), timeout=3):
        pass
