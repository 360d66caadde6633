"""The Slurm workload manager: tasks as batch jobs, every effect one command through the executor.

- :meth:`SlurmWorkloadManager.submit` creates the job folder and pipes the script to
  ``sbatch --parsable --chdir=<job folder>`` (never through a shell). A relative ``job_dir`` is
  under the account's home folder, asked once per executor: the ``--chdir`` given to sbatch,
  which takes precedence over the script's own line, makes that so whatever folder the
  executor's commands start in.
- :meth:`SlurmWorkloadManager.query_many` makes one ``squeue`` call for all of the account's jobs,
  whatever their state, and at most one ``sacct`` call for the ids the queue no longer shows.
- :meth:`SlurmWorkloadManager.find_jobs` makes one ``squeue`` call.
- Errors: :class:`~rosetta_core.errors.BackendUnavailable` when Slurm cannot be asked (the
  executor cannot run the command, the command times out, the controller does not answer);
  :class:`~rosetta_core.errors.BackendError` when Slurm answered and refused.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence

from rosetta_core.engines import Observation, Observed, TaskSpec
from rosetta_core.errors import (
    BackendError,
    BackendUnavailable,
    CommandNotFound,
    CommandTimeout,
    ExecutorError,
)
from rosetta_core.executors import CommandResult, Executor
from rosetta_core.homes import Homes, absolute
from rosetta_slurm.joblog import DETAIL_BYTES, DETAIL_LINES, LOG_BYTES, for_detail, read_tail
from rosetta_slurm.options import SlurmOptions
from rosetta_slurm.parse import (
    JOB_ID_RE,
    SACCT_FIELDS,
    SQUEUE_FORMAT,
    JobRecord,
    Listing,
    parse_sacct,
    parse_sbatch,
    parse_squeue,
)
from rosetta_slurm.script import log_path, render_script
from rosetta_slurm.states import ends_badly, observe

log = logging.getLogger(__name__)

STDERR_TAIL = 1500
# what Slurm's commands print when the controller (or the accounting daemon) does not answer
_UNREACHABLE = re.compile(
    r"Unable to contact slurm controller|Socket timed out|Zero Bytes were transmitted"
    r"|Connection refused|Connection timed out|Communication connection failure"
    r"|Transport endpoint is not connected|Problem talking to the database",
    re.IGNORECASE,
)
_NO_ACCOUNTING = re.compile(r"accounting storage is disabled", re.IGNORECASE)
# scancel on a job that has ended or that Slurm forgot: nothing left to do
_ALREADY_GONE = re.compile(r"Invalid job id|already completing or completed|Job has already finished")


def _words(result: CommandResult) -> str:
    """What a failed command said, shortened to its end."""
    text = (result.stderr.strip() or result.stdout.strip())[-STDERR_TAIL:]
    return text or f"exit status {result.returncode}"


class SlurmWorkloadManager:
    """A :class:`~rosetta_core.workload.WorkloadManager` backed by Slurm's command line.

    :param options: the ``[plugin.slurm]`` section (defaults when omitted).
    """

    name = "slurm"

    def __init__(self, options: SlurmOptions | None = None) -> None:
        self.options = options if options is not None else SlurmOptions()
        self._homes = Homes()

    # ---------------------------------------------------------------- script, paths

    def render_script(self, spec: TaskSpec, engine_argv: Sequence[str]) -> str:
        """The batch script for ``spec`` (pure; see :func:`rosetta_slurm.script.render_script`)."""
        return render_script(spec, engine_argv, job_dir=self.options.job_dir)

    def job_folder(self, executor: Executor) -> str:
        """The absolute job folder on the resource ``executor`` acts on (``job_dir``, under the
        account's home when relative). Raises :class:`BackendUnavailable` when the home folder
        cannot be asked, :class:`BackendError` when the answer is unusable."""
        job_dir = self.options.job_dir
        if job_dir.startswith("/"):
            return job_dir
        return absolute(job_dir, self._homes.of(executor, self.options.timeout))

    def log_path(self, job_id: str, executor: Executor) -> str:
        """The absolute path of job ``job_id``'s output file (raises as :meth:`job_folder`)."""
        return log_path(self.job_folder(executor), job_id)

    # ---------------------------------------------------------------- commands

    def _run(
        self, executor: Executor, argv: list[str], what: str, *, input: str | None = None, query: bool = False
    ) -> CommandResult:
        """Run ``argv``; a command that cannot be run at all raises (see the module docstring).

        ``query``: a missing program is only "cannot ask" too (a query never fails a task);
        otherwise it is a :class:`BackendError`, as retrying will not help.
        """
        try:
            return executor.run(argv, timeout=self.options.timeout, input=input)
        except CommandTimeout as exc:
            raise BackendUnavailable(
                f"{what}: {argv[0]} did not answer within {self.options.timeout:g} s"
            ) from exc
        except CommandNotFound as exc:
            error = BackendUnavailable if query else BackendError
            raise error(f"{what}: {exc}; is it installed on this computing resource?") from exc
        except ExecutorError as exc:
            raise BackendUnavailable(f"{what}: {exc}") from exc

    def submit(self, script: str, spec: TaskSpec, executor: Executor) -> str:
        """Create the job folder and submit ``script``; return the job id.

        Raises :class:`BackendError` with sbatch's words when Slurm refuses the job, and
        :class:`BackendUnavailable` when it cannot be asked or its answer holds no job id (the
        job may then exist: the orchestrator looks it up by name, ``spec.name``).
        """
        what = f"cannot submit job {spec.name}"
        folder = self.job_folder(executor)
        made = self._run(executor, ["mkdir", "-p", "-m", "700", "--", folder], what)
        if not made.ok:
            raise BackendError(f"{what}: cannot create the job folder {folder}: {_words(made)}")
        argv = [self.options.sbatch, "--parsable", f"--chdir={folder}"]
        result = self._run(executor, argv, what, input=script)
        if not result.ok:
            words = _words(result)
            if _UNREACHABLE.search(words):
                raise BackendUnavailable(f"{what}: sbatch cannot reach the Slurm controller: {words}")
            raise BackendError(f"sbatch refused the job: {words}")
        job_id = parse_sbatch(result.stdout)
        if job_id is None:
            raise BackendUnavailable(f"{what}: sbatch answered without a job id: {result.stdout[-200:]!r}")
        return job_id

    def _squeue(self, executor: Executor) -> Listing:
        """Every job of the account that the controller still knows, in any state."""
        argv = [
            self.options.squeue,
            "--noheader",
            "--all",
            "--me",
            "--states=all",
            f"--Format={SQUEUE_FORMAT}",
        ]
        result = self._run(executor, argv, "cannot list the Slurm queue", query=True)
        if not result.ok:
            raise BackendUnavailable(f"cannot list the Slurm queue: squeue: {_words(result)}")
        return parse_squeue(result.stdout)

    def _sacct(self, job_ids: Sequence[str], executor: Executor) -> Listing | Observation:
        """What accounting says about ``job_ids``, or the answer for all of them when it cannot
        say: GONE when the cluster keeps no accounting, UNKNOWN when it could not be asked."""
        no_accounting = "the Slurm queue no longer lists it and the cluster keeps no accounting"
        if not self.options.sacct:
            return Observation(state=Observed.GONE, detail=f"{no_accounting} (sacct is turned off)")
        argv = [
            self.options.sacct,
            "--allocations",
            "--noheader",
            "--parsable2",
            f"--jobs={','.join(job_ids)}",
            f"--format={','.join(SACCT_FIELDS)}",
        ]
        try:
            result = self._run(executor, argv, "cannot ask Slurm accounting", query=True)
        except BackendUnavailable as exc:
            if isinstance(exc.__cause__, CommandNotFound):
                return Observation(state=Observed.GONE, detail=f"{no_accounting} (no sacct)")
            return Observation(state=Observed.UNKNOWN, detail=str(exc))
        if not result.ok:
            words = _words(result)
            if _NO_ACCOUNTING.search(words):
                return Observation(state=Observed.GONE, detail=f"{no_accounting} ({words})")
            return Observation(
                state=Observed.UNKNOWN,
                detail=f"the Slurm queue no longer lists the job and sacct failed: {words}",
            )
        return parse_sacct(result.stdout)

    def _observe(self, record: JobRecord, executor: Executor) -> Observation:
        """``record`` as an observation; a failed job's detail ends with its log's last lines."""
        if not ends_badly(record):
            return observe(record)
        try:
            tail = read_tail(executor, self.log_path(record.job_id, executor), DETAIL_LINES, DETAIL_BYTES)
        except BackendError as exc:
            log.debug("no log for failed job %s: %s", record.job_id, exc)
            tail = ""  # the state is known all the same
        return observe(record, for_detail(tail))

    def query_many(self, job_ids: Sequence[str], executor: Executor) -> Mapping[str, Observation]:
        """Answer for every id: one squeue call, then one sacct call for the ids squeue no longer
        lists (none when it lists them all). GONE only for an id neither lists, or that squeue
        does not list when the cluster keeps no accounting. Raises :class:`BackendUnavailable`
        when squeue fails."""
        if not job_ids:
            return {}
        answers: dict[str, Observation] = {}
        wanted = list(dict.fromkeys(job_ids))
        for job_id in wanted:
            if not JOB_ID_RE.fullmatch(job_id):
                answers[job_id] = Observation(
                    state=Observed.GONE, detail=f"{job_id[:80]!r} is not a Slurm job id"
                )
        queue = self._squeue(executor)
        missing: list[str] = []
        for job_id in (j for j in wanted if j not in answers):
            if job_id in queue.records:
                answers[job_id] = self._observe(queue.records[job_id], executor)
            elif job_id in queue.garbled:
                answers[job_id] = _garbled("squeue", queue.garbled[job_id])
            else:
                missing.append(job_id)
        if missing:
            answers.update(self._ended(missing, executor))
        return answers

    def _ended(self, job_ids: list[str], executor: Executor) -> dict[str, Observation]:
        """Answers for jobs the queue no longer lists, from accounting."""
        accounting = self._sacct(job_ids, executor)
        if isinstance(accounting, Observation):
            return dict.fromkeys(job_ids, accounting)
        answers: dict[str, Observation] = {}
        for job_id in job_ids:
            record = accounting.records.get(job_id)
            if record is not None:
                obs = self._observe(record, executor)
                if obs.state in (Observed.PENDING, Observed.RUNNING):
                    # the controller does not back it: stale accounting, or another account's job
                    obs = Observation(
                        state=Observed.UNKNOWN,
                        detail=f"the Slurm queue does not list the job, yet accounting says {record.state}",
                    )
                answers[job_id] = obs
            elif job_id in accounting.garbled:
                answers[job_id] = _garbled("sacct", accounting.garbled[job_id])
            else:
                answers[job_id] = Observation(
                    state=Observed.GONE, detail="unknown to Slurm: neither the queue nor accounting lists it"
                )
        return answers

    def find_jobs(self, names: Sequence[str], executor: Executor) -> Mapping[str, str]:
        """Map each of ``names`` to the id of the job of that name the queue still lists (any
        state; the newest when several share it). One squeue call; none for no names."""
        if not names:
            return {}
        wanted = set(names)
        found: dict[str, str] = {}
        for record in self._squeue(executor).records.values():
            if record.name in wanted and _newer(record.job_id, found.get(record.name)):
                found[record.name] = record.job_id
        return found

    def cancel(self, job_id: str, executor: Executor) -> None:
        """Cancel job ``job_id``; a job that ended or that Slurm does not know is not an error
        (nor is an id that cannot be a Slurm job's)."""
        if not JOB_ID_RE.fullmatch(job_id):
            return
        what = f"cannot cancel job {job_id}"
        result = self._run(executor, [self.options.scancel, job_id], what)
        if result.ok:
            return
        words = _words(result)
        if _ALREADY_GONE.search(words):
            return
        if _UNREACHABLE.search(words):
            raise BackendUnavailable(f"{what}: scancel cannot reach the Slurm controller: {words}")
        raise BackendError(f"{what}: {words}")

    def logs(self, job_id: str, executor: Executor, *, tail: int = 1000) -> str:
        """At most the last ``tail`` lines of the job's output file (of its last MiB); ``""``
        when the file does not exist (yet). Raises :class:`BackendUnavailable` when the
        resource cannot be reached."""
        if tail <= 0 or not JOB_ID_RE.fullmatch(job_id):
            return ""
        try:
            return read_tail(executor, self.log_path(job_id, executor), tail, LOG_BYTES)
        except ExecutorError:
            return ""


def _garbled(command: str, line: str) -> Observation:
    return Observation(
        state=Observed.UNKNOWN, detail=f"{command} wrote a line that cannot be read: {line[:200]!r}"
    )


def _newer(job_id: str, other: str | None) -> bool:
    if other is None:
        return True
    key = [int(part) for part in job_id.split("_")]
    return key > [int(part) for part in other.split("_")]
