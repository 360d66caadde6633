"""What the project's testbed (``testbed/setup.sh``) provides, as tests ask for it.

The testbed writes ``/var/lib/testbed/testbed.env`` (``KEY=value`` lines). :func:`unprivileged_account`
names its unprivileged account, the one that logs in over SSH and submits batch jobs.
"""

from __future__ import annotations

import pwd
from pathlib import Path

TESTBED_ENV = Path("/var/lib/testbed/testbed.env")


def env_value(key: str, env: Path | None = None) -> str | None:
    """The value of ``key`` in the testbed's env file, or ``None`` (no file, no such key)."""
    try:
        lines = (env or TESTBED_ENV).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, sep, value = line.partition("=")
        if sep and name.strip() == key:
            return value.strip().strip("\"'")
    return None


def unprivileged_account(env: Path | None = None) -> str | None:
    """The testbed's unprivileged account (``TESTBED_USER``), if it names one that exists."""
    name = env_value("TESTBED_USER", env)
    if not name:
        return None
    try:
        pwd.getpwnam(name)
    except KeyError:
        return None
    return name
