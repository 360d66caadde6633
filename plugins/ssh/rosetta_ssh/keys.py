"""Users' key pairs: made when a user is created, kept encrypted with the platform secret.

Each user gets one Ed25519 key pair named ``default``. The private key is written in OpenSSH's
format, encrypted with the platform secret (bcrypt-derived AES, as ``ssh-keygen -N`` does), to
``<keys_dir>/<user>_ed25519`` with mode 0600 in a 0700 folder; the store keeps the public line
(``ssh-ed25519 AAAA... rosetta:<user>``) and the file's path. ``ssh-keygen -y -P "$(cat secret)"``
reads the file too.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from rosetta_core.errors import AuthenticationFailed, ConflictError
from rosetta_core.model import KeyPair, User
from rosetta_core.users import key_pairs
from rosetta_core.validators import BASE64_RE, ssh_fingerprint

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel

KEY_NAME = "default"
"""The name of the key pair the SSH executor uses for a user."""

KEY_COMMENT = "rosetta:{user}"


def generate_key_pair(kernel: Kernel, user: User) -> KeyPair:
    """Make ``user``'s ``default`` key pair: write the encrypted private key, store the record.

    The file is written under a temporary name and renamed into place only once the record is
    stored, so a refused record (the user has a ``default`` key pair already) leaves any existing
    file alone. Raises :class:`ConflictError` in that case.
    """
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.BestAvailableEncryption(kernel.secret.encode()),
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    folder = Path(os.path.abspath(kernel.config.keys_path))
    _make_private_folder(folder)
    path = folder / f"{user.name}_ed25519"
    tmp = _write_private_file(folder, f".{path.name}.{secrets.token_hex(6)}", pem)
    pair = KeyPair(
        owner=user.name,
        name=KEY_NAME,
        public_key=f"{public.decode()} {KEY_COMMENT.format(user=user.name)}",
        private_key_path=str(path),
    )
    try:
        try:
            kernel.store.add(pair)
        except ConflictError:
            raise ConflictError(f"user {user.name!r} already has a key pair named {KEY_NAME!r}") from None
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_folder(folder)
    return pair


def user_key_pair(kernel: Kernel, owner: str) -> KeyPair | None:
    """``owner``'s ``default`` key pair, or ``None``."""
    return next((k for k in key_pairs(kernel, owner) if k.name == KEY_NAME), None)


def public_key_fingerprint(public_key: str) -> str:
    """The ``SHA256:...`` fingerprint of an OpenSSH public key line (``type base64 [comment]``)."""
    parts = public_key.split()
    if len(parts) < 2 or not BASE64_RE.match(parts[1]):
        raise AuthenticationFailed(f"{public_key[:40]!r}... is not an OpenSSH public key line")
    return ssh_fingerprint(parts[1])


def load_private_key(path: str | os.PathLike[str], password: str | None) -> paramiko.PKey:
    """The private key in the OpenSSH or PEM file ``path``, decrypted with ``password`` if it is
    encrypted (an unencrypted file is read as it is).

    Raises :class:`AuthenticationFailed` when the file cannot be read, is not a private key, or
    ``password`` does not decrypt it (the message names the file, never the password).
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AuthenticationFailed(f"cannot read the private key {path}: {exc.strerror}") from exc
    secret = password.encode() if password is not None else None
    try:
        loaded = _load(data, None)
    except TypeError:  # encrypted
        if secret is None:
            raise AuthenticationFailed(
                f"the private key {path} is encrypted and no password was given"
            ) from None
        try:
            loaded = _load(data, secret)
        except (TypeError, ValueError):
            raise AuthenticationFailed(
                f"the private key {path} cannot be decrypted with the platform secret"
            ) from None
    except ValueError:
        raise AuthenticationFailed(f"{path} is not an OpenSSH or PEM private key") from None
    return _to_paramiko(loaded, path)


def _load(data: bytes, password: bytes | None) -> object:
    try:
        return serialization.load_ssh_private_key(data, password)
    except ValueError:
        if b"BEGIN OPENSSH PRIVATE KEY" in data:
            raise
        return serialization.load_pem_private_key(data, password)


def _to_paramiko(loaded: object, path: str | os.PathLike[str]) -> paramiko.PKey:
    key_class: type[paramiko.PKey]
    if isinstance(loaded, ed25519.Ed25519PrivateKey):
        key_class = paramiko.Ed25519Key
    elif isinstance(loaded, ec.EllipticCurvePrivateKey):
        key_class = paramiko.ECDSAKey
    elif isinstance(loaded, rsa.RSAPrivateKey):
        key_class = paramiko.RSAKey
    else:
        raise AuthenticationFailed(f"the private key {path} is of a type SSH logins cannot use")
    # re-encoded unencrypted in memory only: paramiko would run the slow key derivation again
    plain = loaded.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    return key_class.from_private_key(io.StringIO(plain.decode()))


def _make_private_folder(folder: Path) -> None:
    """Create ``folder`` (and missing parents) with mode 0700; never loosen an existing one."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for part in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made by a concurrent call meanwhile
            os.mkdir(part, 0o700)


def _write_private_file(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    # O_EXCL: never write through a file or link someone placed there
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)  # exactly 0600 whatever the umask
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _sync_folder(folder: Path) -> None:
    # the rename is durable only once the folder itself is synced
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
