"""The ``ssh`` executor factory: which account and key act for a user, and the connection pool.

``factory(computing, owner)`` returns the same :class:`SSHExecutor` object for the same computing
resource, host, port, account and key, so the kernel (which sweeps a resource once per distinct
executor) and every caller share one connection per account. With ``auth = "platform_keys"``
every user, and the platform itself, get the one executor of the platform's account.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from typing import TYPE_CHECKING

from rosetta_core.errors import AccountRequired, AuthenticationFailed
from rosetta_core.model import Computing, HostKey
from rosetta_core.validators import ACCOUNT_RE, ssh_fingerprint
from rosetta_ssh.options import SSHOptions
from rosetta_ssh.target import Auth, SSHTarget

# paramiko and what needs it are imported on first use (see rosetta_ssh/__init__.py)
if TYPE_CHECKING:
    from collections.abc import Callable

    import paramiko

    from rosetta_core.kernel import Kernel
    from rosetta_ssh.executor import SSHExecutor

_PoolKey = tuple[str, str, int, str, str]


class SSHExecutorFactory:
    """Registered as the executor factory ``ssh``; one per kernel.

    - ``factory(computing, owner)``: the executor acting on ``computing`` for ``owner``.
      ``auth = "user_keys"``: logs in as the account ``owner`` set for the resource (else their user
      name) with their ``default`` key pair; ``owner=None`` raises :class:`AccountRequired`, a user
      without a key pair :class:`AuthenticationFailed`. ``auth = "platform_keys"``: logs in as the
      resource's ``account`` with ``[plugin.ssh] platform_key``, whoever asks.
    - :meth:`scan_host_keys`: the keys the resource's server offers, for ``rosetta computing trust``.
    - :meth:`close`: closes every pooled connection (called when the kernel shuts down).

    Invalid SSH options of a resource raise :class:`~rosetta_core.errors.ExecutorError`.
    """

    def __init__(self, kernel: Kernel, options: SSHOptions) -> None:
        self.kernel = kernel
        self.options = options
        self._executors: dict[_PoolKey, SSHExecutor] = {}
        self._lock = threading.Lock()
        self._platform_key: tuple[tuple[str, int], paramiko.PKey, str] | None = None
        self._reaper: threading.Thread | None = None
        self._wake = threading.Event()

    def __call__(self, computing: Computing, owner: str | None) -> SSHExecutor:
        from rosetta_ssh.executor import SSHExecutor

        target = SSHTarget.from_computing(computing)
        if target.auth is Auth.PLATFORM_KEYS:
            assert target.account is not None  # from_computing requires it
            login = target.account
            key, fingerprint = self._platform_credentials(target)
        else:
            login, key, fingerprint = self._user_credentials(target, owner)
        pool_key = (target.computing, target.host, target.port, login, fingerprint)
        with self._lock:
            executor = self._executors.get(pool_key)
            if executor is None:
                kernel = self.kernel
                executor = SSHExecutor(
                    target,
                    login=login,
                    key=key,
                    key_fingerprint=fingerprint,
                    host_keys=lambda: kernel.store.host_keys(target.computing),
                    options=self.options,
                    on_connect=self._connected,
                )
                self._executors[pool_key] = executor
            return executor

    def scan_host_keys(self, computing: Computing) -> list[HostKey]:
        """The host keys the server of ``computing`` offers (connecting without logging in), one
        per algorithm among ssh-ed25519, ecdsa-sha2-nistp256/384/521 and rsa-sha2-512 (recorded
        as ``ssh-rsa``). Trust them with ``kernel.store.trust_host_keys``.

        Raises :class:`~rosetta_core.errors.BackendUnavailable` when the host cannot be reached.
        """
        from rosetta_ssh.connection import scan_host_keys

        return scan_host_keys(SSHTarget.from_computing(computing), self.options)

    def executors(self) -> list[SSHExecutor]:
        """Every executor made so far."""
        with self._lock:
            return list(self._executors.values())

    def close(self) -> None:
        """Close every pooled connection and stop the idle reaper; the factory stays usable."""
        for executor in self.executors():
            executor.close()
        self._wake.set()

    # ---------------------------------------------------------------- credentials

    def _user_credentials(
        self, target: SSHTarget, owner: str | None
    ) -> tuple[str, Callable[[], paramiko.PKey], str]:
        from rosetta_ssh.keys import KEY_NAME, load_private_key, public_key_fingerprint, user_key_pair

        if owner is None:
            raise AccountRequired(
                f"computing {target.computing!r} is reached with each user's own account and key "
                "(auth = 'user_keys'): name the user to act for"
            )
        login = self.kernel.store.account(owner, target.computing) or owner
        if not ACCOUNT_RE.match(login):
            raise AccountRequired(
                f"user {owner!r} has set no account for computing {target.computing!r} and the user "
                "name is not a valid account name there: set the account to use"
            )
        pair = user_key_pair(self.kernel, owner)
        if pair is None:
            raise AuthenticationFailed(
                f"user {owner!r} has no SSH key pair (named {KEY_NAME!r}), so {target.where} cannot "
                f"be reached as {login!r}"
            )
        kernel, path = self.kernel, pair.private_key_path
        return login, lambda: load_private_key(path, kernel.secret), public_key_fingerprint(pair.public_key)

    def _platform_credentials(self, target: SSHTarget) -> tuple[Callable[[], paramiko.PKey], str]:
        from rosetta_ssh.keys import load_private_key

        path = self.options.platform_key_path
        if not path:
            raise AuthenticationFailed(
                f"computing {target.computing!r} uses auth = 'platform_keys' but [plugin.ssh] "
                "platform_key names no private key file"
            )
        try:
            info = os.stat(path)
        except OSError as exc:
            raise AuthenticationFailed(f"cannot read the platform key {path}: {exc.strerror}") from exc
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            # as ssh does: a key others may read is no longer the platform's alone
            raise AuthenticationFailed(
                f"the platform key {path} is readable by others (mode {mode:o}): chmod 600 it"
            )
        version = (path, info.st_mtime_ns)
        with self._lock:
            cached = self._platform_key
        if cached is None or cached[0] != version:
            key = load_private_key(path, self.kernel.secret)
            cached = (version, key, ssh_fingerprint(key.get_base64()))
            with self._lock:
                self._platform_key = cached
        loaded = cached[1]
        return (lambda: loaded), cached[2]

    # ---------------------------------------------------------------- idle reaper

    def _connected(self) -> None:
        """An executor opened a connection: make sure the reaper watches it."""
        with self._lock:
            if self._reaper is None or not self._reaper.is_alive():
                self._wake.clear()
                self._reaper = threading.Thread(target=self._reap, name="rosetta-ssh-idle", daemon=True)
                self._reaper.start()

    def _reap(self) -> None:
        """Close connections unused for ``idle_close`` seconds; end when none is open."""
        while True:
            waits = [w for e in self.executors() if (w := e.close_if_idle(time.monotonic())) is not None]
            if not waits:
                with self._lock:
                    # an executor that connected meanwhile saw this thread alive: look again
                    if not any(e.connected for e in self._executors.values()):
                        self._reaper = None
                        return
                continue
            if self._wake.wait(min(waits) + 0.05):
                self._wake.clear()
