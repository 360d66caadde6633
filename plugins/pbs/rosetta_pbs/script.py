"""The batch script: ``#PBS`` directives, then ``cd`` to the job folder and ``exec`` the argv.

:func:`render_script` is pure and deterministic. Every value written on a directive line is checked
against a narrow character set first, so no value can end the line, start another directive or
reach a shell; anything else raises :class:`~rosetta_core.errors.BackendError` naming it.

The body ``exec``\\ s the argv (the in-job agent, or an engine's foreground command): the job's
process is then that program, which receives the scheduler's signals itself. The script sets no
traps.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import shlex
from collections.abc import Sequence

from rosetta_core.engines import HANDLE_PREFIX, Resources, TaskSpec
from rosetta_core.errors import BackendError
from rosetta_pbs.options import PBSPRO, TORQUE, PBSOptions

SHELL = "/bin/bash"

# job names: what the platform gives (rosetta-<32 hex>) is well inside this
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,235}$")
_HEX = re.compile(r"^[0-9a-f]+$")
# a queue, optionally at a server (PBS's "queue@server" destination)
_QUEUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}(@[A-Za-z0-9][A-Za-z0-9.-]{0,252})?$")
_ACCOUNT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._@+-]{0,63}$")
# the value of a resource or attribute: no blank, quote, '$', '#', ';' or anything a shell or the
# directive parser would read
_VALUE = r"[A-Za-z0-9._:+,@/=-]{1,256}"
_RESOURCE = re.compile(rf"^-l ([A-Za-z][A-Za-z0-9_.]{{0,62}})=({_VALUE})$")
_ATTRIBUTE = re.compile(rf"^-W ([A-Za-z][A-Za-z0-9_]{{0,62}})=({_VALUE})$")
ALLOWED_ATTRIBUTES = frozenset({"group_list", "umask", "depend", "sandbox", "x"})
"""``-W`` attributes a directive may set. Not ``block`` (``qsub`` would wait for the job's end) nor
``stagein``/``stageout`` (file copies to other hosts)."""
_OTHER = {
    "-p": re.compile(r"^-p (-?[0-9]{1,4})$"),  # priority
    "-r": re.compile(r"^-r ([yn])$"),  # rerunnable
    "-m": re.compile(r"^-m ([abefjn]{1,5})$"),  # mail points
}
# PBS Pro's project; Torque's -P names a proxy user instead, so only the pbspro dialect takes it
_PROJECT = re.compile(r"^-P ([A-Za-z0-9_][A-Za-z0-9._@+-]{0,63})$")


def job_name(name: str, limit: int) -> str:
    """The PBS job name for the task handle ``name`` on a server taking ``limit`` characters.

    A name that fits, and starts with a letter, is used as it is. Otherwise the name is ``r``
    followed by the first ``limit - 1`` hex digits of the task id (for a platform handle,
    ``rosetta-<hex>``, so ``qstat`` still shows which task a job is) or of the name's SHA-256
    (anything else). With ``limit`` at least 15 that is 56 bits: handles do not collide.
    """
    if len(name) <= limit and name[:1].isalpha():
        return name
    rest = name.removeprefix(HANDLE_PREFIX)
    digits = rest if rest != name and _HEX.match(rest) else hashlib.sha256(name.encode()).hexdigest()
    return "r" + digits[: limit - 1]


def walltime(minutes: int) -> str:
    """``HH:MM:SS`` for a number of minutes (hours may exceed 99)."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def check_directive(text: str, dialect: str) -> str:
    """Return ``text`` (the words after ``#PBS``) when the allow-list admits it; raise
    :class:`BackendError` naming it otherwise.

    Admitted: ``-l resource=value``, ``-W attribute=value`` (attributes in
    :data:`ALLOWED_ATTRIBUTES`), ``-p priority``, ``-r y|n``, ``-m points`` and, for PBS Pro,
    ``-P project``; one space after the option, values of letters, digits and ``. _ : + , @ / = -``.
    """
    if not isinstance(text, str):
        raise BackendError(f"scheduler directive {text!r} is not text")
    attribute = _ATTRIBUTE.match(text)
    if attribute and attribute.group(1) not in ALLOWED_ATTRIBUTES:
        allowed = ", ".join(sorted(ALLOWED_ATTRIBUTES))
        raise BackendError(
            f"scheduler directive {text!r:.120} sets -W {attribute.group(1)}; allowed: {allowed}"
        )
    if attribute or _RESOURCE.match(text):
        return text
    if dialect == PBSPRO and _PROJECT.match(text):
        return text
    pattern = _OTHER.get(text[:2])
    if pattern is not None and pattern.match(text):
        return text
    raise BackendError(
        f"scheduler directive {text!r:.120} is not allowed: use '-l resource=value', "
        "'-W attribute=value', '-p', '-r', '-m'" + (" or '-P'" if dialect == PBSPRO else "")
    )


def resource_lines(resources: Resources, dialect: str) -> list[str]:
    """The ``-l`` directives for cpus, memory and gpus in ``dialect``'s syntax (none when unset)."""
    cpus, mem, gpus = resources.cpus, resources.memory_mb, resources.gpus or None
    for label, value in (("cpus", cpus), ("memory_mb", mem), ("gpus", gpus)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise BackendError(f"resource {label} must be a positive whole number, not {value!r}")
    if dialect == TORQUE:
        lines = []
        if cpus is not None or gpus is not None:
            chunk = "nodes=1" + (f":ppn={cpus}" if cpus else "") + (f":gpus={gpus}" if gpus else "")
            lines.append(f"-l {chunk}")
        if mem is not None:
            lines.append(f"-l mem={mem}mb")
        return lines
    parts = [f"ncpus={cpus}" if cpus else "", f"mem={mem}mb" if mem else "", f"ngpus={gpus}" if gpus else ""]
    chosen = [p for p in parts if p]
    return [f"-l select=1:{':'.join(chosen)}"] if chosen else []


def pbs_job_name(spec: TaskSpec, options: PBSOptions) -> str:
    """The job name of ``spec`` (:func:`job_name`), after checking the handle is one the platform
    gives: letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit."""
    if not isinstance(spec.name, str) or not _NAME.match(spec.name):
        raise BackendError(f"task handle {spec.name!r:.80} cannot be a PBS job name")
    return job_name(spec.name, options.name_limit)


def directive_lines(spec: TaskSpec, options: PBSOptions) -> list[str]:
    """Every directive of the script, without the ``#PBS`` prefix, in the order written."""
    res = spec.resources
    lines = ["-S " + SHELL, "-N " + pbs_job_name(spec, options)]
    if res.walltime_minutes is not None:
        minutes = res.walltime_minutes
        if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
            raise BackendError(f"walltime must be a positive number of minutes, not {minutes!r}")
        lines.append("-l walltime=" + walltime(minutes))
    lines += resource_lines(res, options.dialect)
    if res.partition is not None:
        if not isinstance(res.partition, str) or not _QUEUE.match(res.partition):
            raise BackendError(f"queue (partition) {res.partition!r:.80} is not a PBS queue name")
        lines.append("-q " + res.partition)
    if res.account is not None:
        if not isinstance(res.account, str) or not _ACCOUNT.match(res.account):
            raise BackendError(f"scheduler account {res.account!r:.80} has characters PBS cannot take")
        lines.append("-A " + res.account)
    lines += [check_directive(d, options.dialect) for d in res.directives]
    return lines


def render_script(spec: TaskSpec, argv: Sequence[str], options: PBSOptions) -> str:
    """The batch script running ``argv`` for ``spec`` (pure: same input, same text).

    Layout: ``#!/bin/bash``; the directives of :func:`directive_lines`; a comment naming the task
    handle (``spec.name``, which the ``-N`` line may carry shortened); ``cd`` to the job folder
    (``"$HOME"/<job_dir>`` for a relative one: the job's own home, as the plugin resolves it for
    ``qsub``); ``exec`` and ``argv`` joined with :func:`shlex.join`.
    """
    if isinstance(argv, str) or not argv:
        raise BackendError("the job's command must be a non-empty list of arguments")
    if any(not isinstance(arg, str) or "\x00" in arg for arg in argv):
        raise BackendError("the job's command has an argument that is not text, or holds a NUL byte")
    folder = posixpath.normpath(options.job_dir)
    target = shlex.quote(folder) if folder.startswith("/") else '"$HOME"/' + shlex.quote(folder)
    lines = ["#!" + SHELL]
    lines += ["#PBS " + line for line in directive_lines(spec, options)]
    lines += [
        f"# rosetta job {spec.name}",
        f"cd -- {target} || exit 1",
        "exec " + shlex.join(argv),
    ]
    return "\n".join(lines) + "\n"
