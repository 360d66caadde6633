"""The ``reverse`` tunnel: a loopback port per task, fed by the task's agent dialing out."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from rosetta_core.errors import BackendUnavailable
from rosetta_core.model import Computing, Task, TaskStatus
from rosetta_core.testing.contracts import TunnelContract
from rosetta_reverse import agent_side as _agent_side
from rosetta_reverse.options import ReverseOptions
from rosetta_reverse.tunnel import ReverseTunnel, reverse_secret

agent: Any = _agent_side
SECRET = "p" * 64
COMPUTING = Computing(name="cluster", engines=("podman",), options={"transport": "reverse"})


def running(port: int = 8888) -> Task:
    return Task(
        name="t",
        owner="ada",
        software="s",
        computing="cluster",
        status=TaskStatus.RUNNING,
        interface_host="127.0.0.1",
        interface_port=port,
    )


@pytest.fixture
def tunnel() -> Iterator[ReverseTunnel]:
    made = ReverseTunnel(SECRET, ReverseOptions(listen="127.0.0.1:0", wait=2.0))
    yield made
    made.close_all()


class TestReverseTunnelContract(TunnelContract):
    @pytest.fixture
    def tunnel(self) -> Iterator[ReverseTunnel]:
        made = ReverseTunnel(SECRET, ReverseOptions(listen="127.0.0.1:0"))
        yield made
        made.close_all()


class Dialing:
    """The node side for ``task`` (in this process), dialing ``tunnel`` with ``secret``."""

    def __init__(self, tunnel: ReverseTunnel, task: str, secret: str, port: int) -> None:
        self.dialer = agent.Dialer(
            tunnel.agent_url, lambda: agent.sign(task, secret), "127.0.0.1", port, backoff=0.05, log=print
        )
        self.thread = threading.Thread(target=self.dialer.run)
        self.thread.start()

    def stop(self) -> None:
        self.dialer.stop()
        self.thread.join(10)


def echo_server() -> socket.socket:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"echo:" + conn.recv(100))

    threading.Thread(target=serve, daemon=True).start()
    return server


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(100):
            received += chunk
        return received


def test_a_connection_to_the_tasks_port_reaches_its_interface_on_the_node(tunnel: ReverseTunnel) -> None:
    server = echo_server()
    task = running(server.getsockname()[1])
    endpoint = tunnel.open(task, COMPUTING)
    dialing = Dialing(tunnel, task.id, reverse_secret(SECRET, task.id), server.getsockname()[1])
    try:
        assert tunnel.connected(task.id, timeout=10)
        assert endpoint.host == "127.0.0.1" and endpoint.port != server.getsockname()[1]
        assert [exchange(endpoint.port, f"{i}".encode()) for i in range(5)] == [
            f"echo:{i}".encode() for i in range(5)
        ]
    finally:
        dialing.stop()
        server.close()


def test_another_tasks_secret_and_refused_tasks_get_no_tunnel() -> None:
    tunnel = ReverseTunnel(SECRET, ReverseOptions(listen="127.0.0.1:0"), accepts=lambda t: t != "ended")
    tunnel.start()
    try:
        wrong = Dialing(tunnel, "t1", reverse_secret(SECRET, "t2"), 1)
        ended = Dialing(tunnel, "ended", reverse_secret(SECRET, "ended"), 1)
        assert not tunnel.connected("t1", timeout=1) and not tunnel.connected("ended")
        wrong.stop()
        ended.stop()
    finally:
        tunnel.close_all()


def test_without_its_agent_a_connection_is_closed_after_the_wait(tunnel: ReverseTunnel) -> None:
    endpoint = tunnel.open(running(), COMPUTING)
    try:
        answer = exchange(endpoint.port, b"anyone?")
    except ConnectionResetError:  # closed with our bytes unread
        answer = b""
    assert answer == b""


def test_close_drops_the_agents_tunnel(tunnel: ReverseTunnel) -> None:
    server = echo_server()
    task = running(server.getsockname()[1])
    tunnel.open(task, COMPUTING)
    dialing = Dialing(tunnel, task.id, reverse_secret(SECRET, task.id), server.getsockname()[1])
    try:
        assert tunnel.connected(task.id, timeout=10)
        tunnel.close(task.id)
        assert tunnel.endpoint(task.id) is None
        # the agent reconnects (it does not know the task ended): the tunnel is back, no port
        assert tunnel.connected(task.id, timeout=10)
    finally:
        dialing.stop()
        server.close()


def test_the_extension_carries_the_url_and_the_tasks_own_secret(tunnel: ReverseTunnel) -> None:
    url = tunnel.start()
    task = running()
    extension = tunnel.extension(task)
    assert extension.name == "reverse" and "def start(" in extension.source
    assert extension.config == {"url": url, "task": task.id, "secret": reverse_secret(SECRET, task.id)}
    assert url.startswith("ws://127.0.0.1:") and url.endswith("/reverse")
    assert SECRET not in str(extension.config)


def test_a_configured_agent_url_is_what_agents_dial() -> None:
    options = ReverseOptions(listen="127.0.0.1:0", agent_url="wss://platform.example.org/reverse")
    tunnel = ReverseTunnel(lambda: SECRET, options)
    try:
        assert tunnel.start() == tunnel.agent_url == "wss://platform.example.org/reverse"
    finally:
        tunnel.close_all()


def test_a_listen_address_in_use_is_a_clear_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        tunnel = ReverseTunnel(SECRET, ReverseOptions(listen=f"127.0.0.1:{port}"))
        with pytest.raises(BackendUnavailable, match="rosetta serve"):
            tunnel.open(running(), COMPUTING)
        assert tunnel.endpoint(running().id) is None
