"""The rosetta command with the SSH plugin, as an admin uses it, against a private OpenSSH server.

A user is added (the command prints the public key to authorize), given an account on a new SSH
resource, a task fails while the host key is untrusted (the error shows the fingerprint and the
command to trust it), ``computing trust --yes`` records the keys, and the task then runs with
rootless Podman on the host and stops.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rosetta_ssh.testing import PrivateSSHD

pytestmark = pytest.mark.testbed

Rosetta = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def rosetta(tmp_path: Path) -> Rosetta:
    config = tmp_path / "site.toml"
    config.write_text(
        '[rosetta]\nstore = "rosetta.sqlite"\n'
        '[plugins]\nenabled = ["core", "ssh", "podman"]\n'
        '[plugin.podman]\npull_policy = "never"\nextra_args = ["--init"]\n'
    )
    env = {**os.environ, "ROSETTA_CONFIG": str(config)}

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "rosetta_core.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    return run


def test_add_a_user_and_an_ssh_resource_then_run_a_task(rosetta: Rosetta, running_sshd: PrivateSSHD) -> None:
    added = rosetta("user", "add", "ada")
    public_key = next(line.strip() for line in added.stdout.splitlines() if "ssh-ed25519" in line)
    running_sshd.authorize(public_key)
    rosetta(
        "computing", "add", "remote", "--kind", "ssh", "--executor", "ssh", "--engine", "podman",
        "--option", "host=127.0.0.1", "--option", f"port={running_sshd.port}",
    )  # fmt: skip
    rosetta("user", "account", "ada", "remote", running_sshd.user)
    rosetta(
        "software", "add", "web", "--image", "testbed-busybox", "--registry", "localhost", "--port", "8080"
    )

    refused = rosetta("task", "run", "web", "--on", "remote", "--owner", "ada", "--json", ok=False)
    error = json.loads(refused.stdout)["error"]
    assert refused.returncode == 1 and running_sshd.fingerprint() in error
    assert "rosetta computing trust remote" in error

    trusted = rosetta("computing", "trust", "remote", "--yes")
    assert running_sshd.fingerprint() in trusted.stdout and "NEW" in trusted.stdout
    keys = json.loads(rosetta("computing", "keys", "remote", "--json").stdout)
    assert running_sshd.fingerprint() in [k["fingerprint"] for k in keys]

    task = json.loads(rosetta("task", "run", "web", "--on", "remote", "--owner", "ada", "--json").stdout)
    try:
        assert task["status"] == "running" and task["interface_host"] == "127.0.0.1", task
    finally:
        stopped = json.loads(rosetta("task", "stop", task["id"], "--json").stdout)
    assert stopped["status"] == "stopped"
