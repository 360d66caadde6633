"""The private sshd of the tests: stopping it cuts connections, starting it again reuses its port."""

from __future__ import annotations

import contextlib
import pwd
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from rosetta_ssh.testing import PrivateSSHD, free_port, remote_workdir, started_sshd

pytestmark = pytest.mark.testbed


@pytest.fixture
def server(tbuser: str) -> Iterator[PrivateSSHD]:
    with PrivateSSHD(tbuser) as started:
        yield started


def banner(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        return sock.recv(7)


def test_stop_and_start_on_the_same_port(server: PrivateSSHD) -> None:
    port = server.port
    assert server.running and banner(port) == b"SSH-2.0"
    server.stop()
    assert not server.running
    with pytest.raises(ConnectionRefusedError):
        banner(port)
    server.start()
    assert server.port == port and banner(port) == b"SSH-2.0"


def test_stopping_cuts_open_connections(server: PrivateSSHD) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        assert sock.recv(7) == b"SSH-2.0"
        server.stop()
        # the connection's own sshd process is gone: end of file or a reset, not a timeout
        with contextlib.suppress(ConnectionResetError):
            while sock.recv(1024):
                pass


def test_files_are_where_sshd_accepts_them(server: PrivateSSHD) -> None:
    folder = server.directory.stat()
    assert folder.st_uid == 0 and stat.S_IMODE(folder.st_mode) == 0o755
    assert server.authorized_keys.stat().st_uid == 0
    assert server.fingerprint().startswith("SHA256:")
    assert [k.key_type for k in server.host_keys("c")] == ["ssh-ed25519"]


def test_close_removes_everything(tbuser: str) -> None:
    server = PrivateSSHD(tbuser).start()
    server.close()
    assert not server.directory.exists() and not server.running


def test_remote_workdir_belongs_to_the_user(tbuser: str) -> None:
    with remote_workdir(tbuser) as path:
        assert Path(path).stat().st_uid == pwd.getpwnam(tbuser).pw_uid
    assert not Path(path).exists()


def test_free_port_is_free() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_started_sshd_runs_for_the_block_only(tbuser: str) -> None:
    with started_sshd() as server:
        assert server.user == tbuser and server.running
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
            assert conn.recv(8).startswith(b"SSH-2.0")
    assert not server.running
