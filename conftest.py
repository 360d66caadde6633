"""Checks that hold for the whole test session, the plugins' tests included.

After the session, no container the tests started may be left on Podman or Docker (found by the
platform's ``rosetta.managed`` label), nor a Singularity scratch directory in its default place.
What existed before the session (a developer's own running platform) is not counted.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SINGULARITY_SCRATCH = Path("/tmp/rosetta-singularity")  # noqa: S108 - the plugin's default


def platform_leftovers() -> set[str]:
    """Every platform container and scratch directory on this machine, as ``engine:name``."""
    found: set[str] = set()
    for engine in ("podman", "docker"):
        if shutil.which(engine) is None:
            continue
        try:
            done = subprocess.run(
                [engine, "ps", "-a", "--filter", "label=rosetta.managed=1", "--format", "{{.Names}}"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except subprocess.TimeoutExpired:
            continue
        if done.returncode == 0:  # a daemon that is down has nothing left over
            found.update(f"{engine}:{name}" for name in done.stdout.split())
    if SINGULARITY_SCRATCH.is_dir():
        found.update(f"singularity:{p.name}" for p in SINGULARITY_SCRATCH.iterdir())
    return found


_BEFORE = pytest.StashKey[set[str]]()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_BEFORE] = platform_leftovers()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    left = platform_leftovers() - session.config.stash.get(_BEFORE, set())
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = "tests left platform containers or scratch behind: " + ", ".join(sorted(left))
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
