"""SSHExecutor against a private sshd: the kernel's executor contract, then pooling, concurrency,
reconnection, idle close, timeouts and the limits LocalExecutor has too."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

import rosetta_ssh.executor
from rosetta_core.errors import BackendUnavailable, CommandTimeout, ExecutorError, HostKeyError
from rosetta_core.executors import Executor
from rosetta_core.kernel import Kernel
from rosetta_core.testing.contracts import HOSTILE, ExecutorContract
from rosetta_ssh.executor import SSHExecutor
from rosetta_ssh.testing import PrivateSSHD, SSHRemote, make_remote

pytestmark = pytest.mark.testbed


class TestSSHExecutorContract(ExecutorContract):
    @pytest.fixture
    def executor(self, remote: SSHRemote) -> Executor:
        return remote.executor()

    @pytest.fixture
    def workdir(self, workdir: str) -> str:
        return workdir


def test_runs_as_the_account_and_satisfies_the_protocol(remote: SSHRemote) -> None:
    executor = remote.executor()
    assert isinstance(executor, Executor) and executor.name == "ssh"
    assert executor.run(["id", "-un"]).stdout == f"{remote.account}\n"


def test_environment_reaches_the_program_unchanged(remote: SSHRemote) -> None:
    result = remote.executor().run(["printenv", "ROSETTA_A"], env={"ROSETTA_A": HOSTILE, "ROSETTA_B": "x"})
    assert result.stdout == HOSTILE + "\n"


def test_program_exit_127_is_returned_not_raised(remote: SSHRemote) -> None:
    executor = remote.executor()
    assert executor.run(["sh", "-c", "exit 127"]).returncode == 127
    missing_inside = executor.run(["sh", "-c", "rosetta-no-such-program-xyz"])
    assert missing_inside.returncode == 127 and "not found" in missing_inside.stderr


def test_file_that_is_not_executable_raises(remote: SSHRemote, workdir: str) -> None:
    executor = remote.executor()
    executor.put_file(f"{workdir}/plain", b"#!/bin/sh\n", mode=0o644)
    with pytest.raises(ExecutorError, match="not executable"):
        executor.run([f"{workdir}/plain"])


def test_put_file_replaces_and_get_file_keeps_the_tail(remote: SSHRemote, workdir: str) -> None:
    executor = remote.executor()
    path = f"{workdir}/a/b/c.bin"
    executor.put_file(path, b"first")
    content = bytes(range(256)) * 4096  # 1 MiB
    executor.put_file(path, content, mode=0o640)
    assert executor.run(["stat", "-c", "%a", path]).stdout.strip() == "640"
    assert executor.get_file(path) == content
    assert executor.get_file(path, max_bytes=10) == content[-10:]
    # no temporary file stays behind
    assert executor.run(["ls", "-A", f"{workdir}/a/b"]).stdout == "c.bin\n"


def test_put_file_where_a_parent_is_a_file_raises(remote: SSHRemote, workdir: str) -> None:
    executor = remote.executor()
    executor.put_file(f"{workdir}/file", b"x")
    with pytest.raises(ExecutorError, match="cannot write"):
        executor.put_file(f"{workdir}/file/below", b"y")


def test_put_file_without_permission_raises(remote: SSHRemote) -> None:
    with pytest.raises(ExecutorError, match="cannot write /etc/rosetta-denied"):
        remote.executor().put_file("/etc/rosetta-denied/x", b"y")


def test_large_input_while_the_command_writes(remote: SSHRemote) -> None:
    # more than the SSH windows and pipes hold: stdin must be fed while output is read
    text = "0123456789abcdef\n" * (512 * 1024)  # 8.5 MiB
    result = remote.executor().run(["cat"], input=text, timeout=60)
    assert result.stdout == text


def test_output_keeps_the_tail(remote: SSHRemote, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rosetta_ssh.executor, "MAX_OUTPUT", 1000)
    result = remote.executor().run(["seq", "1", "20000"])
    assert len(result.stdout) == 1000 and result.stdout.endswith("\n19999\n20000\n")


def test_undecodable_output_is_replaced(remote: SSHRemote) -> None:
    assert remote.executor().run(["printf", "a\\377b"]).stdout == "a\ufffdb"


def test_timeout_kills_the_remote_program(remote: SSHRemote) -> None:
    marker = f"{time.time_ns() % 10**6}.25"  # a sleep length no one else uses
    with pytest.raises(CommandTimeout):
        remote.executor().run(["sleep", marker], timeout=0.5)
    deadline = time.monotonic() + 5
    while _processes(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _processes(f"sleep {marker}")


def test_many_runs_share_one_connection(remote: SSHRemote) -> None:
    executor = remote.executor()
    transport = executor.transport()
    for i in range(30):
        assert executor.run(["echo", str(i)]).stdout == f"{i}\n"
    assert executor.transport() is transport
    assert executor.connections == 1


def test_concurrent_runs_from_many_threads(remote: SSHRemote) -> None:
    # more threads than the server's MaxSessions (10): the rest wait for a free session
    executor = remote.executor()

    def work(i: int) -> str:
        return executor.run(["sh", "-c", 'sleep 0.05; printf %s "$1"', "sh", f"t{i}"]).stdout

    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(work, range(96)))
    assert results == [f"t{i}" for i in range(96)]
    assert executor.connections == 1


def test_concurrent_first_use_connects_once(remote: SSHRemote) -> None:
    executor = remote.executor()
    start = threading.Barrier(8)

    def work(_: int) -> int:
        start.wait()
        return executor.run(["true"]).returncode

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(work, range(8))) == [0] * 8
    assert executor.connections == 1


def test_programs_ending_before_their_input_ends_keep_the_connection(remote: SSHRemote) -> None:
    # each end of file races the server closing the channel; sent late, OpenSSH would drop the
    # connection with every command on it
    executor = remote.executor()

    def work(i: int) -> str:
        return executor.run(["head", "-c", "1"], input=f"{i % 10}-rest").stdout

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(work, range(200))) == [str(i % 10) for i in range(200)]
    assert executor.connections == 1


def test_server_down_is_unavailable_then_the_same_executor_reconnects(
    remote: SSHRemote, running_sshd: PrivateSSHD
) -> None:
    executor = remote.executor()
    assert executor.run(["true"]).ok
    running_sshd.stop()
    with pytest.raises(BackendUnavailable) as caught:
        executor.run(["true"])
    assert "'remote'" in str(caught.value) and f"127.0.0.1:{running_sshd.port}" in str(caught.value)
    with pytest.raises(BackendUnavailable):
        executor.get_file("/etc/hostname")
    running_sshd.start()
    assert remote.kernel.executor_for(remote.computing, remote.user) is executor
    assert executor.run(["echo", "back"]).stdout == "back\n"
    assert executor.connections == 2


def test_connection_cut_while_a_command_runs(remote: SSHRemote, running_sshd: PrivateSSHD) -> None:
    executor = remote.executor()
    executor.run(["true"])
    stopper = threading.Timer(0.5, running_sshd.stop)
    stopper.start()
    with pytest.raises(BackendUnavailable, match="connection was lost"):
        executor.run(["sleep", "5"], timeout=20)
    stopper.join()  # the run fails as the connections drop, before the daemon itself has ended
    running_sshd.start()
    assert executor.run(["true"]).ok


def test_connection_gone_silent_is_replaced(
    make_kernel: Callable[..., Kernel], running_sshd: PrivateSSHD
) -> None:
    executor = make_remote(make_kernel(connect_timeout=1), running_sshd).executor()
    executor.run(["true"])
    frozen = running_sshd.connection_pids()
    assert frozen
    try:
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)  # the TCP connection stays up, the server says nothing
        started = time.monotonic()
        assert executor.run(["echo", "fresh"], timeout=10).stdout == "fresh\n"
        assert time.monotonic() - started < 5
        assert executor.connections == 2
    finally:
        running_sshd.drop_connections()


def test_dead_pooled_connection_is_replaced_once(remote: SSHRemote) -> None:
    executor = remote.executor()
    first = executor.transport()
    first.close()  # as if the peer had gone: the next run reconnects
    assert executor.run(["echo", "again"]).stdout == "again\n"
    assert executor.transport() is not first and executor.connections == 2


def test_idle_connection_is_closed(make_kernel: Callable[..., Kernel], running_sshd: PrivateSSHD) -> None:
    kernel = make_kernel(idle_close=0.3)
    executor = make_remote(kernel, running_sshd).executor()
    executor.run(["true"])
    assert executor.connected
    deadline = time.monotonic() + 5
    while executor.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not executor.connected
    assert executor.run(["true"]).ok and executor.connections == 2


def test_a_held_connection_is_not_idle_closed(
    make_kernel: Callable[..., Kernel], running_sshd: PrivateSSHD
) -> None:
    kernel = make_kernel(idle_close=0.2)
    executor = make_remote(kernel, running_sshd).executor()
    with executor.hold() as transport:
        time.sleep(0.8)
        assert transport.is_active() and executor.connected
        channel = transport.open_session()
        channel.exec_command("true")
        assert channel.recv_exit_status() == 0
        channel.close()
    assert executor.connections == 1


def test_revoked_trust_stops_the_next_command(remote: SSHRemote) -> None:
    executor = remote.executor()
    executor.run(["true"])
    remote.kernel.store.trust_host_keys(remote.computing.name, [], replace=True)
    with pytest.raises(HostKeyError, match="unknown host key"):
        executor.run(["true"])
    remote.trust()
    assert executor.run(["true"]).ok


def test_kernel_close_closes_connections(remote: SSHRemote) -> None:
    executor = remote.executor()
    executor.run(["true"])
    remote.kernel.close()
    assert not executor.connected


def test_executor_repr_names_the_account(remote: SSHRemote) -> None:
    executor = remote.executor()
    assert isinstance(executor, SSHExecutor)
    assert f"{remote.account}@127.0.0.1:{remote.sshd.port}" in repr(executor)


def _processes(pattern: str) -> list[str]:
    done = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True, check=False)
    return [line for line in done.stdout.splitlines() if "pgrep" not in line]
