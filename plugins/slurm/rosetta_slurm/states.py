"""From a Slurm job state to what the kernel is told (pure).

=================================================================  ==========  ==================
Slurm state                                                        observed    detail
=================================================================  ==========  ==================
PENDING, CONFIGURING, REQUEUED, REQUEUE_FED, REQUEUE_HOLD,         PENDING     the state, reason
RESV_DEL_HOLD, SPECIAL_EXIT, SUSPENDED, STOPPED
RUNNING, COMPLETING, RESIZING, SIGNALING, STAGE_OUT                RUNNING     the batch node
COMPLETED                                                          EXITED      exit code
FAILED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, BOOT_FAIL, DEADLINE,    FAILED      why, and the end
PREEMPTED, REVOKED, CANCELLED                                                  of the job's log
any other                                                          UNKNOWN     the state
=================================================================  ==========  ==================

A cancelled job is FAILED with a detail starting ``cancelled``: a stop the user asked for is
recorded as ``stopped`` by the orchestrator before the job is cancelled, so a cancellation seen
here came from elsewhere (an administrator, ``scancel`` by hand) and the task did not end by itself.

The exit code is the job's exit status, or 128 + N when signal N ended it (as a shell reports it);
none when Slurm recorded 0 for a job that did not complete.
"""

from __future__ import annotations

from rosetta_core.engines import Observation, Observed
from rosetta_slurm.parse import JobRecord

_PENDING = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESV_DEL_HOLD",
        "SPECIAL_EXIT",
        "SUSPENDED",
        "STOPPED",
    }
)
_RUNNING = frozenset({"RUNNING", "COMPLETING", "RESIZING", "SIGNALING", "STAGE_OUT"})
_FAILURES = {
    "FAILED": "the job failed",
    "TIMEOUT": "the job reached its time limit",
    "OUT_OF_MEMORY": "the job ran out of memory",
    "NODE_FAIL": "the job's node failed",
    "BOOT_FAIL": "the job's node failed to boot",
    "DEADLINE": "the job reached its deadline",
    "PREEMPTED": "the job was preempted",
    "REVOKED": "the job was revoked (it runs on another cluster of the federation)",
    "CANCELLED": "cancelled",
}
# reasons that only repeat what the state says
_PLAIN_REASONS = frozenset({"", "None", "NonZeroExitCode", "TimeLimit"})
MAX_REASON = 300


def exit_code(record: JobRecord) -> int | None:
    """The exit code to report for ``record`` (see the module docstring)."""
    if record.signal:
        return 128 + record.signal
    return record.exit_status


def ends_badly(record: JobRecord) -> bool:
    """Whether ``record`` is observed FAILED (its log then helps tell why)."""
    return record.state in _FAILURES


def _reason(record: JobRecord) -> str:
    reason = record.reason[:MAX_REASON]
    return "" if reason in _PLAIN_REASONS else f" ({reason})"


def _failure_summary(record: JobRecord) -> str:
    summary = _FAILURES[record.state]
    if record.state == "CANCELLED" and record.note:
        summary += f" {record.note[:MAX_REASON]}"  # sacct's "by <uid>"
    if record.signal:
        summary += f": killed by signal {record.signal}"
    elif record.exit_status:
        summary += f": exit code {record.exit_status}"
    return summary + _reason(record)


def observe(record: JobRecord, log_tail: str = "") -> Observation:
    """The observation for ``record``; ``log_tail`` (the end of the job's output) is appended to
    the detail of a failed job."""
    state = record.state
    if state in _PENDING:
        word = "pending" if state == "PENDING" else state.lower().replace("_", " ")
        return Observation(state=Observed.PENDING, detail=f"{word}{_reason(record)}")
    if state in _RUNNING:
        where = f" on {record.host}" if record.host else ""
        word = "running" if state == "RUNNING" else f"running ({state.lower().replace('_', ' ')})"
        return Observation(state=Observed.RUNNING, host=record.host, detail=f"{word}{where}")
    if state == "COMPLETED":
        return Observation(state=Observed.EXITED, exit_code=exit_code(record), detail="completed")
    if state in _FAILURES:
        detail = _failure_summary(record)
        if log_tail:
            detail += f"\nlast lines of the job's output:\n{log_tail}"
        return Observation(state=Observed.FAILED, exit_code=exit_code(record) or None, detail=detail)
    return Observation(state=Observed.UNKNOWN, detail=f"Slurm reports an unknown job state {state!r}")
