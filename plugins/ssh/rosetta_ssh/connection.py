"""Opening an SSH connection: TCP, handshake, strict host key check, public key login.

Every failure is translated at this boundary:

- the host cannot be reached (refused, timed out, reset, name not resolved):
  :class:`~rosetta_core.errors.BackendUnavailable` naming the computing resource and ``host:port``;
- the host key is not trusted, or the server offers no key of a trusted type:
  :class:`~rosetta_core.errors.HostKeyError` with the presented key's type and ``SHA256:``
  fingerprint and the command that trusts it; the connection is closed before anything runs;
- the server refuses the key: :class:`~rosetta_core.errors.AuthenticationFailed` naming the
  computing resource and the account.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence

import paramiko

from rosetta_core.errors import AuthenticationFailed, BackendUnavailable, ExecutorError, HostKeyError
from rosetta_core.model import HostKey
from rosetta_core.validators import ssh_fingerprint
from rosetta_ssh.options import SSHOptions
from rosetta_ssh.target import SSHTarget

SCAN_ALGORITHMS = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
)
"""The host key algorithms :func:`scan_host_keys` asks for, one connection each."""

# the signature algorithms a server may use to prove it holds a key of each trusted type
_ALGORITHMS_OF_TYPE = {
    "ssh-ed25519": ("ssh-ed25519",),
    "ecdsa-sha2-nistp256": ("ecdsa-sha2-nistp256",),
    "ecdsa-sha2-nistp384": ("ecdsa-sha2-nistp384",),
    "ecdsa-sha2-nistp521": ("ecdsa-sha2-nistp521",),
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256"),
}


def trust_command(target: SSHTarget) -> str:
    return f"rosetta computing trust {target.computing}"


def host_key_algorithms(key_types: Iterable[str]) -> tuple[str, ...]:
    """The host key algorithms to offer so the server presents a key of one of ``key_types``."""
    wanted = set(key_types)
    return tuple(a for t, algs in _ALGORITHMS_OF_TYPE.items() if t in wanted for a in algs)


def handshake(target: SSHTarget, algorithms: Sequence[str], options: SSHOptions) -> paramiko.Transport:
    """Connect and negotiate keys, offering only the host key ``algorithms``; nothing is verified.

    Raises :class:`HostKeyError` when the server has no key for any of ``algorithms``.
    """
    sock = _connect_socket(target, options)
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = options.connect_timeout
        transport.handshake_timeout = options.connect_timeout
        transport.auth_timeout = options.connect_timeout
        transport.get_security_options().key_types = tuple(algorithms)
        transport.start_client(timeout=options.connect_timeout)
    except paramiko.SSHException as exc:
        transport.close()
        if "no acceptable host key" in str(exc):
            raise HostKeyError(
                f"{target.where} offers no host key of the trusted types ({', '.join(algorithms)}); "
                f"if its keys changed, check them and run: {trust_command(target)}"
            ) from None
        if "Incompatible" in str(exc):
            raise ExecutorError(f"{target.where}: no SSH algorithms in common: {exc}") from None
        raise BackendUnavailable(f"{target.where}: the SSH handshake failed: {exc}") from exc
    except (EOFError, OSError) as exc:
        transport.close()
        raise BackendUnavailable(f"{target.where}: the SSH handshake failed: {_reason(exc)}") from exc
    try:
        # start_client returns quietly when its timeout passes before the key exchange ended
        transport.get_remote_server_key()
    except paramiko.SSHException:
        transport.close()
        raise BackendUnavailable(
            f"{target.where}: the SSH handshake did not finish within {options.connect_timeout:g} s"
        ) from None
    return transport


def presented_key(transport: paramiko.Transport) -> tuple[str, str]:
    """The server's host key as ``(key type, base64 blob)``, the form :class:`HostKey` keeps."""
    key = transport.get_remote_server_key()
    return key.get_name(), key.get_base64()


def verify_host_key(target: SSHTarget, transport: paramiko.Transport, trusted: Sequence[HostKey]) -> None:
    """Close ``transport`` and raise :class:`HostKeyError` unless its host key is in ``trusted``."""
    key_type, blob = presented_key(transport)
    if any(k.key_type == key_type and k.key == blob for k in trusted):
        return
    transport.close()
    shown = f"{key_type} {ssh_fingerprint(blob)}"
    if not trusted:
        why = f"unknown host key: no host key is trusted for {target.computing!r} yet"
    else:
        known = ", ".join(f"{k.key_type} {k.fingerprint}" for k in trusted)
        why = (
            f"it differs from the trusted host keys ({known}): "
            "the host or its keys changed, or this is not the same host"
        )
    raise HostKeyError(
        f"{target.where} presented the host key {shown}, which is not trusted: {why}; "
        f"check the fingerprint with the host's administrator, then run: {trust_command(target)}"
    )


def authenticate(target: SSHTarget, transport: paramiko.Transport, login: str, key: paramiko.PKey) -> None:
    """Log in as ``login`` with ``key``; close ``transport`` and raise if the server refuses."""
    try:
        transport.auth_publickey(login, key)
    except paramiko.AuthenticationException as exc:
        transport.close()
        raise AuthenticationFailed(
            f"{target.where} refused the account {login!r} with the key {ssh_fingerprint(key.get_base64())} "
            f"({exc}); check that the key is in the account's authorized_keys"
        ) from None
    except (paramiko.SSHException, EOFError, OSError) as exc:
        transport.close()
        raise BackendUnavailable(
            f"{target.where}: the connection was lost while logging in: {_reason(exc)}"
        ) from exc
    if not transport.is_authenticated():
        transport.close()
        raise AuthenticationFailed(
            f"{target.where} wants more than a key to log in the account {login!r} (e.g. a second factor)"
        )


def open_transport(
    target: SSHTarget,
    *,
    login: str,
    key: paramiko.PKey,
    trusted: Sequence[HostKey],
    options: SSHOptions,
) -> paramiko.Transport:
    """A connected, host-key-checked, authenticated transport with keep-alives on.

    With no trusted key at all, every algorithm is offered, so the error can show the key the
    server presents.
    """
    algorithms = host_key_algorithms(k.key_type for k in trusted) if trusted else SCAN_ALGORITHMS
    if not algorithms:
        types = ", ".join(sorted({k.key_type for k in trusted}))
        raise HostKeyError(
            f"{target.where}: no trusted host key is of a type this client can check ({types}); "
            f"run: {trust_command(target)}"
        )
    transport = handshake(target, algorithms, options)
    verify_host_key(target, transport, trusted)
    authenticate(target, transport, login, key)
    if options.keepalive:
        transport.set_keepalive(int(max(1, options.keepalive)))
    return transport


def scan_host_keys(target: SSHTarget, options: SSHOptions) -> list[HostKey]:
    """The host keys the server offers, one connection per algorithm in :data:`SCAN_ALGORITHMS`
    (an RSA key is recorded with the key type ``ssh-rsa``). Nothing is logged in.

    Raises :class:`BackendUnavailable` when the host cannot be reached and :class:`HostKeyError`
    when it offers none of those algorithms.
    """
    found: list[HostKey] = []
    for algorithm in SCAN_ALGORITHMS:
        try:
            transport = handshake(target, (algorithm,), options)
        except HostKeyError:
            continue
        try:
            key_type, blob = presented_key(transport)
        finally:
            transport.close()
        key = HostKey(computing=target.computing, key_type=key_type, key=blob)
        if all((k.key_type, k.key) != (key_type, blob) for k in found):
            found.append(key)
    if not found:
        raise HostKeyError(f"{target.where} offers none of the host key types {', '.join(SCAN_ALGORITHMS)}")
    return found


def _connect_socket(target: SSHTarget, options: SSHOptions) -> socket.socket:
    try:
        sock = socket.create_connection((target.host, target.port), timeout=options.connect_timeout)
    except OSError as exc:
        raise BackendUnavailable(f"{target.where}: cannot connect: {_reason(exc)}") from exc
    # the kernel notices a peer that vanished without a word (a host powered off)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    # SSH's small request/reply messages would otherwise wait out Nagle's delay (~40 ms each)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if options.keepalive and hasattr(socket, "TCP_USER_TIMEOUT"):
        # keep-alives left unacknowledged this long drop the connection (Linux): a host that
        # vanished is noticed in about a minute instead of the kernel's quarter of an hour
        limit = options.connect_timeout + 2 * options.keepalive
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(limit * 1000))
    return sock


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, EOFError):
        return "the server closed the connection"
    return str(exc) or type(exc).__name__
