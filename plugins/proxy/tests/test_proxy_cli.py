"""The proxy from the command line: ``rosetta serve`` runs it, ``rosetta task connect`` hands out links.

The commands run as real processes with the installed ``proxy`` entry point.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rosetta_core.kernel import create_kernel
from rosetta_core.model import Computing, Software, Task, TaskStatus
from rosetta_proxy.tokens import Tokens

ROOT = Path(__file__).resolve().parents[3]
Rosetta = Callable[..., subprocess.CompletedProcess[str]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, dict[str, str], int]:
    """A site configuration with podman and the proxy on a free port; its environment; that port."""
    port = free_port()
    config = tmp_path / "site.toml"
    config.write_text(
        '[rosetta]\nstore = "rosetta.sqlite"\n[plugins]\nenabled = ["core", "podman", "proxy"]\n'
        '[plugin.podman]\npull_policy = "never"\n'
        f'[plugin.proxy]\nlisten = "127.0.0.1:{port}"\n'
    )
    env = {**os.environ, "ROSETTA_CONFIG": str(config), "ROSETTA_HOME": str(tmp_path / "home")}
    return config, env, port


@pytest.fixture
def rosetta(site: tuple[Path, dict[str, str], int]) -> Rosetta:
    _, env, _ = site

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "rosetta_core.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    return run


def test_connect_prints_the_owners_single_use_link(
    site: tuple[Path, dict[str, str], int], rosetta: Rosetta
) -> None:
    config, _, port = site
    kernel = create_kernel(str(config))
    try:
        kernel.start(reconcile=False)
        kernel.store.add(Software(name="lab", image="x/lab", interface_port=8888, keeps_prefix=True))
        kernel.store.add(Computing(name="here", engines=("podman",), options={"tunnel": "proxy"}))
        kernel.store.add(Computing(name="plain", engines=("podman",)))
        for name, computing in (("lab1", "here"), ("lab2", "plain")):
            task = Task(
                name=name,
                owner="ada",
                software="lab",
                computing=computing,
                status=TaskStatus.RUNNING,
                interface_host="127.0.0.1",
                interface_port=18888,
            )
            kernel.store.create_task(task)
        secret = kernel.secret
    finally:
        kernel.close()
    data = json.loads(rosetta("task", "connect", "lab1", "--once", "--json").stdout)
    task_id = data["url"].split("/")[-2]
    assert data["url"] == f"http://127.0.0.1:{port}/t/{task_id}/"
    link = urllib.parse.urlsplit(data["link"])
    assert link.path == f"/t/{task_id}/_rosetta/open"
    grant = Tokens(secret).redeem_link(urllib.parse.parse_qs(link.query)["token"][0])
    assert grant is not None and (grant.task_id, grant.owner) == (task_id, "ada")
    text = rosetta("task", "connect", "lab1", "--once").stdout
    assert "single-use sign-in link" in text and "_rosetta/open?token=" in text
    # the direct tunnel offers no link
    assert "link" not in json.loads(rosetta("task", "connect", "lab2", "--once", "--json").stdout)


def missing_http() -> str | None:
    if shutil.which("podman") is None:
        return "podman is not installed (testbed/setup.sh)"
    probe = subprocess.run(
        ["podman", "image", "exists", "localhost/rosetta-http:latest"], capture_output=True, check=False
    )
    return (
        None if probe.returncode == 0 else "localhost/rosetta-http:latest is missing (bash images/build.sh)"
    )


@pytest.fixture
def serve(site: tuple[Path, dict[str, str], int]) -> Iterator[subprocess.Popen[str]]:
    _, env, _ = site
    process = subprocess.Popen(
        [sys.executable, "-m", "rosetta_core.cli", "serve", "--interval", "1"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        assert process.stderr is not None
        process.stderr.close()


def get(port: int, path: str, cookie: str = "") -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        response.read()
        return response
    finally:
        conn.close()


@pytest.mark.testbed
def test_serve_runs_the_proxy_and_connect_links_into_it(
    site: tuple[Path, dict[str, str], int], rosetta: Rosetta, serve: subprocess.Popen[str]
) -> None:
    reason = missing_http()
    if reason:
        print(f"skipped: {reason}")
        pytest.skip(reason)
    _, _, port = site
    assert serve.stderr is not None
    line = serve.stderr.readline()
    while "tunnel serves" not in line:
        assert line, "rosetta serve ended before it started the proxy"
        line = serve.stderr.readline()
    assert f"the proxy tunnel serves at http://127.0.0.1:{port}" in line
    rosetta("software", "import", str(ROOT / "images" / "catalogue.toml"))
    rosetta("computing", "add", "here", "--engine", "podman", "--option", "tunnel=proxy")
    rosetta("task", "run", "http", "--on", "here", "--name", "web", "--owner", "ada")
    try:
        deadline = time.monotonic() + 60
        while (done := rosetta("task", "connect", "web", "--once", "--json", ok=False)).returncode:
            assert time.monotonic() < deadline, done.stderr
            time.sleep(0.5)
        data = json.loads(done.stdout)
        link = urllib.parse.urlsplit(data["link"])
        # the serving process opens the route after its next reconcile pass: until then 404,
        # which leaves the link unused (the route is looked up before the link is redeemed)
        while (opened := get(port, f"{link.path}?{link.query}")).status == 404:
            assert time.monotonic() < deadline, opened.status
            time.sleep(0.3)
        assert opened.status == 302, opened.status
        cookie = opened.headers["Set-Cookie"].split(";")[0]
        path = urllib.parse.urlsplit(data["url"]).path
        while (page := get(port, path, cookie)).status != 200:
            assert time.monotonic() < deadline, page.status
            time.sleep(0.3)
        assert get(port, path).status == 401
        # the link was used: a second use is refused
        assert get(port, f"{link.path}?{link.query}").status == 401
    finally:
        rosetta("task", "stop", "web")
