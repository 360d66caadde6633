"""A private OpenSSH server for tests: :class:`PrivateSSHD`.

It runs ``/usr/sbin/sshd -D -e -f <config>`` on a free port of 127.0.0.1 with host keys of its
own, lets in one account (the testbed's unprivileged user, see :func:`unprivileged_account`) with the keys
the test puts in its ``authorized_keys``, and can be stopped and started again on the same port
(a host going down and coming back). It needs root, as any sshd that logs users in does.

    server = PrivateSSHD("tbuser")
    server.start()
    server.authorize(public_key_line)
    ...
    server.stop()            # host down: the daemon and its connections are gone
    server.start()           # back, same port and host keys
    server.close()           # stopped and its folder removed

:func:`make_remote` then sets up a kernel to reach it (a user with a key pair the server accepts,
a computing resource with its host keys trusted); :func:`remote_workdir` makes a folder the
account owns.

Everything lives in a fresh folder under ``/run`` (root's own, mode 0755): sshd's strict modes
refuse an ``AuthorizedKeysFile`` under a world-writable folder such as ``/tmp``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import attrs

from rosetta_core.model import Computing, ComputingAccount, ComputingKind, HostKey
from rosetta_core.testing.testbed import TESTBED_ENV, unprivileged_account
from rosetta_core.users import create_user
from rosetta_ssh.executor import SSHExecutor
from rosetta_ssh.keys import user_key_pair

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = "ssh-keygen"
PRIVSEP_DIR = Path("/run/sshd")
START_TIMEOUT = 10.0


def unavailable_reason() -> str | None:
    """Why a :class:`PrivateSSHD` cannot run here, or ``None`` when it can."""
    if os.geteuid() != 0:
        return "a private sshd needs root"
    if not SSHD.exists():
        return f"{SSHD} is not installed (apt-get install openssh-server, or run testbed/setup.sh)"
    if shutil.which(SSH_KEYGEN) is None:
        return "ssh-keygen is not installed"
    if unprivileged_account() is None:
        return f"no testbed user: {TESTBED_ENV} names none that exists (run testbed/setup.sh)"
    return None


def sshd_account_or_skip() -> str:
    """The testbed's unprivileged account; the calling test is skipped, saying why, when a
    :class:`PrivateSSHD` cannot let it in here (see :func:`unavailable_reason`)."""
    import pytest

    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    user = unprivileged_account()
    assert user is not None
    return user


@contextlib.contextmanager
def started_sshd(user: str | None = None) -> Iterator[PrivateSSHD]:
    """A started :class:`PrivateSSHD` letting ``user`` (default: the testbed's account) in,
    closed afterwards; skips the calling test, saying why, when none can run here."""
    server = PrivateSSHD(user or sshd_account_or_skip())
    try:
        server.start()
        yield server
    finally:
        server.close()


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateSSHD:
    """An sshd of the test's own on ``127.0.0.1:port`` that lets in ``user`` only.

    :param user: the only account allowed in (``AllowUsers``).
    :param key_types: host key types to make, in ``ssh-keygen -t`` terms (``ed25519``, ``ecdsa``,
        ``rsa``).
    :param max_sessions: the server's ``MaxSessions`` (OpenSSH's default is 10).
    """

    host = "127.0.0.1"

    def __init__(
        self,
        user: str,
        *,
        key_types: Sequence[str] = ("ed25519",),
        max_sessions: int = 10,
        base_dir: str | os.PathLike[str] = "/run",
    ) -> None:
        self.user = user
        self.directory = Path(tempfile.mkdtemp(prefix="rosetta-sshd-", dir=base_dir))
        self.directory.chmod(0o755)
        self.port = free_port()
        self.authorized_keys = self.directory / "authorized_keys"
        self.authorized_keys.write_text("")
        self.authorized_keys.chmod(0o644)
        self.log = self.directory / "sshd.log"
        self.host_key_files: list[Path] = []
        for key_type in key_types:
            path = self.directory / f"ssh_host_{key_type}_key"
            subprocess.run(
                [SSH_KEYGEN, "-q", "-t", key_type, "-N", "", "-C", "rosetta-test-host", "-f", str(path)],
                check=True,
                capture_output=True,
            )
            self.host_key_files.append(path)
        self.config = self.directory / "sshd_config"
        self.config.write_text(self._config_text(max_sessions))
        self._process: subprocess.Popen[bytes] | None = None

    def _config_text(self, max_sessions: int) -> str:
        lines = [
            f"Port {self.port}",
            f"ListenAddress {self.host}",
            *(f"HostKey {path}" for path in self.host_key_files),
            f"PidFile {self.directory / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "PermitRootLogin no",
            f"AllowUsers {self.user}",
            "AllowTcpForwarding yes",
            "X11Forwarding no",
            "PrintMotd no",
            "UseDNS no",
            f"MaxSessions {max_sessions}",
            "MaxStartups 100:30:200",
            "Subsystem sftp internal-sftp",
            "LogLevel VERBOSE",
        ]
        return "\n".join(lines) + "\n"

    # ---------------------------------------------------------------- keys

    def authorize(self, *public_keys: str) -> None:
        """Make ``public_keys`` (OpenSSH lines) the only keys that log in."""
        self.authorized_keys.write_text("".join(line.strip() + "\n" for line in public_keys))

    def public_key_lines(self) -> list[str]:
        """The host keys as ``type base64 comment`` lines."""
        return [Path(f"{path}.pub").read_text().strip() for path in self.host_key_files]

    def host_keys(self, computing: str) -> list[HostKey]:
        """The server's host keys, as records trusting them for ``computing``."""
        keys = []
        for line in self.public_key_lines():
            key_type, blob = line.split()[:2]
            keys.append(HostKey(computing=computing, key_type=key_type, key=blob))
        return keys

    def fingerprint(self, index: int = 0) -> str:
        """``ssh-keygen -lf``'s fingerprint (``SHA256:...``) of host key ``index``."""
        done = subprocess.run(
            [SSH_KEYGEN, "-lf", f"{self.host_key_files[index]}.pub"],
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.split()[1]

    # ---------------------------------------------------------------- life

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> PrivateSSHD:
        """Start the daemon (again) and wait until it answers; no-op when it runs."""
        if self.running:
            return self
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sshd did not start on port {self.port}:\n{self.log_tail()}")
            time.sleep(0.05)
        return self

    def stop(self, *, drop_connections: bool = True) -> None:
        """Stop the daemon. With ``drop_connections`` (a host going down) the connections it
        serves are cut too; the commands they run go on, as after a network outage."""
        process, self._process = self._process, None
        if process is None:
            return
        if drop_connections:
            _kill_connections(process.pid)
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def drop_connections(self) -> None:
        """Cut every open connection (frozen ones included); the daemon goes on accepting."""
        if self._process is not None:
            _kill_connections(self._process.pid)

    def connection_pids(self) -> list[int]:
        """The sshd processes serving open connections (SIGSTOP them to make a peer go silent)."""
        if self._process is None:
            return []
        return [pid for level in _descendant_levels(self._process.pid) for pid in level]

    def close(self) -> None:
        """Stop the daemon and remove its folder."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def _answers(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                return sock.recv(4).startswith(b"SSH-")
        except OSError:
            return False

    def __enter__(self) -> PrivateSSHD:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _kill_connections(listener: int) -> None:
    """SIGKILL the sshd processes below ``listener``, deepest level first, while each parent is
    alive to reap its child: none is left a zombie for an init that may not reap. (OpenSSH's
    monitor takes a second or two to reap its session child: one wait per level, not per
    connection.)"""
    levels = _descendant_levels(listener)
    for pid in (p for level in levels for p in level):  # a stopped parent cannot reap
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    for level in reversed(levels):
        for pid in level:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while any(Path(f"/proc/{pid}").exists() for pid in level) and time.monotonic() < deadline:
            time.sleep(0.01)


def _descendant_levels(pid: int) -> list[list[int]]:
    """The sshd processes below ``pid`` (its per-connection children), level by level."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        names[int(entry.name)] = raw[raw.index("(") + 1 : raw.rindex(")")]
        parents[int(entry.name)] = int(raw[raw.rindex(")") + 2 :].split()[1])
    levels: list[list[int]] = []
    frontier = [pid]
    while frontier:
        frontier = [p for p, parent in parents.items() if parent in frontier and names.get(p) == "sshd"]
        if frontier:
            levels.append(frontier)
    return levels


# ---------------------------------------------------------------- a kernel that reaches it


def ssh_computing(
    port: int, name: str = "remote", host: str = "127.0.0.1", **options: str | int
) -> Computing:
    """A computing resource reached with the ``ssh`` executor at ``host:port``."""
    return Computing(
        name=name,
        kind=ComputingKind.SSH,
        executor="ssh",
        engines=("podman",),
        options={"host": host, "port": port, **options},
    )


@attrs.define
class SSHRemote:
    """A kernel with an SSH computing resource and a user whose key the server accepts."""

    kernel: Kernel
    computing: Computing
    sshd: PrivateSSHD
    user: str
    account: str

    def executor(self, owner: str | None = None) -> SSHExecutor:
        """``kernel.executor_for(computing, owner)``; ``owner`` defaults to :attr:`user`."""
        executor = self.kernel.executor_for(self.computing, owner or self.user)
        assert isinstance(executor, SSHExecutor)
        return executor

    def public_key(self, owner: str | None = None) -> str:
        """The public key line of ``owner``'s (default: :attr:`user`'s) key pair."""
        pair = user_key_pair(self.kernel, owner or self.user)
        assert pair is not None, f"{owner or self.user} has no key pair"
        return pair.public_key

    def trust(self) -> None:
        """Trust the server's host keys (replacing any others)."""
        self.kernel.store.trust_host_keys(
            self.computing.name, self.sshd.host_keys(self.computing.name), replace=True
        )


def make_remote(
    kernel: Kernel,
    sshd: PrivateSSHD,
    *,
    user: str = "alice",
    computing: str = "remote",
    trust: bool = True,
    engines: tuple[str, ...] = ("podman",),
    **options: str | int,
) -> SSHRemote:
    """Create ``user`` (the SSH plugin's hook makes their key pair), set their account on the new
    resource ``computing`` to ``sshd.user``, authorize their key and, with ``trust``, trust the
    server's host keys. ``engines`` and ``options`` (e.g. ``tunnel="ssh-forward"``) go to the
    resource. ``kernel`` must have the SSH plugin."""
    base = ssh_computing(sshd.port, computing)
    record = kernel.store.add(attrs.evolve(base, engines=engines, options={**base.options, **options}))
    create_user(kernel, user)
    kernel.store.set_account(ComputingAccount(owner=user, computing=computing, account=sshd.user))
    remote = SSHRemote(kernel=kernel, computing=record, sshd=sshd, user=user, account=sshd.user)
    sshd.authorize(remote.public_key())
    if trust:
        remote.trust()
    return remote


@contextlib.contextmanager
def remote_workdir(user: str) -> Iterator[str]:
    """A fresh folder ``/tmp/rosetta-ssh-test-<random>`` owned by ``user``, removed afterwards."""
    path = Path(tempfile.gettempdir()) / f"rosetta-ssh-test-{uuid.uuid4().hex[:12]}"
    path.mkdir(mode=0o700)
    try:
        account = pwd.getpwnam(user)
        os.chown(path, account.pw_uid, account.pw_gid)
        yield str(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)
