"""Reading what sbatch, squeue and sacct print (pure).

squeue is asked for ``JobID|State|exit_code|BatchHost|NodeList|Name|Reason`` (:data:`SQUEUE_FORMAT`)
and sacct for ``JobID|State|ExitCode|Reason`` (:data:`SACCT_FIELDS`, ``--parsable2``). The free
text fields come last: a job name or reason holding ``|`` cannot shift the fields before it.
Lines are split on ``\\n`` only (``str.splitlines`` would also split on characters a job name
may hold). A line that names a job id but cannot be read is kept apart as *garbled*, so the
caller can answer "unknown" for that job rather than "gone".
"""

from __future__ import annotations

import re

import attrs

SQUEUE_FIELDS = ("JobID", "State", "exit_code", "BatchHost", "NodeList", "Name", "Reason")
# "Field:|" is the field at its natural width followed by "|": no padding, no truncation
SQUEUE_FORMAT = ",".join(f"{field}:|" for field in SQUEUE_FIELDS[:-1]) + f",{SQUEUE_FIELDS[-1]}:"
SACCT_FIELDS = ("JobID", "State", "ExitCode", "Reason")

JOB_ID_RE = re.compile(r"[0-9]{1,20}(?:_[0-9]{1,10})?")
"""A Slurm job id as the plugin uses it: a number, or an array element ``<number>_<index>``."""
HOST_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")
_STATE_RE = re.compile(r"[A-Z][A-Z_]{0,31}")
_WAIT_STATUS_RE = re.compile(r"[0-9]{1,5}")  # ASCII digits only: str.isdigit() takes '²'
_EXIT_PAIR_RE = re.compile(r"([0-9]{1,3}):([0-9]{1,3})")
_BRACKETS = re.compile(r"\[([^\]]*)\]")
_NO_SIGNAL, _STOPPED = 0, 0x7F


@attrs.frozen(kw_only=True)
class JobRecord:
    """One job as squeue or sacct described it.

    ``state`` is Slurm's state word (``"CANCELLED"`` of sacct's ``"CANCELLED by 0"``; the rest is
    ``note``). ``exit_status`` and ``signal`` say how the job's process ended, when Slurm knows.
    """

    job_id: str
    state: str
    exit_status: int | None = None
    signal: int | None = None
    reason: str = ""
    host: str | None = None
    name: str = ""
    note: str = ""
    source: str = "squeue"


@attrs.frozen(kw_only=True)
class Listing:
    """What one squeue or sacct call said: readable records, and the lines of jobs that were not."""

    records: dict[str, JobRecord] = attrs.field(factory=dict)
    garbled: dict[str, str] = attrs.field(factory=dict)


def _lines(stdout: str) -> list[str]:
    return [line.rstrip("\r") for line in stdout.split("\n") if line.strip()]


def decode_wait_status(text: str) -> tuple[int | None, int | None]:
    """squeue's ``exit_code``: a raw wait status (``768`` is exit 3, ``9`` is signal 9).

    Returns ``(exit_status, signal)``; ``(None, None)`` for anything else (Slurm's "no value").
    """
    text = text.strip()
    if not _WAIT_STATUS_RE.fullmatch(text) or int(text) > 0xFFFF:
        return None, None
    raw = int(text)
    signal = raw & 0x7F
    if signal == _NO_SIGNAL:
        return (raw >> 8) & 0xFF, None
    if signal == _STOPPED:
        return None, None
    return None, signal


def decode_exit_pair(text: str) -> tuple[int | None, int | None]:
    """sacct's ``ExitCode``: ``"<exit status>:<signal>"``; ``(None, None)`` when unreadable."""
    match = _EXIT_PAIR_RE.fullmatch(text.strip())
    if match is None:
        return None, None
    status, signal = int(match.group(1)), int(match.group(2))
    if signal:
        return None, signal
    return status, None


def first_host(nodelist: str) -> str | None:
    """The first node of a Slurm hostlist (``node[01-04],gpu1`` gives ``node01``), or ``None``."""
    first = re.match(r"(?:[^,\[\]]|\[[^\]]*\])+", nodelist.strip())
    if first is None:
        return None
    host = _BRACKETS.sub(lambda m: m.group(1).split(",")[0].split("-")[0], first.group(0))
    return host if HOST_RE.fullmatch(host) else None


def _host(batch_host: str, nodelist: str) -> str | None:
    batch_host = batch_host.strip()
    return batch_host if HOST_RE.fullmatch(batch_host) else first_host(nodelist)


def parse_squeue(stdout: str) -> Listing:
    """Read the output of ``squeue --noheader --Format`` :data:`SQUEUE_FORMAT`."""
    listing = Listing()
    for line in _lines(stdout):
        fields = line.split("|", 5)
        job_id = fields[0].strip()
        if not JOB_ID_RE.fullmatch(job_id):
            continue  # not about a job (a warning, a broken-off piece of a name)
        name, sep, reason = fields[-1].rpartition("|") if len(fields) == 6 else ("", "", "")
        state = fields[1].strip() if len(fields) > 1 else ""
        if not sep or not _STATE_RE.fullmatch(state):
            listing.garbled[job_id] = line
            continue
        exit_status, signal = decode_wait_status(fields[2])
        listing.records[job_id] = JobRecord(
            job_id=job_id,
            state=state,
            exit_status=exit_status,
            signal=signal,
            reason=reason.strip(),
            host=_host(fields[3], fields[4]),
            name=name,
        )
        listing.garbled.pop(job_id, None)
    return listing


def parse_sacct(stdout: str) -> Listing:
    """Read the output of ``sacct -X -n -P -o`` :data:`SACCT_FIELDS`; the last line of a job wins."""
    listing = Listing()
    for line in _lines(stdout):
        fields = line.split("|", 3)
        job_id = fields[0].strip()
        if not JOB_ID_RE.fullmatch(job_id):
            continue
        state_text = fields[1].strip() if len(fields) == 4 else ""
        state, _, note = state_text.partition(" ")
        state = state.rstrip("+")  # sacct marks a state cut short to fit its column with '+'
        if not _STATE_RE.fullmatch(state):
            listing.garbled[job_id] = line
            continue
        exit_status, signal = decode_exit_pair(fields[2])
        listing.records[job_id] = JobRecord(
            job_id=job_id,
            state=state,
            exit_status=exit_status,
            signal=signal,
            reason=fields[3].strip(),
            note=note.strip(),
            source="sacct",
        )
        listing.garbled.pop(job_id, None)
    return listing


def parse_sbatch(stdout: str) -> str | None:
    """The job id in ``sbatch --parsable`` output (``"<id>"`` or ``"<id>;<cluster>"``), or ``None``."""
    lines = _lines(stdout)
    if not lines:
        return None
    job_id = lines[-1].split(";", 1)[0].strip()
    return job_id if JOB_ID_RE.fullmatch(job_id) else None
