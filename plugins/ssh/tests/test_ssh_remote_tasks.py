"""Tasks on an SSH-reached host, end to end, with real parts only.

A private OpenSSH server lets the testbed's unprivileged account in; the kernel reaches it with the
SSH executor and the user's own key; rootless Podman runs the SSH-server image there; the platform
opens an ``ssh-forward`` tunnel to it, and the real OpenSSH client logs in through the tunnel with
the task's token as password. Then sshd goes down while the task runs (the task becomes UNKNOWN,
never exited or deleted) and comes back (the next pass restores RUNNING, the tunnel works again).
A web task there opens in a browser-like client through the proxy, whose route to it is an
``ssh-forward`` transport.
"""

from __future__ import annotations

import http.cookiejar
import os
import shutil
import stat
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import rosetta_podman.plugin
import rosetta_proxy.plugin
import rosetta_ssh.plugin
from rosetta_core.catalogue import load_catalogue
from rosetta_core.kernel import Kernel
from rosetta_core.model import Task, TaskStatus
from rosetta_proxy.tunnel import ProxyTunnel
from rosetta_ssh.testing import PrivateSSHD, SSHRemote, make_remote

pytestmark = pytest.mark.testbed

ROOT = Path(__file__).resolve().parents[3]
IMAGE = "localhost/rosetta-ssh:latest"


def rootless(user: str, *argv: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    uid = int(subprocess.run(["id", "-u", user], capture_output=True, check=True).stdout)
    env = ["env", f"XDG_RUNTIME_DIR=/run/user/{uid}", f"HOME=/home/{user}"]
    return subprocess.run(
        ["runuser", "-u", user, "--", *env, "podman", *argv],
        cwd="/",
        capture_output=True,
        timeout=300,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )


def rootless_image(user: str, image: str) -> str:
    """``image`` in ``user``'s own (rootless) Podman storage, copied from root's; skips the test
    when it is not built."""
    if shutil.which("podman") is None or shutil.which("ssh") is None:
        pytest.skip("podman or the OpenSSH client is not installed (testbed/setup.sh)")
    if rootless(user, "image", "exists", image).returncode == 0:
        return image
    if subprocess.run(["podman", "image", "exists", image], check=False).returncode != 0:
        pytest.skip(f"{image} is not built (bash images/build.sh)")
    saved = subprocess.run(["podman", "save", image], capture_output=True, check=True, timeout=300).stdout
    loaded = rootless(user, "load", "-q", input=saved)
    assert loaded.returncode == 0, loaded.stderr.decode()
    return image


@pytest.fixture(scope="module")
def ssh_image(tbuser: str) -> str:
    return rootless_image(tbuser, IMAGE)


@pytest.fixture
def remote(
    rosetta_kernel_factory: Callable[..., Kernel], running_sshd: PrivateSSHD, ssh_image: str
) -> Iterator[SSHRemote]:
    kernel = rosetta_kernel_factory(
        {"ssh": rosetta_ssh.plugin, "podman": rosetta_podman.plugin},
        plugin_options={"podman": {"pull_policy": "never"}},
    )
    for software in load_catalogue(str(ROOT / "images" / "catalogue.toml")):
        kernel.store.add(software)
    remote = make_remote(kernel, running_sshd, tunnel="ssh-forward")
    yield remote
    running_sshd.start()
    for task in kernel.store.list_tasks():
        kernel.orchestrator.stop_task(task.id)


def wait_for(kernel: Kernel, task: Task, status: TaskStatus, timeout: float = 90) -> Task:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = kernel.store.get_task(task.id)
        if task.status is status:
            return task
        assert not task.status.is_terminal, f"{task.status.value}: {task.error}"
        time.sleep(0.3)
        kernel.orchestrator.reconcile()
    raise AssertionError(f"task still {task.status.value} after {timeout} s")


def openssh_login(port: int, user: str, password: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """``ssh user@127.0.0.1 -p port id -un`` with the real client, the password given by askpass."""
    askpass = tmp / "askpass"
    askpass.write_text('#!/bin/sh\nprintf "%s\\n" "$ROSETTA_TEST_PASSWORD"\n')
    askpass.chmod(stat.S_IRWXU)
    env = {
        "PATH": os.environ["PATH"],
        "SSH_ASKPASS": str(askpass),
        "SSH_ASKPASS_REQUIRE": "force",
        "ROSETTA_TEST_PASSWORD": password,
    }
    options = [
        "-o", "StrictHostKeyChecking=no",
        "-o", f"UserKnownHostsFile={tmp / 'known_hosts'}",
        "-o", "PreferredAuthentications=password,keyboard-interactive",
        "-o", "PubkeyAuthentication=no",
        "-o", "NumberOfPasswordPrompts=1",
        "-o", "ConnectTimeout=10",
    ]  # fmt: skip
    return subprocess.run(
        ["ssh", "-F", "/dev/null", *options, "-p", str(port), f"{user}@127.0.0.1", "id", "-un"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_login_through_the_tunnel_survives_an_sshd_outage(remote: SSHRemote, tmp_path: Path) -> None:
    kernel = remote.kernel
    task = kernel.orchestrator.run_task(owner=remote.user, software="ssh", computing=remote.computing.name)
    task = wait_for(kernel, task, TaskStatus.RUNNING)
    assert task.interface_host == "127.0.0.1" and task.auth_token
    endpoint = kernel.connections.connect(task.id)
    assert endpoint.host == "127.0.0.1" and endpoint.port != task.interface_port

    def login(password: str) -> subprocess.CompletedProcess[str]:
        deadline = time.monotonic() + 60
        while True:  # sshd in the container may still be generating its host keys
            done = openssh_login(endpoint.port, remote.user, password, tmp_path)
            if done.returncode == 0 or "Permission denied" in done.stderr or time.monotonic() > deadline:
                return done
            time.sleep(0.5)

    done = login(task.auth_token or "")
    assert done.returncode == 0 and done.stdout.strip() == remote.user, done.stderr
    wrong = login("not-the-token")
    assert wrong.returncode != 0 and "Permission denied" in wrong.stderr

    remote.sshd.stop()
    kernel.orchestrator.reconcile()
    during = kernel.store.get_task(task.id)
    assert during.status is TaskStatus.UNKNOWN, during
    remote.sshd.start()
    task = wait_for(kernel, during, TaskStatus.RUNNING, timeout=30)
    assert kernel.connections.connect(task.id) == endpoint  # the same tunnel, working again
    again = login(task.auth_token or "")
    assert again.returncode == 0 and again.stdout.strip() == remote.user, again.stderr

    stopped = kernel.orchestrator.stop_task(task.id)
    assert stopped.status is TaskStatus.STOPPED
    assert task.handle not in kernel.engines.get("podman").list_handles(remote.executor())
    assert kernel.tunnels.get("ssh-forward").endpoint(task.id) is None


@pytest.mark.parametrize("problem", ["untrusted host", "refused key"])
def test_a_task_on_a_resource_it_cannot_log_in_to_fails_readably(
    rosetta_kernel_factory: Callable[..., Kernel], running_sshd: PrivateSSHD, problem: str
) -> None:
    kernel = rosetta_kernel_factory({"ssh": rosetta_ssh.plugin, "podman": rosetta_podman.plugin})
    for software in load_catalogue(str(ROOT / "images" / "catalogue.toml")):
        kernel.store.add(software)
    remote = make_remote(kernel, running_sshd, user="mallory", trust=problem != "untrusted host")
    if problem == "refused key":
        running_sshd.authorize()  # nobody's key any more
    task = kernel.orchestrator.run_task(owner=remote.user, software="http", computing=remote.computing.name)
    assert task.status is TaskStatus.FAILED and task.error
    if problem == "untrusted host":
        assert running_sshd.fingerprint() in task.error and "rosetta computing trust remote" in task.error
    else:
        assert "remote" in task.error and running_sshd.user in task.error and "Traceback" not in task.error


def test_a_web_task_opens_through_the_proxy_over_an_ssh_forward(
    rosetta_kernel_factory: Callable[..., Kernel], running_sshd: PrivateSSHD, tbuser: str
) -> None:
    rootless_image(tbuser, "localhost/rosetta-http:latest")
    kernel = rosetta_kernel_factory(
        {"ssh": rosetta_ssh.plugin, "podman": rosetta_podman.plugin, "proxy": rosetta_proxy.plugin},
        plugin_options={"podman": {"pull_policy": "never"}, "proxy": {"listen": "127.0.0.1:0"}},
    )
    kernel.store.add(
        next(s for s in load_catalogue(str(ROOT / "images" / "catalogue.toml")) if s.name == "http")
    )
    remote = make_remote(kernel, running_sshd, tunnel="proxy", transport="ssh-forward")
    proxy = kernel.tunnels.get("proxy")
    assert isinstance(proxy, ProxyTunnel)
    proxy.start()
    task = kernel.orchestrator.run_task(owner=remote.user, software="http", computing=remote.computing.name)
    try:
        task = wait_for(kernel, task, TaskStatus.RUNNING)
        endpoint = kernel.connections.connect(task.id)
        route = proxy.routes.get(task.id)
        assert route is not None and route.port != task.interface_port  # the forward's local end
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        browser.open(proxy.open_link(task), timeout=10).close()
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
        kernel.orchestrator.stop_task(task.id)
    assert proxy.routes.get(task.id) is None
