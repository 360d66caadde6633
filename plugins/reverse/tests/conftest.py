"""Fixtures of the reverse tunnel's tests.

- ``python36``: a Python 3.6 interpreter (the oldest the node side supports), or ``None``:
  ``$ROSETTA_PYTHON36``, else ``python3.6`` on the PATH or one installed by pyenv, if it runs.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

import pytest


@pytest.fixture(scope="session")
def python36() -> str | None:
    pyenv = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.6.*/bin/python3.6")))
    for candidate in (os.environ.get("ROSETTA_PYTHON36"), shutil.which("python3.6"), *pyenv):
        if candidate:
            done = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2])"],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode == 0 and done.stdout.strip() == "(3, 6)":
                return candidate
    return None
