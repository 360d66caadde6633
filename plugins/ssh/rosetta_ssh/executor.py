"""The SSH executor: commands and files on a host reached over one pooled SSH connection.

:class:`SSHExecutor` behaves as :class:`~rosetta_core.executors.LocalExecutor` does, on another
host: argv lists (never a shell string), the same errors, output capped the same way. It is
blocking: async callers (the web front) must call it in a worker thread.

One executor holds one connection (a :class:`paramiko.Transport`), opened on first use and
shared by every thread: each command or file transfer is a channel of its own, at most
``max_sessions`` at once. Before each use the connection's host key is checked against the
trusted keys in the store again, so a revoked key stops the next command. A connection found dead
is reopened once; one unused for ``idle_close`` seconds is closed by the factory's reaper.
"""

from __future__ import annotations

import contextlib
import secrets
import select
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import PurePosixPath
from typing import TypeVar

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST

from rosetta_core.errors import BackendUnavailable, CommandTimeout, ExecutorError
from rosetta_core.executors import DEFAULT_TIMEOUT, MAX_OUTPUT, CommandResult, check_argv
from rosetta_core.model import HostKey
from rosetta_ssh.command import check_program_ran, remote_command
from rosetta_ssh.connection import open_transport, presented_key
from rosetta_ssh.options import SSHOptions
from rosetta_ssh.target import SSHTarget

T = TypeVar("T")
_CHUNK = 64 * 1024
_FEEDER_JOIN = 5.0
_BUSY_RECHECK = 5.0
_LOST = (paramiko.SSHException, EOFError, OSError)


class SSHExecutor:
    """Runs commands and moves files on ``target`` as ``login``, authenticated with one key.

    Build it through the ``ssh`` executor factory (``kernel.executor_for(computing, owner)``),
    which returns one executor per computing resource, host, port, account and key.

    - :meth:`run`: ``returncode`` is the program's exit status, or -1 when it was killed by a
      signal (the SSH server reports no number then).
    - :meth:`transport`: the live, authenticated connection, for tunnels (``open_channel``).
    - :meth:`hold`: the same, kept open (never idle-closed) while the ``with`` block runs.
    """

    name = "ssh"

    def __init__(
        self,
        target: SSHTarget,
        *,
        login: str,
        key: Callable[[], paramiko.PKey],
        key_fingerprint: str,
        host_keys: Callable[[], Sequence[HostKey]],
        options: SSHOptions,
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        self.target = target
        self.login = login
        self.key_fingerprint = key_fingerprint
        self.options = options
        self.connections = 0
        """How many connections this executor has opened (pooling makes it stay at 1)."""
        self._load_key = key
        self._key: paramiko.PKey | None = None
        self._host_keys = host_keys
        self._on_connect = on_connect
        self._lock = threading.Lock()
        self._transport: paramiko.Transport | None = None
        self._presented: tuple[str, str] | None = None
        self._sessions = threading.BoundedSemaphore(options.max_sessions)
        self._busy = 0
        self._last_used = time.monotonic()

    def __repr__(self) -> str:
        return f"<SSHExecutor {self.login}@{self.target.address} for {self.target.computing!r}>"

    # ---------------------------------------------------------------- connection

    @property
    def connected(self) -> bool:
        """Whether a connection is open now (it may still turn out dead on next use)."""
        transport = self._transport
        return transport is not None and transport.is_active()

    def transport(self) -> paramiko.Transport:
        """The live authenticated connection, opened (or reopened) if needed.

        Raises what :meth:`run` raises when connecting fails. The connection may be closed once it
        has been unused for ``idle_close`` seconds; use :meth:`hold` to keep it while you need it.
        """
        with self._lock:
            transport = self._live()
            self._last_used = time.monotonic()
            return transport

    @contextlib.contextmanager
    def hold(self) -> Iterator[paramiko.Transport]:
        """The live authenticated connection, never idle-closed while the block runs."""
        transport = self._checkout()
        try:
            yield transport
        finally:
            self._checkin()

    def close(self) -> None:
        """Close the connection (the next use opens a new one)."""
        with self._lock:
            self._drop()

    def close_if_idle(self, now: float) -> float | None:
        """Close the connection if unused for ``idle_close`` seconds; return the seconds until it
        will be, or ``None`` when no connection is open (any more)."""
        with self._lock:
            transport = self._transport
            if transport is None:
                return None
            if not transport.is_active():
                self._drop()
                return None
            if self._busy:
                # look again soon: the idle time starts when the last use ends
                return min(self.options.idle_close, _BUSY_RECHECK)
            idle = now - self._last_used
            if idle >= self.options.idle_close:
                self._drop()
                return None
            return self.options.idle_close - idle

    def _live(self) -> paramiko.Transport:
        """The current connection if alive and still trusted, else a new one (lock held)."""
        transport = self._transport
        if transport is not None and transport.is_active():
            trusted = self._host_keys()
            if any((k.key_type, k.key) == self._presented for k in trusted):
                return transport
        self._drop()
        if self._key is None:
            self._key = self._load_key()
        transport = open_transport(
            self.target,
            login=self.login,
            key=self._key,
            trusted=self._host_keys(),
            options=self.options,
        )
        self._transport = transport
        self._presented = presented_key(transport)
        self.connections += 1
        if self._on_connect is not None:
            self._on_connect()
        return transport

    def _drop(self) -> None:
        """Forget and close the connection (lock held)."""
        transport, self._transport, self._presented = self._transport, None, None
        if transport is not None:
            transport.close()

    def _discard(self, transport: paramiko.Transport) -> None:
        """Close ``transport`` if it is still the current connection: it turned out dead."""
        with self._lock:
            if self._transport is transport:
                self._drop()
            else:
                transport.close()

    def _checkout(self) -> paramiko.Transport:
        with self._lock:
            transport = self._live()
            self._busy += 1
            return transport

    def _checkin(self) -> None:
        with self._lock:
            self._busy -= 1
            self._last_used = time.monotonic()

    def _lost(self, exc: BaseException, what: str) -> BackendUnavailable:
        reason = str(exc) or type(exc).__name__
        return BackendUnavailable(f"{self.target.where}: the connection was lost {what}: {reason}")

    @contextlib.contextmanager
    def _slot(self, deadline: float | None, what: str) -> Iterator[None]:
        """One of the ``max_sessions`` channels of the connection, waited for until ``deadline``."""
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not self._sessions.acquire(timeout=wait):
            raise CommandTimeout(
                f"{what} waited longer than its timeout for a free session on {self.target.where}"
            )
        try:
            yield
        finally:
            self._sessions.release()

    def _open(
        self, opener: Callable[[paramiko.Transport], T], deadline: float | None
    ) -> tuple[paramiko.Transport, T]:
        """Open a channel with ``opener`` on the pooled connection.

        A connection that turned out dead is replaced once. A live one that refuses the channel
        (the server has not yet freed a session just closed, or its ``MaxSessions`` is lower than
        ``max_sessions``) is asked again, backing off, until ``deadline`` (default: the connect
        timeout). Returns with the connection checked out (the caller checks it in); checks it in
        itself when it raises.
        """
        give_up = deadline if deadline is not None else time.monotonic() + self.options.connect_timeout
        delay, reconnected = 0.01, False
        transport = self._checkout()
        while True:
            started = time.monotonic()
            try:
                return transport, opener(transport)
            except _LOST as exc:
                # paramiko reports a refused channel through one slot per connection, so under
                # concurrency the refusal may come as a bare SSHException: only an inactive
                # connection, or one that let the open time out (a peer gone silent), is lost
                silent = time.monotonic() - started >= self.options.connect_timeout
                if transport.is_active() and not silent:
                    if time.monotonic() + delay > give_up:
                        self._checkin()
                        raise BackendUnavailable(
                            f"{self.target.where} kept refusing a new session ({exc}); set [plugin.ssh] "
                            "max_sessions to at most the server's MaxSessions"
                        ) from exc
                    time.sleep(delay)
                    delay = min(delay * 2, 0.25)
                    continue
                self._checkin()
                self._discard(transport)
                if reconnected:
                    raise self._lost(exc, "while opening a session") from exc
                reconnected = True
                transport = self._checkout()

    # ---------------------------------------------------------------- commands

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Run ``argv`` on the host; see :class:`~rosetta_core.executors.Executor` for the contract.

        The remote login shell runs ``exec env -- [KEY=VALUE ...] argv...`` with every entry quoted,
        so it interprets nothing. Stdin is ``input`` or at once closed. On timeout the program is
        sent SIGKILL (servers that allow signals, e.g. OpenSSH >= 7.9) and the channel is closed.
        """
        args = check_argv(argv)
        # no input: the remote shell gives the program /dev/null, so no end of file is sent
        # that could race the server's close (see _send_locked)
        command = remote_command(args, env, no_input=not input)
        deadline = time.monotonic() + timeout
        with self._slot(deadline, args[0]):
            transport, channel = self._open(
                lambda t: t.open_session(timeout=self.options.connect_timeout), deadline
            )
            feeder: threading.Thread | None = None
            try:
                try:
                    channel.exec_command(command)
                except _LOST as exc:
                    raise self._lost(exc, f"while starting {args[0]}") from exc
                feeder = _feed(channel, input)
                stdout, stderr = self._collect(channel, deadline, args[0], timeout)
                status = channel.exit_status
                if status == -1 and not transport.is_active():
                    raise self._lost(EOFError("the server closed the connection"), f"while {args[0]} ran")
            finally:
                channel.close()
                if feeder is not None:
                    feeder.join(_FEEDER_JOIN)
                self._checkin()
        out = stdout.decode(errors="replace")
        err = stderr.decode(errors="replace")
        check_program_ran(args[0], status, err)
        return CommandResult(argv=args, returncode=status, stdout=out, stderr=err)

    def _collect(
        self, channel: paramiko.Channel, deadline: float, program: str, timeout: float
    ) -> tuple[bytes, bytes]:
        """Read stdout and stderr until the channel's end of file and exit status, or the deadline."""
        stdout, stderr = bytearray(), bytearray()
        wakeup = channel.fileno()  # readable whenever either stream has data, or at the end
        while True:
            _drain(channel, stdout, stderr)
            if channel.eof_received or channel.closed:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _abandon(channel)
                raise CommandTimeout(f"{program} did not finish within {timeout:g} s")
            select.select([wakeup], [], [], remaining)
        # whatever came before the end of file is in the buffers now
        _drain(channel, stdout, stderr)
        if not channel.status_event.wait(max(0.0, deadline - time.monotonic())):
            _abandon(channel)
            raise CommandTimeout(f"{program} did not finish within {timeout:g} s")
        return bytes(stdout[-MAX_OUTPUT:]), bytes(stderr[-MAX_OUTPUT:])

    # ---------------------------------------------------------------- files

    @contextlib.contextmanager
    def _sftp(self, what: str) -> Iterator[tuple[paramiko.Transport, paramiko.SFTPClient]]:
        with self._slot(None, what):
            transport, sftp = self._open(self._sftp_client, None)
            try:
                yield transport, sftp
            finally:
                with contextlib.suppress(*_LOST):
                    sftp.close()
                self._checkin()

    def _sftp_client(self, transport: paramiko.Transport) -> paramiko.SFTPClient:
        # as SFTPClient.from_transport, with a timeout (paramiko's default is an hour)
        channel = transport.open_session(timeout=self.options.connect_timeout)
        try:
            channel.invoke_subsystem("sftp")
            return paramiko.SFTPClient(channel)
        except BaseException:
            channel.close()
            raise

    def put_file(self, path: str, content: bytes, *, mode: int = 0o600) -> None:
        """Write ``content`` to ``path`` atomically over SFTP, creating missing parent folders.

        The bytes go to a temporary name in the same folder, which gets ``mode`` before any byte
        is written and is then renamed over ``path`` (``posix-rename``). Relative paths are
        relative to the account's home folder; ``~`` is not expanded.
        """
        target = PurePosixPath(path)
        tmp = str(target.parent / f".{target.name}.{secrets.token_hex(6)}")
        with self._sftp(f"writing {path}") as (transport, sftp):
            try:
                _make_folders(sftp, target.parent)
                try:
                    with sftp.open(tmp, "wbx") as fh:
                        fh.chmod(mode)
                        fh.set_pipelined(True)
                        fh.write(content)
                    sftp.posix_rename(tmp, path)
                except BaseException:
                    with contextlib.suppress(*_LOST):
                        sftp.remove(tmp)
                    raise
            except _LOST as exc:
                raise self._file_error("write", path, exc, transport) from exc

    def get_file(self, path: str, *, max_bytes: int = MAX_OUTPUT) -> bytes:
        """Read at most the last ``max_bytes`` of ``path`` over SFTP; a missing file raises
        :class:`ExecutorError`."""
        with self._sftp(f"reading {path}") as (transport, sftp):
            try:
                with sftp.open(path, "rb") as fh:
                    size = fh.stat().st_size or 0
                    if size > max_bytes:
                        fh.seek(size - max_bytes)
                    fh.prefetch(size)
                    return fh.read(max_bytes)
            except _LOST as exc:
                raise self._file_error("read", path, exc, transport) from exc

    def _file_error(
        self, verb: str, path: str, exc: BaseException, transport: paramiko.Transport
    ) -> BackendUnavailable | ExecutorError:
        if isinstance(exc, paramiko.SSHException | EOFError) or not transport.is_active():
            return self._lost(exc, f"while trying to {verb} {path}")
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return ExecutorError(f"cannot {verb} {path} on {self.target.where}: {reason}")


def _make_folders(sftp: paramiko.SFTPClient, folder: PurePosixPath) -> None:
    """``mkdir -p folder`` over SFTP; an existing non-folder raises ``NotADirectoryError``."""
    if _is_folder(sftp, folder):
        return
    for part in [*reversed(folder.parents), folder]:
        if _is_folder(sftp, part):
            continue
        try:
            sftp.mkdir(str(part))
        except OSError:
            if not _is_folder(sftp, part):  # made by someone else meanwhile is fine
                raise


def _is_folder(sftp: paramiko.SFTPClient, path: PurePosixPath) -> bool:
    try:
        mode = sftp.stat(str(path)).st_mode
    except FileNotFoundError:
        return False
    if mode is None or not stat.S_ISDIR(mode):
        raise NotADirectoryError(20, f"{path} is not a folder")
    return True


def _drain(channel: paramiko.Channel, stdout: bytearray, stderr: bytearray) -> None:
    while channel.recv_ready():
        _append(stdout, channel.recv(_CHUNK))
    while channel.recv_stderr_ready():
        _append(stderr, channel.recv_stderr(_CHUNK))


def _append(buffer: bytearray, data: bytes) -> None:
    buffer += data
    # keep the tail only, as LocalExecutor does, without copying on every chunk
    if len(buffer) > 2 * MAX_OUTPUT:
        del buffer[: len(buffer) - MAX_OUTPUT]


def _feed(channel: paramiko.Channel, input: str | None) -> threading.Thread | None:
    """Send ``input`` then end of file, from a thread: a command that writes while it reads
    would otherwise fill the window both ways and stall. No input: nothing to send (the command
    line redirects stdin from /dev/null)."""
    data = input.encode() if input else b""
    if not data:
        return None

    def write() -> None:
        # the command may end (or time out) without reading everything: nothing to report then
        with contextlib.suppress(*_LOST):
            channel.sendall(data)
            _send_locked(channel, _eof_message)

    thread = threading.Thread(target=write, name="rosetta-ssh-stdin", daemon=True)
    thread.start()
    return thread


def _send_locked(
    channel: paramiko.Channel, build: Callable[[paramiko.Channel], paramiko.Message | None]
) -> None:
    """Send the message ``build`` makes for ``channel``, holding the channel's lock until it is sent.

    Paramiko builds a channel's end of file under that lock but sends it after releasing it; its
    transport thread, answering the server's close in between, can then send the close first,
    the server frees the channel, and OpenSSH drops the whole connection on the late message
    ("ieof packet referred to nonexistent channel", paramiko issue 1115). Holding the lock keeps
    the two in order. Nothing is sent on a channel already closed.
    """
    transport = channel.get_transport()
    send = getattr(transport, "_send_user_message", None)
    if send is None:
        return
    with channel.lock:
        if channel.closed:
            return
        message = build(channel)
        if message is not None:
            send(message)


def _eof_message(channel: paramiko.Channel) -> paramiko.Message | None:
    """Paramiko's end-of-file message for ``channel`` (marking it sent), or ``None`` if already sent."""
    message: paramiko.Message | None = channel._send_eof()  # type: ignore[attr-defined]  # private: see _send_locked
    return message


def _kill_message(channel: paramiko.Channel) -> paramiko.Message:
    """The "signal" request asking the server to SIGKILL the command (RFC 4254 6.9; paramiko has
    no method for it)."""
    message = paramiko.Message()
    message.add_byte(cMSG_CHANNEL_REQUEST)
    message.add_int(channel.remote_chanid)
    message.add_string("signal")
    message.add_boolean(False)
    message.add_string("KILL")
    return message


def _abandon(channel: paramiko.Channel) -> None:
    """Ask the server to SIGKILL the command, then close the channel. Without the signal an
    OpenSSH server leaves a program that does not read its closed stdin running."""
    with contextlib.suppress(*_LOST):
        _send_locked(channel, _kill_message)
    channel.close()
