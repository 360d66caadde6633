"""The platform secret: one random value per platform instance, kept in a 0600 file.

Plugins derive what they need from it (the SSH plugin encrypts users' private keys with it). Losing
the file makes those unreadable, so it is made once and never rewritten.
"""

from __future__ import annotations

import os
import secrets
import stat
import time
from pathlib import Path

from rosetta_core.errors import ConfigError

SECRET_BYTES = 32


def load_or_create_secret(path: Path) -> str:
    """The secret in ``path``, made (64 hex digits, mode 0600) when the file does not exist.

    Two processes starting together get the same secret: the file is created exclusively and the
    loser reads the winner's. Raises :class:`ConfigError` for a file that other users may read or
    that holds no secret.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    value = secrets.token_hex(SECRET_BYTES)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return value


def _read(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"the platform secret {path} is readable by others (mode {mode:o}): chmod 600 it")
    for _ in range(50):
        value = path.read_text(encoding="ascii").strip()
        if value:
            break
        time.sleep(0.02)  # the process that just created the file may not have written it yet
    if len(value) < 32:
        raise ConfigError(f"the platform secret {path} is empty or too short")
    return value
