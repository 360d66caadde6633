"""Helpers for tests that drive a real PBS-style scheduler.

- :func:`unavailable_reason`: why real jobs cannot run here, or ``None``.
- :func:`wrapper_options`: options for the Torque-style wrappers of the project's testbed.

(A counting executor is :class:`rosetta_core.testing.counting.CountingExecutor`.)
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from rosetta_pbs.options import TORQUE, PBSOptions


def unavailable_reason(qsub: str = "qsub", qstat: str = "qstat") -> str | None:
    """Why ``qsub``/``qstat`` cannot run real jobs on this machine (``None`` when they can)."""
    if shutil.which(qsub) is None:
        return f"{qsub} is not installed (run testbed/setup.sh: its 'pbs' component)"
    try:
        done = subprocess.run([qstat], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{qstat} cannot be run: {exc}"
    if done.returncode not in (0, 153):  # 153: no job at all, for the wrappers
        return f"{qstat} does not answer (exit status {done.returncode}): {done.stderr.strip()[:200]}"
    return None


def wrapper_options(**overrides: Any) -> PBSOptions:
    """:class:`PBSOptions` for the testbed's wrappers (Slurm's ``slurm-wlm-torque``): Torque
    resource syntax and no ``qstat -x``, and an unknown id is answered by silence."""
    fields: dict[str, Any] = {"dialect": TORQUE, "absent_is_gone": True, **overrides}
    return PBSOptions(**fields)
