"""The ssh-forward tunnel against a private OpenSSH server: a real TCP service behind it."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from rosetta_core.errors import ConflictError
from rosetta_core.model import Task, TaskStatus
from rosetta_core.tunnels import Endpoint
from rosetta_ssh.forward import TABLE, ForwardTunnel
from rosetta_ssh.testing import PrivateSSHD, SSHRemote

pytestmark = pytest.mark.testbed


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A TCP echo service on 127.0.0.1 (the remote host's loopback: the same machine here)."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    server.close()


def running_task(remote: SSHRemote, port: int) -> Task:
    return Task(
        name="t",
        owner=remote.user,
        software="s",
        computing=remote.computing.name,
        status=TaskStatus.RUNNING,
        interface_host="127.0.0.1",
        interface_port=port,
    )


def tunnel_of(remote: SSHRemote) -> ForwardTunnel:
    tunnel = remote.kernel.tunnels.get("ssh-forward")
    assert isinstance(tunnel, ForwardTunnel)
    return tunnel


def echo_through(endpoint: Endpoint, payload: bytes = b"hello through ssh") -> bytes:
    with socket.create_connection((endpoint.host, endpoint.port), timeout=10) as conn:
        conn.sendall(payload)
        received = b""
        while len(received) < len(payload):
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
    return received


def test_forwards_to_the_interface_on_a_loopback_port(remote: SSHRemote, echo_port: int) -> None:
    tunnel = tunnel_of(remote)
    task = running_task(remote, echo_port)
    endpoint = tunnel.open(task, remote.computing)
    try:
        assert endpoint.host == "127.0.0.1" and 20000 <= endpoint.port <= 20999
        assert tunnel.open(task, remote.computing) == endpoint  # idempotent
        assert tunnel.endpoint(task.id) == endpoint
        assert echo_through(endpoint) == b"hello through ssh"
        big = bytes(range(256)) * 4096  # 1 MiB both ways
        assert echo_through(endpoint, big) == big
    finally:
        tunnel.close(task.id)
    assert tunnel.endpoint(task.id) is None
    with pytest.raises(OSError):
        socket.create_connection((endpoint.host, endpoint.port), timeout=2)
    assert remote.kernel.store.db.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0] == 0


def test_ports_are_unique_across_processes_and_kept_over_a_restart(remote: SSHRemote, echo_port: int) -> None:
    first = tunnel_of(remote)
    # a second process on the same store: its own tunnel object, the same port table
    other = ForwardTunnel(remote.kernel, first.transport_for, ports=first.ports)
    one, two = running_task(remote, echo_port), running_task(remote, echo_port)
    try:
        a = first.open(one, remote.computing)
        b = other.open(two, remote.computing)
        assert a.port != b.port
        first.close_all()  # the process ends: the listener goes, the port row stays
        restarted = ForwardTunnel(remote.kernel, first.transport_for, ports=first.ports)
        assert restarted.open(one, remote.computing).port == a.port
        assert echo_through(restarted.endpoint(one.id) or a) == b"hello through ssh"
        restarted.close(one.id)
    finally:
        other.close(two.id)
        first.close(one.id)


def test_a_full_range_is_refused(remote: SSHRemote, echo_port: int) -> None:
    base = tunnel_of(remote)
    port = base.ports[0]
    tiny = ForwardTunnel(remote.kernel, base.transport_for, ports=(port, port))
    one, two = running_task(remote, echo_port), running_task(remote, echo_port)
    tiny.open(one, remote.computing)
    try:
        with pytest.raises(ConflictError, match="no free tunnel port"):
            tiny.open(two, remote.computing)
    finally:
        tiny.close(one.id)


def test_the_tunnel_works_again_when_sshd_is_back(
    remote: SSHRemote, echo_port: int, running_sshd: PrivateSSHD
) -> None:
    tunnel = tunnel_of(remote)
    task = running_task(remote, echo_port)
    endpoint = tunnel.open(task, remote.computing)
    try:
        assert echo_through(endpoint) == b"hello through ssh"
        running_sshd.stop()
        # the listener stays; a connection made while the host is down is closed at once
        with contextlib.suppress(OSError):
            assert echo_through(endpoint) == b""
        running_sshd.start()
        assert echo_through(endpoint) == b"hello through ssh"
    finally:
        tunnel.close(task.id)
