"""Reading what ``qstat`` prints: the full format, PBS Pro's JSON, the one-line table, and the
per-job messages on its error output.

Each parser returns a :class:`Listing`: the job records it understood, and the lines or records
it did not (``problems``). A record it cannot trust (an attribute given twice, no ``job_state``)
is kept with its :attr:`JobRecord.problem` set, so the job is reported as not understood rather
than as missing. Only output that cannot be read at all (JSON that does not parse) raises
:class:`QstatOutputError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from rosetta_pbs.jobids import same_job, sequence_number

MAX_PROBLEMS = 20
_HEADER = re.compile(r"^Job Id:\s*(\S+)\s*$")
_ATTRIBUTE = re.compile(r"^([ \t]+)([A-Za-z_][A-Za-z0-9_.]*) = (.*)$")
_STATE = re.compile(r"^[A-Z]$")


class QstatOutputError(ValueError):
    """``qstat``'s output cannot be read at all."""


@attrs.frozen(kw_only=True)
class JobRecord:
    """One job as ``qstat`` described it: its id as listed and its attributes as text."""

    job_id: str
    attributes: Mapping[str, str] = attrs.field(factory=dict)
    problem: str | None = None

    def get(self, name: str) -> str | None:
        """The attribute ``name``; PBS spells a few differently by flavour (``Exit_status`` in
        PBS Pro, ``exit_status`` in Torque), so a case-insensitive match is the fallback."""
        if name in self.attributes:
            return self.attributes[name]
        lowered = name.lower()
        return next((v for k, v in self.attributes.items() if k.lower() == lowered), None)

    @property
    def name(self) -> str | None:
        return self.get("Job_Name")

    @property
    def state(self) -> str | None:
        """The one-letter ``job_state`` (``Q``, ``R``, ``F``, ...), or ``None`` if malformed."""
        value = (self.get("job_state") or "").strip()
        return value if _STATE.match(value) else None

    @property
    def owner(self) -> str | None:
        """The account that owns the job: ``Job_Owner`` up to its ``@host``."""
        user = (self.get("Job_Owner") or "").partition("@")[0].strip()
        return user or None


@attrs.frozen(kw_only=True)
class Listing:
    """The records ``qstat`` printed, and what could not be read (at most :data:`MAX_PROBLEMS`)."""

    records: tuple[JobRecord, ...] = ()
    problems: tuple[str, ...] = ()

    def find(self, job_id: str) -> JobRecord | None:
        """The record of ``job_id`` (see :func:`~rosetta_pbs.jobids.same_job`); an exact match
        wins, then the record with the same spelling's longest id."""
        exact = [r for r in self.records if r.job_id == job_id]
        if exact:
            return exact[0]
        matching = [r for r in self.records if same_job(r.job_id, job_id)]
        return max(matching, key=lambda r: len(r.job_id)) if matching else None


def _listing(records: Iterable[JobRecord], problems: Sequence[str]) -> Listing:
    return Listing(records=tuple(records), problems=tuple(p[:200] for p in problems[:MAX_PROBLEMS]))


# ---------------------------------------------------------------- qstat -f


def parse_full(text: str) -> Listing:
    """Parse ``qstat -f``: records of ``Job Id: <id>`` and indented ``name = value`` lines.

    The first attribute line of a record fixes its indent (four spaces in PBS Pro and Torque, a
    tab in some wrappers); a line indented otherwise continues the previous value (PBS Pro and
    Torque wrap long values onto lines starting with a tab). Nothing but a header starts a
    record, so text inside a value can never pose as another job.
    """
    records: list[JobRecord] = []
    problems: list[str] = []
    job_id: str | None = None
    attributes: dict[str, str] = {}
    record_problem: str | None = None
    indent: str | None = None
    last: str | None = None

    def close() -> None:
        if job_id is not None:
            problem = record_problem
            if problem is None and "job_state" not in attributes:
                problem = "no job_state"
            records.append(JobRecord(job_id=job_id, attributes=dict(attributes), problem=problem))

    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            close()
            job_id, attributes, record_problem, indent, last = header.group(1), {}, None, None, None
            continue
        if not line.strip():
            last = None  # a blank line ends the value being continued
            continue
        attribute = _ATTRIBUTE.match(line)
        if job_id is not None and attribute and indent in (None, attribute.group(1)):
            indent, key, value = attribute.group(1), attribute.group(2), attribute.group(3)
            if key in attributes:
                record_problem = f"attribute {key} is given twice"
            attributes[key] = value
            last = key
        elif job_id is not None and last is not None and line[:1] in " \t":
            attributes[last] += line[1:] if line.startswith("\t") else line.lstrip()
        else:
            problems.append(line)
            if job_id is not None:
                record_problem = record_problem or f"line not understood: {line.strip()[:80]}"
    close()
    return _listing(records, problems)


# ---------------------------------------------------------------- qstat -f -F json


def parse_json(text: str) -> Listing:
    """Parse PBS Pro's ``qstat -f -F json``: ``{"Jobs": {id: {attribute: value}}}``.

    Nested objects (``Resource_List``, ``Variable_List``) become dotted names as in the full
    format (``Resource_List.ncpus``); numbers become their text. No ``Jobs`` member means no
    jobs, and so does no output at all (every id asked for unknown). Control characters inside
    strings are accepted: some PBS versions print them raw.
    """
    if not text.strip():
        return Listing()
    try:
        data = json.loads(text, strict=False)
    except ValueError as exc:
        raise QstatOutputError(f"qstat printed output that is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise QstatOutputError("qstat's JSON is not an object")
    jobs = data.get("Jobs", {})
    if not isinstance(jobs, dict):
        raise QstatOutputError("qstat's JSON has a 'Jobs' member that is not an object")
    records: list[JobRecord] = []
    problems: list[str] = []
    for job_id, body in jobs.items():
        if not isinstance(body, dict):
            problems.append(f"job {job_id}: not an object")
            records.append(JobRecord(job_id=job_id, problem="its record is not an object"))
            continue
        attributes = dict(_flatten(body))
        problem = None if "job_state" in attributes else "no job_state"
        records.append(JobRecord(job_id=job_id, attributes=attributes, problem=problem))
    return _listing(records, problems)


def _flatten(body: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, str]]:
    for key, value in body.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        elif isinstance(value, bool):
            yield f"{prefix}{key}", "True" if value else "False"
        elif isinstance(value, str | int | float):
            yield f"{prefix}{key}", str(value)
        else:
            yield f"{prefix}{key}", json.dumps(value)


# ---------------------------------------------------------------- qstat (table)


def parse_table(text: str) -> Listing:
    """Parse the default listing: a header, a rule of dashes, then one line per job with six
    columns (id, name, user, time used, state, queue).

    Columns are cut to their width (a long name or id loses its end; PBS Pro marks the cut with
    ``*``), so only the id and the state are to be trusted.
    """
    records: list[JobRecord] = []
    problems: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or set(stripped) <= {"-", " "} or stripped.lower().startswith("job id"):
            continue
        columns = stripped.split()
        if len(columns) != 6 or not _STATE.match(columns[4]) or not columns[0][:1].isdigit():
            problems.append(line)
            continue
        job_id, name, owner, _, state, queue = columns
        attributes = {"Job_Name": name, "Job_Owner": owner, "job_state": state, "queue": queue}
        records.append(JobRecord(job_id=job_id, attributes=attributes))
    return _listing(records, problems)


# ---------------------------------------------------------------- error output


# ids start with a digit: "qdel: Job has finished 123.srv" must not read "qdel:" as the id
_UNKNOWN = re.compile(r"Unknown Job Id(?: Error)?\s+([0-9][^\s,;]*)")
_FINISHED = re.compile(r"([0-9][^\s,;]*)\s+Job has finished|Job has finished[,:]?\s+([0-9][^\s,;]*)")


@attrs.frozen(kw_only=True)
class Messages:
    """What ``qstat`` said on its error output about the jobs it was asked for."""

    unknown: frozenset[str] = frozenset()
    """Ids it positively does not know (``Unknown Job Id``)."""
    finished: frozenset[str] = frozenset()
    """Ids it says have finished but keeps no record of (PBS Pro asked without ``-x``)."""
    other: tuple[str, ...] = ()
    """Every other line: warnings, errors, messages about ids nobody asked for."""


def parse_messages(stderr: str, wanted: Sequence[str]) -> Messages:
    """Sort ``qstat``'s error lines into :class:`Messages` for the ids in ``wanted``."""
    unknown: set[str] = set()
    finished: set[str] = set()
    other: list[str] = []
    for raw in stderr.splitlines():
        line = raw.strip()
        if not line:
            continue
        said = _UNKNOWN.search(line)
        bucket = unknown
        if said is None:
            said, bucket = _FINISHED.search(line), finished
        named = said.group(said.lastindex or 0) if said else None
        matches = [job for job in wanted if named is not None and same_job(named, job)]
        if matches:
            bucket.update(matches)
        else:
            other.append(line[:200])
    return Messages(
        unknown=frozenset(unknown), finished=frozenset(finished), other=tuple(other[:MAX_PROBLEMS])
    )


def newest_first(records: Iterable[JobRecord]) -> list[JobRecord]:
    """``records`` ordered by descending sequence number (the most recent submission first)."""
    return sorted(records, key=lambda r: sequence_number(r.job_id), reverse=True)
