"""The batch script a task runs as, built from its spec and its engine's argv (pure).

Layout (every ``#SBATCH`` line comes before the first command, where sbatch stops reading them)::

    #!/bin/bash
    #SBATCH --job-name=<spec.name>
    #SBATCH --chdir=<job_dir>
    #SBATCH --output=%j.log
    #SBATCH --cpus-per-task=<cpus>           only the resources the spec sets
    #SBATCH --mem=<memory_mb>M
    #SBATCH --partition=<partition>
    #SBATCH --time=<walltime_minutes>
    #SBATCH --gres=gpu:<gpus>
    #SBATCH --account=<account>
    #SBATCH <directive>                      each of spec.resources.directives

    exec <engine argv, each entry quoted with shlex.join>

``job_dir`` is written as configured; for a relative one, submission gives sbatch the absolute
folder (under the account's home) with ``--chdir`` on its command line, which takes precedence.
The output file is named relative to the working folder, so it lands in the job folder either way.

Every value on a ``#SBATCH`` line is checked here or refused with
:class:`~rosetta_core.errors.BackendError`, so no value can start a line of its own. The job's
process is the engine argv itself (``exec``): no trap, no wrapper; signals reach it directly.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Sequence

from rosetta_core.engines import Resources, TaskSpec
from rosetta_core.errors import BackendError
from rosetta_slurm.options import JOB_DIR_RE

SHEBANG = "#!/bin/bash"
LOG_NAME = "%j.log"
"""The output file, relative to the job's working folder: Slurm puts the job id for ``%j``."""

_SLURM_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
JOB_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
PARTITION_RE = re.compile(rf"^{_SLURM_NAME}(?:,{_SLURM_NAME}){{0,15}}$")
"""One partition, or a comma-separated list of them (Slurm runs the job on the first that can)."""
ACCOUNT_RE = re.compile(rf"^{_SLURM_NAME}$")
DIRECTIVE_RE = re.compile(r"^--[a-z][a-z0-9-]{0,63}(?:=[A-Za-z0-9._,:=/@+%\[\]-]{1,400})?$")
"""An extra directive: ``--name`` or ``--name=value``, the value made of letters, digits and
``. _ , : = / @ + % - [ ]`` (hostlists such as ``node[01-04]``)."""
RESERVED_OPTIONS = (
    "array",
    "chdir",
    "error",
    "gid",
    "input",
    "job-name",
    "output",
    "parsable",
    "test-only",
    "uid",
    "wait",
    "wrap",
)
"""sbatch options a directive may not set: the plugin finds jobs by name and logs by path, and
reads sbatch's answer as one job id. sbatch takes any unambiguous prefix of an option name
(``--out`` for ``--output``), so a prefix of one of these is refused too."""
MAX_COUNT = 1_000_000_000


def log_path(job_dir: str, job_id: str) -> str:
    """Where the job ``job_id`` writes its output, given the job folder."""
    return posixpath.join(job_dir, LOG_NAME.replace("%j", job_id))


def check_directive(text: str) -> str:
    """Return ``text`` if it may follow ``#SBATCH``; else raise :class:`BackendError` naming it."""
    if not isinstance(text, str) or not DIRECTIVE_RE.fullmatch(text):
        raise BackendError(
            f"scheduler directive {str(text)[:120]!r} is refused: a directive must look like "
            "--name or --name=value, the value made of letters, digits and . _ , : = / @ + % - [ ]"
        )
    name = text[2:].partition("=")[0]
    reserved = [option for option in RESERVED_OPTIONS if option.startswith(name)]
    if reserved:
        raise BackendError(
            f"scheduler directive {text[:120]!r} is refused: --{reserved[0]} is set by the platform"
        )
    return text


def _count(what: str, value: object, *, low: int) -> int:
    # bool is an int subclass: True CPUs is a mistake, not 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_COUNT:
        raise BackendError(f"{what} {value!r} is refused: it must be a whole number of at least {low}")
    return value


def _matching(what: str, value: object, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise BackendError(
            f"{what} {str(value)[:120]!r} is refused: use letters, digits, '_', '.' and '-' only"
        )
    return value


def resource_directives(resources: Resources) -> list[str]:
    """The ``#SBATCH`` option texts for ``resources``, each checked (see the module docstring)."""
    found: list[str] = []
    r = resources
    if r.cpus is not None:
        found.append(f"--cpus-per-task={_count('cpus', r.cpus, low=1)}")
    if r.memory_mb is not None:
        found.append(f"--mem={_count('memory_mb', r.memory_mb, low=1)}M")
    if r.partition is not None:
        found.append(f"--partition={_matching('partition', r.partition, PARTITION_RE)}")
    if r.walltime_minutes is not None:
        found.append(f"--time={_count('walltime_minutes', r.walltime_minutes, low=1)}")
    if r.gpus is not None and _count("gpus", r.gpus, low=0) > 0:
        found.append(f"--gres=gpu:{r.gpus}")
    if r.account is not None:
        found.append(f"--account={_matching('scheduler account', r.account, ACCOUNT_RE)}")
    found.extend(check_directive(d) for d in r.directives)
    return found


def exec_line(argv: Sequence[str]) -> str:
    """``exec`` and ``argv`` quoted for bash; refuses an empty argv or a NUL byte."""
    if isinstance(argv, str) or not argv:
        raise BackendError("the command to run must be a non-empty list of arguments")
    for arg in argv:
        if not isinstance(arg, str) or "\x00" in arg:
            raise BackendError(f"argument {arg!r:.80} is refused: arguments are text without NUL bytes")
    return f"exec {shlex.join(argv)}"


def render_script(spec: TaskSpec, argv: Sequence[str], *, job_dir: str) -> str:
    """The batch script running ``argv`` for ``spec`` (pure: the same input, the same text).

    Raises :class:`BackendError` naming the first value that cannot go in a script: a job name,
    partition or account outside the safe characters, a count that is not a positive whole
    number, a directive outside :data:`DIRECTIVE_RE` or setting a reserved option, a ``job_dir``
    outside :data:`~rosetta_slurm.options.JOB_DIR_RE`, an empty argv or one with a NUL byte.
    """
    name = _matching("job name", spec.name, JOB_NAME_RE)
    if not JOB_DIR_RE.fullmatch(job_dir):
        raise BackendError(f"job folder {job_dir[:120]!r} is refused: see the plugin's job_dir option")
    options = [
        f"--job-name={name}",
        f"--chdir={job_dir}",
        # relative to --chdir: the file lands in job_dir
        f"--output={LOG_NAME}",
        *resource_directives(spec.resources),
    ]
    lines = [SHEBANG, *(f"#SBATCH {option}" for option in options), "", exec_line(argv)]
    return "\n".join(lines) + "\n"
