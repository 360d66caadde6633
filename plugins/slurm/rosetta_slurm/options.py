"""The ``[plugin.slurm]`` section of the site configuration."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import attrs

from rosetta_core.validators import FieldError

MAX_TIMEOUT = 600.0
# a folder sbatch can take on an #SBATCH line: no blank (sbatch splits the line there), no '%'
# (a file name pattern to Slurm), no control character, no leading '-' or '~' (never expanded)
JOB_DIR_RE = re.compile(r"^(?![-~])[A-Za-z0-9._/@+,=-]{1,1024}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _program(*, optional: bool = False) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """A program name on the resource's ``PATH`` or a path to it (``""`` allowed when ``optional``)."""

    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str):
            raise FieldError(attribute.name, "must be a program name or path")
        if optional and value == "":
            return
        if not value.strip() or _CONTROL.search(value) or value.startswith("-"):
            raise FieldError(
                attribute.name,
                "must be a program name or path, without control characters or a leading '-'",
            )

    return check


def _job_dir(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not JOB_DIR_RE.fullmatch(value):
        raise FieldError(
            attribute.name,
            f"{str(value)[:80]!r} must be a folder path of letters, digits and . _ / @ + , = - "
            "(no blank, '%' or '~'; not starting with '-')",
        )
    if any(part == ".." for part in value.split("/")):
        raise FieldError(attribute.name, f"{value[:80]!r} must not contain a '..' component")


def _timeout(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FieldError(attribute.name, "must be a number of seconds")
    if not 0 < value <= MAX_TIMEOUT:
        raise FieldError(attribute.name, f"must be more than 0 and at most {MAX_TIMEOUT:g} seconds")


@attrs.frozen(kw_only=True)
class SlurmOptions:
    """The ``[plugin.slurm]`` section.

    :ivar sbatch: the ``sbatch`` program on the computing resource (a name on its ``PATH`` or a
        path); likewise ``squeue`` and ``scancel``.
    :ivar sacct: the ``sacct`` program, asked about jobs the queue no longer shows; ``""`` when
        the cluster keeps no accounting (then a job that left the queue is reported gone).
    :ivar job_dir: the folder, on the computing resource, that jobs run in and write their output
        to (``<job_dir>/<job id>.log``); created (mode 0700) at each submission if missing. A
        relative path is under the home folder of the account the executor acts as (asked once
        per executor), with the local executor as over SSH.
    :ivar timeout: seconds any single Slurm command may take before Slurm counts as unreachable.
    """

    sbatch: str = attrs.field(default="sbatch", validator=_program())
    squeue: str = attrs.field(default="squeue", validator=_program())
    sacct: str = attrs.field(default="sacct", validator=_program(optional=True))
    scancel: str = attrs.field(default="scancel", validator=_program())
    job_dir: str = attrs.field(default=".rosetta/jobs", validator=_job_dir)
    timeout: float = attrs.field(default=30.0, validator=_timeout)
