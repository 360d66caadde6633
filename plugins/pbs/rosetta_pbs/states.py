"""From a job's ``qstat`` record to an :class:`~rosetta_core.engines.Observation`.

========================  =====================================================================
``job_state``             observation
========================  =====================================================================
Q, H, W, T                ``PENDING`` (queued, held, waiting for its start time, in transit)
S, U                      ``PENDING``: suspended; it resumes where it stopped
R, E, B                   ``RUNNING`` (E: exiting; B: an array job begun), host from
                          ``exec_host``
C, F, X                   finished: ``Exit_status`` (PBS Pro) or ``exit_status`` (Torque) 0 is
                          ``EXITED``; any other is ``FAILED`` with that code (a job killed by
                          signal N, status 256 + N, reports 128 + N as a shell would); no exit
                          status at all (some Torque-style wrappers) is ``EXITED`` with no code
M                         ``UNKNOWN``: moved to another server, which the plugin does not follow
other                     ``UNKNOWN``
========================  =====================================================================

A record the parser could not trust is ``UNKNOWN`` too: never ``GONE``, never finished.
"""

from __future__ import annotations

import re
import signal

from rosetta_core.engines import Observation, Observed
from rosetta_pbs.qstat import JobRecord

PENDING = {
    "Q": "queued",
    "H": "held",
    "W": "waiting for its start time",
    "T": "being moved between queues",
    "S": "suspended by the scheduler",
    "U": "suspended: its workstation is busy",
}
RUNNING = {"R": "running", "E": "exiting", "B": "array job running"}
FINISHED = frozenset("CFX")

EXEC_FAILURES = {
    -1: "the job could not be started",
    -2: "the job could not be started after its files were staged",
    -3: "the job could not be started and will be retried",
    -4: "the job was aborted while its execution host started",
    -5: "the job was requeued while its execution host started",
    -6: "the job was requeued while its execution host started",
    -7: "the job could not be restarted from its checkpoint",
    -10: "the job's account is not valid on its execution host",
    -11: "the job was requeued to run again",
    -12: "the job was checkpointed and ended",
    -13: "the job's credentials were refused",
}
"""PBS's own ``JOB_EXEC_*`` exit statuses (shared by PBS Pro and Torque)."""

_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")
_COMMENT_LIMIT = 300


def first_host(exec_host: str | None) -> str | None:
    """The first node of an ``exec_host`` value (``node01/0*2+node02/0`` gives ``node01``)."""
    if not exec_host:
        return None
    host = exec_host.split("+", 1)[0].split("/", 1)[0].split(":", 1)[0].strip()
    return host if _HOST.match(host) else None


def exit_status(record: JobRecord) -> int | None:
    """``Exit_status``/``exit_status`` as a number, or ``None`` when absent or not a number."""
    value = (record.get("Exit_status") or "").strip()
    return int(value) if re.fullmatch(r"-?[0-9]{1,9}", value) else None


def describe_exit(status: int) -> tuple[int, str]:
    """The exit code to report for PBS exit status ``status``, and a sentence saying why.

    0-255: the job's own code. 256 + N: killed by signal N, reported as 128 + N. Negative: PBS
    could not run or finish the job (:data:`EXEC_FAILURES`), reported as it is.
    """
    if 0 <= status <= 255:
        return status, f"exited with code {status}"
    if status > 256 and status - 256 < 128:
        number = status - 256
        try:
            named = f" ({signal.Signals(number).name})"
        except ValueError:
            named = ""
        return 128 + number, f"killed by signal {number}{named}"
    if status < 0:
        why = EXEC_FAILURES.get(status, "PBS ended the job")
        return status, f"{why} (PBS exit status {status})"
    return status, f"ended with exit status {status}"


def _comment(record: JobRecord) -> str:
    """The scheduler's ``comment`` (why a job waits, where it ran), on one printable line."""
    text = " ".join((record.get("comment") or "").split())
    text = "".join(ch for ch in text if ch.isprintable())
    return f": {text[:_COMMENT_LIMIT]}" if text else ""


def observe(record: JobRecord) -> Observation:
    """What ``record`` says about its job, per the table of this module."""
    if record.problem is not None:
        return Observation(
            state=Observed.UNKNOWN, detail=f"qstat's record of the job is unreadable ({record.problem})"
        )
    state = record.state
    if state in PENDING:
        return Observation(state=Observed.PENDING, detail=f"job {PENDING[state]}{_comment(record)}")
    if state in RUNNING:
        return Observation(
            state=Observed.RUNNING, host=first_host(record.get("exec_host")), detail=f"job {RUNNING[state]}"
        )
    if state in FINISHED:
        status = exit_status(record)
        if status is None:
            return Observation(
                state=Observed.EXITED, detail="job finished; the scheduler reported no exit status"
            )
        code, why = describe_exit(status)
        if code == 0:
            return Observation(state=Observed.EXITED, exit_code=0, detail="job exited with code 0")
        return Observation(state=Observed.FAILED, exit_code=code, detail=f"job {why}")
    if state == "M":
        return Observation(state=Observed.UNKNOWN, detail="job moved to another PBS server")
    return Observation(
        state=Observed.UNKNOWN, detail=f"job state {record.get('job_state')!r:.20} is not known"
    )
