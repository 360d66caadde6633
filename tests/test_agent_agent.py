"""The in-job agent itself, run for real (outside a scheduler) with real engines.

It publishes the interface and reports the port (Podman, Docker), picks a port for software on
the host's network (Apptainer), reports the exit code, removes the container on SIGTERM, and signs
its reports to a callback URL so that the platform's verifier accepts them.
"""

from __future__ import annotations

import http.server
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rosetta_core.agent import (
    AgentRequest,
    AgentStatus,
    ReportVerifier,
    launch_argv,
    parse_status,
    task_secret,
)
from rosetta_core.agent.extensions import AgentExtension
from rosetta_core.engines import TaskSpec, handle_for
from rosetta_core.model import new_id

pytestmark = pytest.mark.testbed

BUSYBOX = "localhost/testbed-busybox:latest"
BUSYBOX_SIF = "/var/lib/testbed/sif/testbed-busybox.sif"
PLATFORM_SECRET = "s" * 64


def has_image(engine: str) -> bool:
    if shutil.which(engine) is None:
        return False
    probe = subprocess.run(
        [engine, "image", "inspect", BUSYBOX], capture_output=True, timeout=60, check=False
    )
    return probe.returncode == 0


def engine_argv(engine: str, spec: TaskSpec, command: tuple[str, ...] = ()) -> list[str]:
    """The engine plugin's own foreground argv (what a workload manager embeds)."""
    if engine == "podman":
        from rosetta_podman.engine import PodmanEngine, PodmanOptions

        return PodmanEngine(PodmanOptions(pull_policy="never", extra_args=("--init",))).build_command(spec)
    if engine == "docker":
        from rosetta_docker.engine import DockerEngine
        from rosetta_docker.options import DockerOptions

        return DockerEngine(DockerOptions(pull_policy="never", init=True)).build_command(spec)
    from rosetta_singularity.engine import SingularityEngine

    return SingularityEngine().build_command(spec)


class Running:
    """An agent process and its status file."""

    def __init__(self, request: AgentRequest) -> None:
        self.request = request
        self.process = subprocess.Popen(launch_argv(request, python=sys.executable), stderr=subprocess.PIPE)

    def status(self) -> AgentStatus | None:
        try:
            return parse_status(Path(self.request.status).read_bytes(), self.request.task)
        except FileNotFoundError:
            return None

    def wait_for(self, state: str, timeout: float = 60) -> AgentStatus:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if status is not None and status.state == state:
                return status
            time.sleep(0.2)
        raise AssertionError(f"agent never reported {state}: {self.status()}")


@pytest.fixture
def agents() -> Iterator[Callable[[AgentRequest], Running]]:
    started: list[Running] = []

    def start(request: AgentRequest) -> Running:
        started.append(Running(request))
        return started[-1]

    yield start
    for running in started:
        if running.process.poll() is None:
            running.process.send_signal(signal.SIGTERM)
            running.process.wait(30)
        if running.process.stderr is not None:
            running.process.stderr.close()


def make_request(engine: str, tmp_path: Path, command: tuple[str, ...] = (), **changes: Any) -> AgentRequest:
    task = new_id()
    image = BUSYBOX_SIF if engine == "singularity" else BUSYBOX
    env = {"BASE_PORT": "8080"} if engine == "singularity" else {}
    spec = TaskSpec(
        task_id=task, name=handle_for(task), image=image, interface_port=8080, env=env, command=command
    )
    fields: dict[str, Any] = {
        "task": task,
        "name": spec.name,
        "engine": engine,
        "argv": tuple(engine_argv(engine, spec)),
        "status": str(tmp_path / f"{spec.name}.json"),
        "port": 8080,
    }
    fields.update(changes)
    return AgentRequest(**fields)


def container_exists(engine: str, name: str) -> bool:
    found = subprocess.run(
        [engine, "ps", "-aq", "--filter", f"name={name}"], capture_output=True, text=True, timeout=60
    )
    return bool(found.stdout.strip())


@pytest.mark.parametrize("engine", ["podman", "docker"])
def test_publishes_reports_and_removes_the_container_on_sigterm(
    engine: str, tmp_path: Path, agents: Callable[[AgentRequest], Running]
) -> None:
    if not has_image(engine):
        pytest.skip(f"{engine} or {BUSYBOX} is missing (testbed/setup.sh)")
    running = agents(make_request(engine, tmp_path))
    status = running.wait_for("running")
    assert status.host == "127.0.0.1" and status.port is not None and status.port != 8080
    deadline = time.monotonic() + 20
    while True:  # docker's proxy may answer before httpd listens
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{status.port}/", timeout=2) as reply:
                assert b"testbed-busybox OK" in reply.read()
                break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.3)
    running.process.send_signal(signal.SIGTERM)  # what scancel and qdel send
    running.process.wait(60)
    ended = running.wait_for("exited")
    assert ended.reason == "stopped"
    assert not container_exists(engine, running.request.name)


def test_reports_the_exit_code(tmp_path: Path, agents: Callable[[AgentRequest], Running]) -> None:
    if not has_image("podman"):
        pytest.skip(f"podman or {BUSYBOX} is missing (testbed/setup.sh)")
    running = agents(
        make_request("podman", tmp_path, command=("sh", "-c", "echo boom >&2; exit 3"), port=None)
    )
    assert running.process.wait(60) == 3
    ended = running.wait_for("exited")
    assert (ended.exit_code, ended.reason) == (3, "failed")
    assert b"boom" in (running.process.stderr.read() if running.process.stderr else b"")


def test_apptainer_gets_a_picked_port_through_base_port(
    tmp_path: Path, agents: Callable[[AgentRequest], Running]
) -> None:
    if shutil.which("apptainer") is None or not Path(BUSYBOX_SIF).exists():
        pytest.skip("apptainer or the testbed SIF is missing (testbed/setup.sh)")
    command = ("sh", "-c", 'exec httpd -f -p "127.0.0.1:$BASE_PORT" -h /www')
    running = agents(make_request("singularity", tmp_path, command=command))
    status = running.wait_for("running")
    assert status.port is not None and status.port != 8080
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{status.port}/", timeout=2) as reply:
                assert b"testbed-busybox OK" in reply.read()
                break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.3)
    running.process.send_signal(signal.SIGTERM)
    running.process.wait(60)
    assert running.wait_for("exited").reason == "stopped"


def test_signed_reports_reach_a_callback_and_verify(
    tmp_path: Path, agents: Callable[[AgentRequest], Running]
) -> None:
    if not has_image("podman"):
        pytest.skip(f"podman or {BUSYBOX} is missing (testbed/setup.sh)")
    received: list[tuple[dict[str, str], bytes]] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        request = make_request("podman", tmp_path, command=("true",), port=None)
        request = AgentRequest(
            **{
                **{f: getattr(request, f) for f in ("task", "name", "engine", "argv", "status", "port")},
                "callback_url": f"http://127.0.0.1:{server.server_address[1]}/agent",
                "callback_secret": task_secret(PLATFORM_SECRET, request.task),
            }
        )
        running = agents(request)
        assert running.process.wait(60) == 0
    finally:
        server.shutdown()
        server.server_close()
    verifier = ReportVerifier(PLATFORM_SECRET)
    states = [verifier.verify(headers, body).state for headers, body in received]
    assert states == ["starting", "running", "exited"]
    with pytest.raises(Exception, match="replayed"):
        verifier.verify(*received[0])
    assert json.loads(received[-1][1])["exit_code"] == 0


RECORDING_EXTENSION = """
import json, time, urllib.request


class Recorder:
    def __init__(self, path):
        self.path = path

    def stop(self):
        with open(self.path, "a") as fh:
            fh.write("stopped\\n")


def fetch(url):
    for _ in range(50):  # the interface may not answer yet when its port is published
        try:
            return urllib.request.urlopen(url, timeout=10).read().decode()
        except OSError:
            time.sleep(0.2)
    raise OSError("no answer from " + url)


def start(config, host, port, log):
    body = fetch("http://%s:%d/" % (host, port))
    with open(config["path"], "w") as fh:
        fh.write(json.dumps({"host": host, "port": port, "body": body}) + "\\n")
    log("recorded")
    return Recorder(config["path"])
"""


def test_extensions_start_once_the_interface_listens_and_stop_at_the_end(
    tmp_path: Path, agents: Callable[[AgentRequest], Running]
) -> None:
    if not has_image("podman"):
        pytest.skip(f"podman or {BUSYBOX} is missing (testbed/setup.sh)")
    record = tmp_path / "record"
    extensions = (
        AgentExtension(
            name="broken", source="def start(config, host, port, log):\n    raise OSError('no')\n"
        ),
        AgentExtension(name="recorder", source=RECORDING_EXTENSION, config={"path": str(record)}),
    )
    running = agents(make_request("podman", tmp_path, extensions=extensions))
    status = running.wait_for("running")
    deadline = time.monotonic() + 30
    while not record.exists():
        assert time.monotonic() < deadline, "the extension never started"
        time.sleep(0.2)
    seen = json.loads(record.read_text().splitlines()[0])
    assert (seen["host"], seen["port"]) == ("127.0.0.1", status.port)
    assert "testbed-busybox OK" in seen["body"]  # it reached the interface on the node
    running.process.send_signal(signal.SIGTERM)
    running.process.wait(60)
    assert record.read_text().splitlines()[1:] == ["stopped"]
    errors = running.process.stderr.read().decode() if running.process.stderr else ""
    assert "extension broken did not start: OSError('no')" in errors
    assert "recorder: recorded" in errors
