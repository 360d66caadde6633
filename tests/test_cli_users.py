"""``rosetta user ...`` and ``rosetta computing trust|keys``, run as real processes."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import install_fake_distribution

TESTS = Path(__file__).resolve().parent
Rosetta = Callable[..., subprocess.CompletedProcess[str]]
KEY_A = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519" + b"a" * 36).decode()
KEY_B = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519" + b"b" * 36).decode()


@pytest.fixture
def rosetta(tmp_path: Path) -> Rosetta:
    site = install_fake_distribution(tmp_path / "site", "rosetta-keys", {"keys": "keys_plugin"})
    config = tmp_path / "site.toml"
    # only this file's plugin makes key pairs (the SSH plugin, if installed, would too)
    plugins = '[plugins]\nenabled = ["core", "keys", "podman"]\n'
    config.write_text('[rosetta]\nstore = "rosetta.sqlite"\n' + plugins)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(TESTS)]),
        "ROSETTA_CONFIG": str(config),
    }

    def run(*args: str, ok: bool = True, host_keys: str = "") -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "rosetta_core.cli", *args],
            capture_output=True,
            text=True,
            env={**env, "KEYS_PLUGIN_HOST_KEYS": host_keys},
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    return run


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout)


def test_user_add_show_account(rosetta: Rosetta) -> None:
    added = rosetta("user", "add", "ada", "--email", "ada@example.org")
    assert "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFAKE rosetta:ada" in added.stdout
    assert "authorized_keys" in added.stdout
    rosetta("computing", "add", "hpc", "--engine", "podman", "--executor", "scanned", ok=True)
    rosetta("user", "account", "ada", "hpc", "ada_hpc")
    shown = as_json(rosetta("user", "show", "ada", "--json"))
    assert shown["accounts"] == {"hpc": "ada_hpc"} and len(shown["public_keys"]) == 1
    assert [u["name"] for u in as_json(rosetta("user", "list", "--json"))] == ["ada"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["user", "add", "a;b"], "$.name"),
        (["user", "account", "ada", "hpc", "--", "-oProxyCommand=x"], "$.account"),
        (["user", "account", "nobody", "hpc", "x"], "no users named 'nobody'"),
        (["user", "account", "ada", "nowhere", "x"], "no computings named 'nowhere'"),
        (["user", "show", "nobody"], "no users named"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(rosetta: Rosetta, args: list[str], message: str) -> None:
    rosetta("user", "add", "ada")
    rosetta("computing", "add", "hpc", "--engine", "podman", "--executor", "scanned")
    done = rosetta(*args, ok=False)
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert as_json(rosetta("user", "show", "ada", "--json"))["accounts"] == {}
    assert [u["name"] for u in as_json(rosetta("user", "list", "--json"))] == ["ada"]


def test_trust_shows_fingerprints_and_needs_confirmation(rosetta: Rosetta) -> None:
    rosetta("computing", "add", "hpc", "--engine", "podman", "--executor", "scanned")
    assert "no trusted host key" in rosetta("computing", "keys", "hpc").stdout
    refused = rosetta("computing", "trust", "hpc", ok=False, host_keys=f"ssh-ed25519 {KEY_A}")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert "SHA256:" in refused.stdout and "NEW" in refused.stdout
    assert as_json(rosetta("computing", "keys", "hpc", "--json")) == []
    rosetta("computing", "trust", "hpc", "--yes", host_keys=f"ssh-ed25519 {KEY_A}")
    trusted = as_json(rosetta("computing", "keys", "hpc", "--json"))
    assert [(k["key"], k["fingerprint"][:7]) for k in trusted] == [(KEY_A, "SHA256:")]
    again = rosetta("computing", "trust", "hpc", "--yes", host_keys=f"ssh-ed25519 {KEY_B}")
    assert "NEW" in again.stdout
    assert [k["key"] for k in as_json(rosetta("computing", "keys", "hpc", "--json"))] == [KEY_B]


def test_trust_needs_an_executor_with_host_keys(rosetta: Rosetta) -> None:
    rosetta("computing", "add", "here", "--engine", "podman", "--executor", "local")
    done = rosetta("computing", "trust", "here", "--yes", ok=False)
    assert done.returncode == 2 and "has no host keys" in done.stderr
