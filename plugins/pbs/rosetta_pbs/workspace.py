"""Where a job's files live, per account: :class:`Workspaces`.

A relative ``job_dir`` is relative to the home folder of the account the executor acts as. The
plugin asks the resource once (``id -un``, then ``cd`` and ``pwd -P`` in ``sh``) and keeps the
answer per executor, so the paths handed to ``qsub`` and read back later are absolute whatever
directory a command starts in. The account name found on the way lets
:meth:`~rosetta_pbs.manager.PBSWorkloadManager.find_jobs` keep to that account's jobs.

Files of the job named ``N`` with id ``I``, in the job folder::

    N.pbs     the script handed to qsub (mode 0700)
    N.out     its output and error output (qsub -j oe -o)
    I.out     a symbolic link to N.out, made once qsub printed the id
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import threading
import weakref
from collections.abc import Callable

import attrs

from rosetta_core.errors import BackendError, BackendUnavailable
from rosetta_core.executors import CommandResult, Executor
from rosetta_pbs.options import SAFE_PATH

# both run in the account's login environment: no PBS variable is needed
_LOOKUP = "id -un && cd && pwd -P"
_PREPARE = _LOOKUP + ' && mkdir -p -m 700 -- "$1"'
_USER = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}\$?$")

Runner = Callable[[Executor, list[str]], CommandResult]


@attrs.frozen(kw_only=True)
class Workspace:
    """One account's job folder on one computing resource."""

    user: str
    directory: str

    def script(self, name: str) -> str:
        return f"{self.directory}/{name}.pbs"

    def output(self, name: str) -> str:
        return f"{self.directory}/{name}.out"

    def output_of_job(self, job_id: str) -> str:
        """The link to a job's output, named by its id."""
        return f"{self.directory}/{job_id}.out"


class Workspaces:
    """Finds (and at submission creates) each executor's :class:`Workspace`; thread-safe.

    :param job_dir: the configured folder (``PBSOptions.job_dir``).
    :param run: runs an argv through an executor, translating failures into
        :class:`BackendError` / :class:`BackendUnavailable` (the manager's runner).
    """

    def __init__(self, job_dir: str, run: Runner) -> None:
        self.job_dir = posixpath.normpath(job_dir)
        self._run = run
        self._lock = threading.Lock()
        self._known: weakref.WeakKeyDictionary[Executor, Workspace] = weakref.WeakKeyDictionary()

    def prepare(self, executor: Executor) -> Workspace:
        """Create the job folder (mode 0700) and return the workspace; one command, every call."""
        return self._ask(executor, ["sh", "-c", _PREPARE, "sh", self.job_dir])

    def get(self, executor: Executor) -> Workspace:
        """The workspace of ``executor``'s account: remembered, or asked for (one command)."""
        with self._lock:
            known = self._lookup(executor)
        return known if known is not None else self._ask(executor, ["sh", "-c", _LOOKUP, "sh"])

    def _lookup(self, executor: Executor) -> Workspace | None:
        try:
            return self._known.get(executor)
        except TypeError:  # an executor that cannot be weakly referenced is asked every time
            return None

    def _ask(self, executor: Executor, argv: list[str]) -> Workspace:
        result = self._run(executor, argv)
        if not result.ok:
            tail = (result.stderr or result.stdout).strip()[-500:]
            raise BackendError(
                f"cannot find or make the job folder {self.job_dir!r}: {tail or result.returncode}"
            )
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        if len(lines) != 2 or not _USER.match(lines[0]) or not lines[1].startswith("/"):
            raise BackendUnavailable(f"cannot tell the account and home folder from {result.stdout[:200]!r}")
        user, home = lines
        directory = self.job_dir if self.job_dir.startswith("/") else f"{home.rstrip('/')}/{self.job_dir}"
        directory = posixpath.normpath(directory)
        if not SAFE_PATH.match(directory):
            # qsub front ends may splice the path into a shell command line: refuse, do not quote
            raise BackendError(f"job folder {directory!r:.200} has characters qsub cannot take safely")
        workspace = Workspace(user=user, directory=directory)
        with self._lock, contextlib.suppress(TypeError):
            self._known[executor] = workspace
        return workspace
