"""Tasks on an SSH-reached host, end to end, with real parts only.

A private OpenSSH server lets the testbed's unprivileged account in; the kernel reaches it with the
SSH executor and the user's own key; rootless Podman runs the SSH-server image there; the platform
opens an ``ssh-forward`` tunnel to it, and the real OpenSSH client logs in through the tunnel with
the task's token as password. Then sshd goes down while the task runs (the task becomes UNKNOWN,
never exited or deleted) and comes back (the next pass restores RUNNING, the tunnel works again).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import rosetta_podman.plugin
import rosetta_ssh.plugin
from rosetta_core.catalogue import load_catalogue
from rosetta_core.kernel import Kernel
from rosetta_core.model import Task, TaskStatus
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


@pytest.fixture(scope="module")
def ssh_image(tbuser: str) -> str:
    """The SSH-server image in the account's own (rootless) Podman storage, copied from root's."""
    if shutil.which("podman") is None or shutil.which("ssh") is None:
        pytest.skip("podman or the OpenSSH client is not installed (testbed/setup.sh)")
    if rootless(tbuser, "image", "exists", IMAGE).returncode == 0:
        return IMAGE
    if subprocess.run(["podman", "image", "exists", IMAGE], check=False).returncode != 0:
        pytest.skip(f"{IMAGE} is not built (bash images/build.sh ssh)")
    saved = subprocess.run(["podman", "save", IMAGE], capture_output=True, check=True, timeout=300).stdout
    loaded = rootless(tbuser, "load", "-q", input=saved)
    assert loaded.returncode == 0, loaded.stderr.decode()
    return IMAGE


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
