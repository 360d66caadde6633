"""What docker reports, read into the engine's terms (pure).

The daemon's inspect records are the same JSON whether the SDK fetched them or ``docker container
inspect`` printed them, so both paths of the engine read them here. Importing this module does
not import the docker SDK.
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from rosetta_core.engines import Observation, Observed, published_address
from rosetta_core.errors import BackendError, BackendUnavailable
from rosetta_docker.argv import LOCALHOST, PORT_LABEL

_PENDING_STATUSES = frozenset({"created", "restarting"})
_EXITED_STATUSES = frozenset({"exited", "dead", "removing"})
_RUNNING_STATUSES = frozenset({"running", "paused"})
# `docker logs --timestamps` prefixes every line with an RFC 3339 time and one space
_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")


def parse_inspect(record: object) -> Observation:
    """Turn the daemon's ``inspect`` record of a container into an observation.

    Raises :class:`BackendUnavailable` when the record is not what the daemon writes.
    """
    if not isinstance(record, Mapping) or not isinstance(record.get("State"), Mapping):
        raise BackendUnavailable(f"docker: the daemon's inspect record has no state: {record!r:.200}")
    labels = {str(k): str(v) for k, v in _mapping(_mapping(record.get("Config")).get("Labels")).items()}
    state = _mapping(record.get("State"))
    status = str(state.get("Status", "")).lower()
    raw_code = state.get("ExitCode")
    exit_code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
    error = str(state.get("Error") or "")
    if status in _RUNNING_STATUSES:
        host, port = _published(record, labels)
        return Observation(state=Observed.RUNNING, host=host, port=port, detail=status, labels=labels)
    if status in _EXITED_STATUSES:
        if state.get("OOMKilled") is True:
            detail = "killed for exceeding its memory limit"
        else:
            detail = error or f"exited with code {exit_code}"
        return Observation(state=Observed.EXITED, exit_code=exit_code, detail=detail, labels=labels)
    if status in _PENDING_STATUSES:
        if status == "created" and error:
            return Observation(state=Observed.FAILED, detail=error, labels=labels)
        return Observation(state=Observed.PENDING, detail=status, labels=labels)
    return Observation(
        state=Observed.UNKNOWN, detail=f"docker reports status {status or 'none'!r}", labels=labels
    )


def _published(record: Mapping[str, Any], labels: Mapping[str, str]) -> tuple[str, int | None]:
    """The host address and port of the interface port recorded in the container's labels."""
    port = labels.get(PORT_LABEL)
    if port is None:
        return LOCALHOST, None
    return published_address(_mapping(record.get("NetworkSettings")).get("Ports"), port)


def inspect_list(stdout: str, what: str) -> Mapping[str, Any] | None:
    """The first record of the JSON list ``docker ... inspect`` prints, or ``None`` for ``[]``.

    Raises :class:`BackendUnavailable` (naming ``what``) when the output is not such a list.
    """
    try:
        data = json.loads(stdout)
    except ValueError as exc:
        raise BackendUnavailable(
            f"docker: {what}: docker printed something that is not JSON: {stdout[:200]!r}"
        ) from exc
    if not isinstance(data, list):
        raise BackendUnavailable(f"docker: {what}: docker printed {stdout[:200]!r}, not a list")
    return _mapping(data[0]) if data else None


def same_arch(image: Mapping[str, Any], arch: str | None) -> bool:
    """Whether a local image (``docker image inspect``) is for ``arch`` (any, when ``None``)."""
    if not arch:
        return True
    wanted, _, variant = arch.partition("/")
    if str(image.get("Architecture", "")) != wanted:
        return False
    return not variant or str(image.get("Variant", "")) in ("", variant)


def pull_needed(policy: str, image: Mapping[str, Any] | None, spec_image: str, arch: str | None) -> bool:
    """Whether ``pull_policy`` asks for a pull, given the local image (``None``: not there).

    Raises :class:`BackendError` for ``never`` and no local image. Both paths (the SDK and the
    command line) decide with this, so they behave alike.
    """
    if policy == "always":
        return True
    if policy == "never":
        if image is None:
            raise BackendError(f"docker: image {spec_image} not found locally, and pull_policy is 'never'")
        return False
    return image is None or not same_arch(image, arch)


def last_lines(raw: bytes | str, tail: int) -> str:
    """The last ``tail`` lines of a log, decoded (bad bytes replaced), each ending in a newline."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    lines = text.splitlines()[-tail:] if tail > 0 else []
    return "".join(f"{line}\n" for line in lines)


_LogEntry = tuple[tuple[int, int], int, str]


def _log_entries(text: str) -> Iterator[_LogEntry]:
    """``docker logs --timestamps`` lines as (time key, sequence, line without its timestamp)."""
    key = (0, 0)
    for seq, line in enumerate(text.split("\n")):
        stamp, _, rest = line.partition(" ")
        match = _TIMESTAMP.match(stamp)
        if match is None:
            if line:  # the docker program's own words; they sort with the line before
                yield key, seq, line
            continue
        base, fraction, zone = match.groups()
        moment = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
        key = (int(moment.timestamp()), int((fraction or "").ljust(9, "0")))
        yield key, seq, rest


def merge_logs(stdout: str, stderr: str, tail: int) -> str:
    """The two streams of ``docker logs --timestamps`` merged by time, as :func:`last_lines` writes.

    Timestamps are removed; of lines written at the same moment, stdout's come first.
    """
    merged = heapq.merge(_log_entries(stdout), _log_entries(stderr), key=lambda entry: entry[0])
    return last_lines("".join(f"{text}\n" for _, _, text in merged), tail)


def _size(count: object) -> str:
    if isinstance(count, bool) or not isinstance(count, int | float) or count < 0:
        return "?"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f}{unit}"
    return f"{int(count)}B"


def pull_progress_line(event: object) -> str:
    """One event of the daemon's pull stream as a progress line, or ``""`` for nothing to say.

    ``{"id": "a1b2", "status": "Downloading", "progressDetail": {"current": 1200000, "total":
    3400000}}`` becomes ``a1b2: Downloading 1.2MB/3.4MB``; an event without a layer id is its
    status alone (``Status: Downloaded newer image for ...``).
    """
    record = _mapping(event)
    status = str(record.get("status") or "").strip()
    if not status:
        return ""
    layer = str(record.get("id") or "").strip()
    detail = _mapping(record.get("progressDetail"))
    current, total = detail.get("current"), detail.get("total")
    if current is not None:
        status += f" {_size(current)}" + (f"/{_size(total)}" if total else "")
    return f"{layer}: {status}" if layer else status


def pull_output_lines(stdout: str) -> list[str]:
    """The progress lines of ``docker pull``'s output (``<layer>: Pull complete``, ``Status: ...``).

    The last line ``docker pull`` prints is the image's full reference alone, which says nothing
    new: lines without a space are left out.
    """
    return [line.strip() for line in stdout.splitlines() if " " in line.strip()]


def container_names(stdout: str) -> list[str]:
    """The names ``docker ps --format {{.Names}}`` printed: one container a line, comma-separated."""
    return [name.strip() for line in stdout.splitlines() for name in line.split(",") if name.strip()]


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


__all__: Sequence[str] = [
    "container_names",
    "inspect_list",
    "last_lines",
    "merge_logs",
    "parse_inspect",
    "pull_output_lines",
    "pull_progress_line",
    "same_arch",
]
