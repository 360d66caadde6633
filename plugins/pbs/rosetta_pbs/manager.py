"""The workload manager named ``pbs``: :class:`PBSWorkloadManager`.

It acts only through the executor it is given (argv lists, never a shell string), so the same
code drives a PBS server from the platform's own machine or from a login node reached over SSH.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence

import attrs

from rosetta_core.engines import Observation, Observed, TaskSpec
from rosetta_core.errors import (
    BackendError,
    BackendUnavailable,
    CommandNotFound,
    CommandTimeout,
    ExecutorError,
)
from rosetta_core.executors import CommandResult, Executor
from rosetta_pbs.jobids import is_job_id, job_id_from_qsub
from rosetta_pbs.options import JSON, PBSPRO, TABLE, PBSOptions
from rosetta_pbs.qstat import (
    Listing,
    Messages,
    QstatOutputError,
    newest_first,
    parse_full,
    parse_json,
    parse_messages,
    parse_table,
)
from rosetta_pbs.script import job_name, pbs_job_name, render_script
from rosetta_pbs.states import FINISHED, observe
from rosetta_pbs.workspace import Workspace, Workspaces

log = logging.getLogger(__name__)

TAIL_LINES = 20
TAIL_CHARS = 2000
TAIL_BYTES = 16 * 1024
LOG_BYTES = 4 * 1024 * 1024
QSTAT_ANSWERED = frozenset({0, 35, 153})
"""``qstat`` exit statuses that still mean "the server answered": 153 is ``PBSE_UNKJOBID`` (an
unknown id among those asked), 35 ``PBSE_HISTJOBID`` (a finished job asked without ``-x``)."""

# words of qsub, qstat or qdel that mean the server could not be reached (not that it refused)
_UNREACHABLE = re.compile(
    r"cannot connect to server|connection refused|communication failure|connection timed out"
    r"|no route to host|unable to contact|temporarily unavailable|problem loading jobs"
    r"|pbs_connect|server is down|not responding",
    re.IGNORECASE,
)
# what qdel says of a job that has already ended or that the server no longer knows
_ALREADY_DONE = re.compile(
    r"Unknown Job Id|Job has finished|Invalid state for job - COMPLETE|already (?:completed|finished)",
    re.IGNORECASE,
)


def _words(result: CommandResult, limit: int = 1000) -> str:
    """A command's error output and output on one line, at most ``limit`` characters (the end)."""
    return " ".join(f"{result.stderr} {result.stdout}".split())[-limit:]


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() or ch in "\n\t" else "?" for ch in text)


def _last_lines(data: bytes, lines: int, *, cut: bool) -> str:
    """The last ``lines`` lines of ``data`` as they are; a first line cut by a partial read is
    dropped."""
    parts = data.decode(errors="replace").splitlines(keepends=True)
    if cut and parts:
        parts = parts[1:]
    return "".join(parts[-lines:]) if lines > 0 else ""


class PBSWorkloadManager:
    """A :class:`~rosetta_core.workload.WorkloadManager` for PBS Pro, OpenPBS and Torque.

    - :meth:`render_script` is pure (see :func:`rosetta_pbs.script.render_script`).
    - :meth:`submit` writes the script into the account's job folder and runs
      ``qsub -j oe -o <folder>/<name>.out [-k oed] <folder>/<name>.pbs``; it returns the id
      exactly as ``qsub`` printed it (``123.server``, or ``123`` from Torque-style wrappers).
      A refusal raises :class:`BackendError` with ``qsub``'s words; a server that cannot be
      reached, a timeout, or a success without a readable id raises :class:`BackendUnavailable`
      (the job may exist: the orchestrator then looks it up by name).
    - :meth:`query_many` runs ``qstat`` once for all the ids, whatever their number, and answers
      for each (see :mod:`rosetta_pbs.states`). ``GONE`` only when ``qstat`` says
      ``Unknown Job Id`` for it, or, with ``absent_is_gone``, when it answered cleanly without
      listing it. A ``qstat`` that fails raises :class:`BackendUnavailable`: no job is ended on a
      failed poll. A failed job's detail ends with the last lines of its output.
    - :meth:`find_jobs` lists the server's jobs once and maps names to ids, for jobs owned by the
      executor's account only.
    - :meth:`cancel` runs ``qdel``; a job already finished or unknown is not an error.
    - :meth:`logs` returns the end of the job's output file, ``""`` when there is none.
    """

    name = "pbs"

    def __init__(self, options: PBSOptions | None = None) -> None:
        self.options = options or PBSOptions()
        self._workspaces = Workspaces(self.options.job_dir, self._run)

    # ---------------------------------------------------------------- commands

    def _run(self, executor: Executor, argv: list[str], *, missing_is_final: bool = False) -> CommandResult:
        """Run ``argv``; a program that cannot be run or does not answer is
        :class:`BackendUnavailable` (or, with ``missing_is_final``, a missing program a
        :class:`BackendError`)."""
        program = argv[0]
        try:
            return executor.run(argv, timeout=self.options.timeout)
        except BackendUnavailable:
            raise
        except CommandNotFound as exc:
            if missing_is_final:
                raise BackendError(f"{program} is not installed on the computing resource ({exc})") from exc
            raise BackendUnavailable(f"{program} cannot be run ({exc})") from exc
        except CommandTimeout as exc:
            raise BackendUnavailable(f"{program} did not answer within {self.options.timeout:g} s") from exc
        except ExecutorError as exc:
            raise BackendUnavailable(f"cannot run {program}: {exc}") from exc

    def _qstat(self, executor: Executor, argv: list[str], answered: frozenset[int]) -> CommandResult:
        result = self._run(executor, argv)
        if result.returncode not in answered or _UNREACHABLE.search(result.stderr):
            raise BackendUnavailable(f"qstat failed (exit status {result.returncode}): {_words(result)}")
        return result

    def _parse(self, text: str, *, table: bool) -> Listing:
        try:
            if self.options.qstat_format == JSON:
                return parse_json(text)
        except QstatOutputError as exc:
            raise BackendUnavailable(f"{exc}; set qstat_format to 'full' if this persists") from exc
        return parse_table(text) if table else parse_full(text)

    # ---------------------------------------------------------------- the protocol

    def render_script(self, spec: TaskSpec, engine_argv: Sequence[str]) -> str:
        return render_script(spec, engine_argv, self.options)

    def submit(self, script: str, spec: TaskSpec, executor: Executor) -> str:
        name = pbs_job_name(spec, self.options)  # checked: it becomes part of paths and argv
        workspace = self._workspaces.prepare(executor)
        try:
            executor.put_file(workspace.script(name), script.encode(), mode=0o700)
        except BackendUnavailable:
            raise
        except ExecutorError as exc:
            raise BackendError(f"cannot write the job script {workspace.script(name)}: {exc}") from exc
        # -o/-e/-j on the command line: some front ends ignore them inside the script
        argv = [self.options.qsub, "-j", "oe", "-o", workspace.output(name)]
        if self.options.dialect == PBSPRO:
            argv += ["-k", "oed"]  # write the output in place as the job runs, not at its end
        argv.append(workspace.script(name))
        result = self._run(executor, argv, missing_is_final=True)
        if not result.ok:
            if _UNREACHABLE.search(_words(result, 100_000)):
                raise BackendUnavailable(f"qsub could not reach the scheduler: {_words(result)}")
            raise BackendError(
                f"qsub refused the job: {_words(result) or f'exit status {result.returncode}'}"
            )
        job_id = job_id_from_qsub(result.stdout)
        if job_id is None:
            raise BackendUnavailable(f"qsub succeeded but printed no job id: {result.stdout[-300:]!r}")
        self._link(executor, workspace, name, job_id)
        return job_id

    def _link(self, executor: Executor, workspace: Workspace, name: str, job_id: str) -> None:
        """Link ``<job id>.out`` to the output file, so :meth:`logs` finds it by id. A failure
        costs only the logs: the job is submitted and its id must reach the caller."""
        argv = ["ln", "-sfn", "--", f"{name}.out", workspace.output_of_job(job_id)]
        try:
            result = self._run(executor, argv)
        except BackendError as exc:
            log.warning("job %s: cannot link its output file: %s", job_id, exc)
            return
        if not result.ok:
            log.warning("job %s: cannot link its output file: %s", job_id, _words(result))

    def query_many(self, job_ids: Sequence[str], executor: Executor) -> Mapping[str, Observation]:
        answers: dict[str, Observation] = {}
        valid: list[str] = []
        for job in dict.fromkeys(job_ids):
            if isinstance(job, str) and is_job_id(job):
                valid.append(job)
            else:
                answers[job] = Observation(state=Observed.UNKNOWN, detail=f"{job!r:.40} is not a PBS job id")
        if not valid:
            return answers
        listing, messages = self._status(executor, valid)
        for job in valid:
            answers[job] = self._answer(job, listing, messages)
        self._add_output(answers, listing, executor)
        return answers

    def _status(self, executor: Executor, job_ids: list[str]) -> tuple[Listing, Messages]:
        """One ``qstat`` for ``job_ids``: the records it printed and what it said on stderr."""
        pbspro, table = self.options.dialect == PBSPRO, self.options.qstat_format == TABLE
        argv = [self.options.qstat]
        if not table:
            argv += ["-f", "-F", "json"] if self.options.qstat_format == JSON else ["-f"]
        if pbspro:
            argv.append("-x")  # finished jobs too, with their exit status
        result = self._qstat(executor, [*argv, *job_ids], QSTAT_ANSWERED)
        return self._parse(result.stdout, table=table), parse_messages(result.stderr, job_ids)

    def _answer(self, job: str, listing: Listing, messages: Messages) -> Observation:
        record = listing.find(job)
        if record is not None:
            return observe(record)
        if job in messages.unknown:
            return Observation(state=Observed.GONE, detail="qstat: Unknown Job Id")
        if job in messages.finished:
            return Observation(
                state=Observed.EXITED, detail="job finished; the server keeps no record of its exit status"
            )
        if self.options.absent_is_gone and not messages.other and not listing.problems:
            return Observation(state=Observed.GONE, detail="qstat does not list the job")
        said = "; ".join(messages.other[:3] or listing.problems[:1])
        return Observation(
            state=Observed.UNKNOWN,
            detail=f"qstat did not answer for job {job}" + (f": {said}" if said else ""),
        )

    def _add_output(self, answers: dict[str, Observation], listing: Listing, executor: Executor) -> None:
        """Append the end of its output to each failed (or finished, exit unknown) job's detail."""
        ended = [
            job
            for job, obs in answers.items()
            if obs.state is Observed.FAILED or (obs.state is Observed.EXITED and obs.exit_code is None)
        ]
        if not ended:
            return
        try:
            workspace = self._workspaces.get(executor)
        except BackendError as exc:
            log.info("cannot read the output of ended jobs: %s", exc)
            return
        for job in ended:
            record = listing.find(job)
            paths = [workspace.output_of_job(job)]
            if record is not None and record.name:
                paths.append(workspace.output(record.name))
            tail = self._tail(executor, paths)
            if tail:
                obs = answers[job]
                answers[job] = attrs.evolve(obs, detail=f"{obs.detail}; last lines of its output:\n{tail}")

    def _tail(self, executor: Executor, paths: list[str]) -> str:
        for path in paths:
            try:
                data = executor.get_file(path, max_bytes=TAIL_BYTES)
            except BackendError:
                continue
            text = _printable(_last_lines(data, TAIL_LINES, cut=len(data) >= TAIL_BYTES)).strip()
            return text[-TAIL_CHARS:]
        return ""

    def find_jobs(self, names: Sequence[str], executor: Executor) -> Mapping[str, str]:
        if not names:
            return {}
        wanted: dict[str, list[str]] = {}
        for name in dict.fromkeys(names):
            wanted.setdefault(job_name(name, self.options.name_limit), []).append(name)
        workspace = self._workspaces.get(executor)
        argv = [self.options.qstat, "-f"] + (["-F", "json"] if self.options.qstat_format == JSON else [])
        # no -x: the listing stays as short as the live queue; a job that already left it is
        # not found, and the orchestrator then fails the task instead of submitting it twice
        listing = self._parse(self._qstat(executor, argv, frozenset({0, 153})).stdout, table=False)
        found: dict[str, str] = {}
        # a live job wins over a finished one of the same name, then the newest
        ordered = sorted(newest_first(listing.records), key=lambda r: r.state in FINISHED)
        for record in ordered:
            if record.problem is not None or record.owner != workspace.user:
                continue  # names are not unique: only this account's own jobs count
            for name in wanted.get(record.name or "", []):
                found.setdefault(name, record.job_id)
        return found

    def cancel(self, job_id: str, executor: Executor) -> None:
        if not is_job_id(job_id):
            raise BackendError(f"{job_id!r:.40} is not a PBS job id")
        result = self._run(executor, [self.options.qdel, job_id])
        if result.ok:
            return
        words = _words(result)
        if _UNREACHABLE.search(words):
            raise BackendUnavailable(f"qdel could not reach the scheduler: {words}")
        if _ALREADY_DONE.search(words):
            return
        # some front ends say nothing at all: ask whether the job still runs
        listing, messages = self._status(executor, [job_id])
        record = listing.find(job_id)
        if record is not None and record.state == "E":
            return  # exiting already
        if self._answer(job_id, listing, messages).state in (Observed.GONE, Observed.EXITED, Observed.FAILED):
            return
        raise BackendError(
            f"qdel could not cancel job {job_id}: {words or f'exit status {result.returncode}'}"
        )

    def logs(self, job_id: str, executor: Executor, *, tail: int = 1000) -> str:
        if tail <= 0 or not is_job_id(job_id):
            return ""
        workspace = self._workspaces.get(executor)
        try:
            data = executor.get_file(workspace.output_of_job(job_id), max_bytes=LOG_BYTES)
        except BackendUnavailable:
            raise
        except ExecutorError:
            return ""
        return _last_lines(data, tail, cut=len(data) >= LOG_BYTES)
