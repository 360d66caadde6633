"""PBS job ids: what ``qsub`` prints, and when two spellings name the same job.

PBS Pro and OpenPBS print ``123.server``, Torque ``123.server.domain``, Torque-style wrappers over
other schedulers a bare ``123``; array jobs look like ``123[].server``. The plugin keeps an id
exactly as ``qsub`` printed it and passes it back as given; :func:`same_job` only matches what
``qstat`` lists against it.
"""

from __future__ import annotations

import re

JOB_ID = re.compile(r"^[0-9]{1,12}(\[[0-9]{0,9}\])?(\.[A-Za-z0-9][A-Za-z0-9.-]{0,252})?$")
"""A job id as the plugin accepts it: it can never start with ``-`` or hold shell text."""


def is_job_id(text: str) -> bool:
    """Whether ``text`` is a PBS job id (see :data:`JOB_ID`)."""
    return bool(JOB_ID.match(text))


def job_id_from_qsub(stdout: str) -> str | None:
    """The job id ``qsub`` printed: its last non-empty output line, when that line is an id."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    return lines[-1] if lines and is_job_id(lines[-1]) else None


def sequence_number(job_id: str) -> int:
    """The numeric part of ``job_id`` (``123`` for ``123[4].server``); ``-1`` if there is none."""
    digits = re.match(r"[0-9]+", job_id)
    return int(digits.group()) if digits else -1


def same_job(listed: str, wanted: str) -> bool:
    """Whether ``qstat``'s ``listed`` id names the job ``wanted``.

    The sequence parts (``123``, ``123[]``) must be equal. The server parts match when either is
    missing (``123`` against ``123.server``) or one is a dotted prefix of the other (``123.srv``
    against ``123.srv.example.org``). A table listing may cut a long id and mark the cut with
    ``*``; the part before the mark must then be a prefix of ``wanted``.
    """
    cut = listed.endswith("*")
    listed = listed.rstrip("*")
    seq_l, _, server_l = listed.partition(".")
    seq_w, _, server_w = wanted.partition(".")
    if seq_l != seq_w:
        return False
    if cut:
        return wanted.startswith(listed)
    if not server_l or not server_w:
        return True
    return _dotted_prefix(server_l, server_w) or _dotted_prefix(server_w, server_l)


def _dotted_prefix(short: str, long: str) -> bool:
    return long == short or long.startswith(short + ".")
