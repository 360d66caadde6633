"""The platform secret: made once, 0600, shared by processes starting together."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rosetta_core.errors import ConfigError
from rosetta_core.kernel import Kernel
from rosetta_core.platform_secret import load_or_create_secret


def test_made_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "secret"
    first = load_or_create_secret(path)
    assert len(first) == 64 and int(first, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == first


def test_a_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    load_or_create_secret(path)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_or_create_secret(path)


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.touch(mode=0o600)
    with pytest.raises(ConfigError, match="empty"):
        load_or_create_secret(path)


def test_processes_starting_together_agree(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    code = "import sys, pathlib; from rosetta_core.platform_secret import load_or_create_secret as l; "
    code += "print(l(pathlib.Path(sys.argv[1])))"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(outputs) == 1 and all(p.returncode == 0 for p in procs)


def test_the_kernel_keeps_it_next_to_the_store(rosetta_kernel: Kernel) -> None:
    assert rosetta_kernel.secret == load_or_create_secret(rosetta_kernel.config.secret_path)
    assert rosetta_kernel.config.secret_path.parent == rosetta_kernel.config.store_path.parent
    assert rosetta_kernel.config.keys_path.name == "keys"
