"""The plugin: what it registers, which agents get the dialer, and a real batch task reached
through it (Slurm, Podman, the in-job agent dialing out, the loopback port on the platform, the
proxy's route through it, a browser-like client with the owner's link)."""

from __future__ import annotations

import http.cookiejar
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import rosetta_reverse.plugin
from rosetta_core.catalogue import load_catalogue
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, ComputingKind, Task, TaskStatus
from rosetta_reverse.tunnel import ReverseTunnel, reverse_secret

ROOT = Path(__file__).resolve().parents[3]
HTTP = next(s for s in load_catalogue(str(ROOT / "images" / "catalogue.toml")) if s.name == "http")


@pytest.fixture
def kernel(rosetta_kernel_factory: Callable[..., Kernel]) -> Kernel:
    return rosetta_kernel_factory(
        {"reverse": rosetta_reverse.plugin}, plugin_options={"reverse": {"listen": "127.0.0.1:0"}}
    )


def tunnel_of(kernel: Kernel) -> ReverseTunnel:
    tunnel = kernel.tunnels.get("reverse")
    assert isinstance(tunnel, ReverseTunnel)
    return tunnel


def test_registers_the_tunnel_with_the_sites_options(kernel: Kernel) -> None:
    assert tunnel_of(kernel).options.listen == "127.0.0.1:0"


@pytest.mark.parametrize(
    ("options", "gets_it"),
    [
        ({"tunnel": "reverse"}, True),
        ({"transport": "reverse"}, True),
        ({}, False),
        ({"tunnel": "proxy"}, False),
    ],
)
def test_only_agents_on_reverse_resources_get_the_dialer(
    kernel: Kernel, options: dict[str, str], gets_it: bool
) -> None:
    computing = Computing(name="c", engines=("podman",), options=options)
    task = Task(name="t", owner="ada", software="s", computing="c")
    found = kernel.pm.hook.rosetta_agent_extensions(task=task, computing=computing, kernel=kernel)
    extensions = [e for result in found if result for e in result]
    assert [e.name for e in extensions] == (["reverse"] if gets_it else [])
    if gets_it:
        assert extensions[0].config["secret"] == reverse_secret(kernel.secret, task.id)


def test_agents_of_unknown_or_ended_tasks_are_refused(kernel: Kernel) -> None:
    kernel.store.add(Computing(name="c", engines=("podman",)))
    live = Task(name="live", owner="ada", software="s", computing="c")
    ended = Task(name="ended", owner="ada", software="s", computing="c", status=TaskStatus.STOPPED)
    kernel.store.add_tasks([live, ended])
    secret_for = tunnel_of(kernel)._secret_for
    assert secret_for(live.id) == reverse_secret(kernel.secret, live.id)
    for refused in (ended.id, "no-such-task", "../../etc", "x" * 5000):
        with pytest.raises(KeyError):
            secret_for(refused)


def test_shutdown_closes_the_listener(kernel: Kernel) -> None:
    tunnel = tunnel_of(kernel)
    url = tunnel.start()
    kernel.close()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)


def slurm_is_up() -> bool:
    if shutil.which("sbatch") is None:
        return False
    return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=10, check=False).returncode == 0


def podman_has(image: str) -> bool:
    if shutil.which("podman") is None:
        return False
    return subprocess.run(["podman", "image", "exists", image], timeout=60, check=False).returncode == 0


@pytest.mark.testbed
def test_a_slurm_task_is_reached_through_its_agents_tunnel(
    rosetta_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> None:
    import rosetta_podman.plugin
    import rosetta_proxy.plugin
    import rosetta_slurm.plugin

    if not slurm_is_up():
        pytest.skip("no running Slurm (testbed/setup.sh)")
    if not podman_has(HTTP.image_ref):
        pytest.skip(f"podman or {HTTP.image_ref} is missing (images/build.sh)")
    kernel = rosetta_kernel_factory(
        {
            "podman": rosetta_podman.plugin,
            "slurm": rosetta_slurm.plugin,
            "reverse": rosetta_reverse.plugin,
            "proxy": rosetta_proxy.plugin,
        },
        plugin_options={
            "podman": {"pull_policy": "never"},
            "slurm": {"job_dir": str(tmp_path / "jobs")},
            "reverse": {"listen": "127.0.0.1:0"},
            "proxy": {"listen": "127.0.0.1:0"},
        },
        core_options={"agent_python": sys.executable},
    )
    kernel.store.add(HTTP)
    kernel.store.add(
        Computing(
            name="cluster",
            kind=ComputingKind.CLUSTER,
            engines=("podman",),
            workload_manager="slurm",
            options={"tunnel": "proxy", "transport": "reverse"},
        )
    )
    urls = kernel.connections.serve()  # what `rosetta serve` does: agents can dial in
    assert urls["reverse"] == tunnel_of(kernel).agent_url
    task = kernel.orchestrator.run_task(owner="ada", software="http", computing="cluster")
    try:
        deadline = time.monotonic() + 120
        while task.status is not TaskStatus.RUNNING:
            assert not task.status.is_terminal and time.monotonic() < deadline, task
            time.sleep(0.3)
            kernel.orchestrator.reconcile()
            task = kernel.store.get_task(task.id)
        assert tunnel_of(kernel).connected(task.id, timeout=60), "the agent never dialed in"
        endpoint = kernel.connections.connect(task.id)  # the proxy's route, through the tunnel
        route = proxy_of(kernel).routes.get(task.id)
        assert route is not None and route.port == tunnel_of(kernel).endpoint(task.id).port  # type: ignore[union-attr]
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        browser.open(proxy_of(kernel).open_link(task), timeout=10).close()  # the owner's cookie
        deadline = time.monotonic() + 30
        while True:  # the interface may not answer yet
            try:
                with browser.open(str(endpoint.url), timeout=10) as reply:
                    assert b"rosetta-http OK" in reply.read()
                    break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.5)
    finally:
        stopped = kernel.orchestrator.stop_task(task.id)
    assert stopped.status is TaskStatus.STOPPED
    assert tunnel_of(kernel).endpoint(task.id) is None and proxy_of(kernel).routes.get(task.id) is None
    deadline = time.monotonic() + 60  # the agent removes the container once the job is cancelled
    while subprocess.run(
        ["podman", "ps", "-aq", "--filter", f"name=rosetta-{task.id}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip():
        assert time.monotonic() < deadline, "the container outlived its cancelled job"
        time.sleep(0.5)


def proxy_of(kernel: Kernel) -> Any:
    return kernel.tunnels.get("proxy")
