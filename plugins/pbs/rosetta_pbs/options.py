"""The ``[plugin.pbs]`` section of the site configuration: :class:`PBSOptions`."""

from __future__ import annotations

import math
import re
from typing import Any

import attrs

from rosetta_core.validators import FieldError

PBSPRO = "pbspro"
TORQUE = "torque"
DIALECTS = (PBSPRO, TORQUE)
"""``pbspro`` covers PBS Professional and OpenPBS; ``torque`` covers Torque (and the Torque-style
wrappers some other schedulers ship)."""

JSON, FULL, TABLE = "json", "full", "table"
QSTAT_FORMATS = (JSON, FULL, TABLE)

NAME_LIMITS = {PBSPRO: 236, TORQUE: 15}
"""The longest job name each dialect is sure to accept: PBS Pro and OpenPBS take 236 characters,
Torque 2.x (and POSIX ``qsub``) only 15."""
MIN_NAME_LENGTH = 15

# a program name or path: no whitespace, no leading '-' (it would read as an option)
_PROGRAM = re.compile(r"^[A-Za-z0-9._/+][A-Za-z0-9._/+-]{0,1023}$")
# relative or absolute; no '..' component, no '~', only characters that need no quoting anywhere
# (some qsub front ends splice paths into a shell command line)
SAFE_PATH = re.compile(r"^(?!.*(^|/)\.\.(/|$))/?[A-Za-z0-9._+@,=][A-Za-z0-9._/+@,=-]{0,1023}$")


def _program(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not _PROGRAM.match(value):
        raise FieldError(attribute.name, "must be a program name or path (no spaces, no leading '-')")


def _job_dir(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not SAFE_PATH.match(value):
        raise FieldError(
            attribute.name,
            "must be a folder path of letters, digits and . _ / + @ , = - (absolute, or relative to "
            "the account's home folder), without '..' or '~'",
        )


def _choice(choices: tuple[str, ...]) -> Any:
    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str) or value not in choices:
            raise FieldError(attribute.name, f"{value!r} is not one of {', '.join(map(repr, choices))}")

    return check


def _qstat_format(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    _choice(QSTAT_FORMATS)(inst, attribute, value)
    # attrs runs validators once every field is set, so the dialect can be read here
    if value == JSON and inst.dialect != PBSPRO:
        raise FieldError(attribute.name, "'json' needs the 'pbspro' dialect (Torque's qstat has no JSON)")


def _timeout(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        raise FieldError(attribute.name, "must be a number of seconds, more than 0 and at most 3600")
    if not math.isfinite(value):
        raise FieldError(attribute.name, "must be a finite number of seconds")


def _bool(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise FieldError(attribute.name, "must be true or false")


def _name_length(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    top = max(NAME_LIMITS.values())
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(attribute.name, "must be a whole number")
    if value != 0 and not MIN_NAME_LENGTH <= value <= top:
        raise FieldError(
            attribute.name, f"must be 0 (the dialect's limit) or between {MIN_NAME_LENGTH} and {top}"
        )


@attrs.frozen(kw_only=True)
class PBSOptions:
    """The ``[plugin.pbs]`` section.

    :ivar qsub: the ``qsub`` program on the computing resource (a name on its ``PATH`` or a path);
        likewise ``qstat`` and ``qdel``.
    :ivar job_dir: the folder holding each job's script and output file. A relative path is taken
        from the home folder of the account the executor acts as (never from a working
        directory: the SSH executor starts in the home folder, the local one wherever the platform
        runs); the plugin asks the resource for that home folder. Created with mode 0700.
    :ivar dialect: ``pbspro`` (PBS Professional, OpenPBS: ``-l select=...``, ``qstat -x``) or
        ``torque`` (``-l nodes=1:ppn=N``, no job history option).
    :ivar qstat_format: how job states are read: ``full`` (``qstat -f``, the default: every
        dialect has it), ``json`` (``qstat -f -F json``, in PBS Pro and OpenPBS releases that have
        it) or ``table`` (the one-line-per-job listing: no exit status, no host).
    :ivar timeout: seconds each ``qsub``, ``qstat`` or ``qdel`` may take; a scheduler that does not
        answer in time is unavailable (its tasks become ``unknown``, never ``failed``).
    :ivar absent_is_gone: also count a job as gone when ``qstat``, asked for it by id, answered
        cleanly without listing it. Real PBS Pro, OpenPBS and Torque always say ``Unknown Job Id``
        for a job they do not know, so leave this off for them; Torque-style wrappers over other
        schedulers answer by silence, and need it on.
    :ivar name_length: the longest job name the server accepts; ``0`` means the dialect's limit
        (236 for ``pbspro``, 15 for ``torque``). A longer task handle is shortened (see
        :func:`rosetta_pbs.script.job_name`).
    """

    qsub: str = attrs.field(default="qsub", validator=_program)
    qstat: str = attrs.field(default="qstat", validator=_program)
    qdel: str = attrs.field(default="qdel", validator=_program)
    job_dir: str = attrs.field(default=".rosetta/jobs", validator=_job_dir)
    dialect: str = attrs.field(default=PBSPRO, validator=_choice(DIALECTS))
    qstat_format: str = attrs.field(default=FULL, validator=_qstat_format)
    timeout: float = attrs.field(default=30.0, validator=_timeout)
    absent_is_gone: bool = attrs.field(default=False, validator=_bool)
    name_length: int = attrs.field(default=0, validator=_name_length)

    @property
    def name_limit(self) -> int:
        """The job name length in force: ``name_length``, or the dialect's limit."""
        return self.name_length or NAME_LIMITS[self.dialect]
