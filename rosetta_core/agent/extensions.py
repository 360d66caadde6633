"""Code a plugin ships to the in-job agent: :class:`AgentExtension`.

The agent of a batch task (``rosetta_core/agent/agent.py``) runs on the compute node, from the job
script, with nothing installed there. A plugin that needs code beside the task (the reverse
tunnel's dialer) returns an extension from the hook ``rosetta_agent_extensions``: its source is
sent whole inside the agent's request, and once the task's interface listens the agent runs it.

The source must use the standard library only and Python 3.6 syntax, and define::

    def start(config, host, port, log):   # -> an object with a stop() method
        ...

``start`` is called once, on the agent's main thread, after the agent has reported the task
running at ``host:port`` on the node (``port`` ``None`` for software without an interface); it
must return quickly (start a thread for long work). ``log(message)`` writes to the job's error
output. ``stop()`` is called when the task ends (the agent then exits, daemon threads with it).
An extension that raises is logged and left out; the task goes on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from rosetta_core import validators as v

MAX_SOURCE = 256 * 1024
"""The largest source accepted: the request travels as one argument of the job's command line."""


def _check_source(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or "def start(" not in value:
        raise v.FieldError(attribute.name, "must be Python source defining start(config, host, port, log)")
    if len(value.encode()) > MAX_SOURCE or "\x00" in value:
        raise v.FieldError(attribute.name, f"must be at most {MAX_SOURCE} bytes, without NUL bytes")


def _check_config(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise v.FieldError(attribute.name, "must be a JSON object of plain values") from None
    if not isinstance(value, Mapping):
        raise v.FieldError(attribute.name, "must be a JSON object of plain values")


@attrs.frozen(kw_only=True)
class AgentExtension:
    """One extension: ``name`` (a plain name, shown in the job's log), ``source`` (see the module
    docstring) and ``config`` (JSON-able; it is written into the job script, so it may carry a
    per-task secret but nothing broader)."""

    name: str = attrs.field(validator=v.name)
    source: str = attrs.field(validator=_check_source, repr=False)
    config: Mapping[str, Any] = attrs.field(factory=dict, validator=_check_config, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The extension as the agent reads it from its request."""
        return {"name": self.name, "source": self.source, "config": dict(self.config)}
