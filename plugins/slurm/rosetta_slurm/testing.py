"""Helpers for tests that drive a real Slurm: is one there.

    reason = slurm_unavailable()        # None when sbatch exists and the controller answers

(The testbed's account and a counting executor are in :mod:`rosetta_core.testing`.)
"""

from __future__ import annotations

import shutil
import subprocess


def slurm_unavailable() -> str | None:
    """Why no real Slurm can be used on this machine, or ``None`` when it can."""
    if shutil.which("sbatch") is None:
        return "sbatch is not installed: no Slurm on this machine (run testbed/setup.sh as root)"
    try:
        done = subprocess.run(["sinfo", "--noheader"], capture_output=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"sinfo cannot be run: {exc}"
    if done.returncode != 0:
        return f"the Slurm controller does not answer: {done.stderr.decode(errors='replace').strip()}"
    return None
