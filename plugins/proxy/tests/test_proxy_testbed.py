"""Through the proxy to the testbed's ``localhost/rosetta-http`` image, run with podman."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
from proxy_upstream import connect, login, make_task

from rosetta_proxy.tunnel import ProxyTunnel

IMAGE = "localhost/rosetta-http:latest"


def _skip_reason() -> str | None:
    if shutil.which("podman") is None:
        return "podman is not installed"
    found = subprocess.run(["podman", "image", "exists", IMAGE], capture_output=True)
    if found.returncode != 0:
        return f"the image {IMAGE} is missing (testbed/setup.sh builds it)"
    return None


@pytest.fixture(scope="module")
def rosetta_http() -> Iterator[int]:
    reason = _skip_reason()
    if reason is not None:
        print(f"skipped: {reason}")
        pytest.skip(reason)
    started = subprocess.run(
        ["podman", "run", "-d", "--rm", "-p", "127.0.0.1::8080", "-e", "BASE_PORT=8080", IMAGE],
        capture_output=True,
        text=True,
        check=True,
    )
    container = started.stdout.strip()
    try:
        port = subprocess.run(
            ["podman", "port", container, "8080"], capture_output=True, text=True, check=True
        ).stdout.split(":")[-1]
        yield int(port)
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", container], capture_output=True)


@pytest.mark.testbed
def test_the_rosetta_http_page_through_the_proxy(tunnel: ProxyTunnel, rosetta_http: int) -> None:
    task = make_task(rosetta_http)
    tunnel.open_route(task, strip_prefix=True)
    cookie = login(tunnel, task)
    deadline = time.monotonic() + 30
    while True:
        conn = connect(tunnel)
        try:
            conn.request("GET", f"/t/{task.id}/", headers={"Cookie": cookie})
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        if response.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # the container's server may still be starting
    assert response.status == 200
    assert b"rosetta-http OK" in body
