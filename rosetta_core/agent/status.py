"""What the agent reports: :class:`AgentStatus`, parsed strictly from its JSON."""

from __future__ import annotations

import json
from typing import Any

import attrs

from rosetta_core.engines import Observation, Observed

STATES = ("starting", "running", "exited")


@attrs.frozen(kw_only=True)
class AgentStatus:
    """One report: ``state`` is ``starting``, ``running`` (with ``host``/``port``) or ``exited``."""

    task: str
    state: str
    host: str | None = None
    port: int | None = None
    exit_code: int | None = None
    reason: str = ""
    node: str = ""

    def refine(self, obs: Observation) -> Observation:
        """The scheduler's observation completed with what only the agent knows.

        A running job whose agent reports a port gets that address; one whose agent has not yet
        found it stays without (the task stays ``starting``); an ended job gets the container's
        exit code when the scheduler gave none.
        """
        if obs.state is Observed.RUNNING and self.state == "running" and self.port is not None:
            return attrs.evolve(obs, host=self.host or obs.host, port=self.port)
        if obs.state is Observed.RUNNING:
            return attrs.evolve(obs, port=None)
        if obs.state in (Observed.EXITED, Observed.FAILED) and self.state == "exited":
            code = obs.exit_code if obs.exit_code not in (None, 0) else self.exit_code
            state = Observed.EXITED if code in (0, None) else Observed.FAILED
            return attrs.evolve(obs, state=state, exit_code=code)
        return obs


def parse_status(text: str | bytes, task_id: str) -> AgentStatus | None:
    """The report in ``text`` if it is a well-formed one for ``task_id``, else ``None``."""
    try:
        data: Any = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("task") != task_id or data.get("state") not in STATES:
        return None
    port = data.get("port")
    code = data.get("exit_code")
    host = data.get("host")
    if port is not None and not (isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536):
        return None
    if code is not None and not (isinstance(code, int) and not isinstance(code, bool)):
        return None
    if host is not None and not (isinstance(host, str) and 0 < len(host) <= 255 and host.isprintable()):
        return None
    return AgentStatus(
        task=task_id,
        state=data["state"],
        host=host,
        port=port,
        exit_code=code,
        reason=str(data.get("reason", ""))[:200],
        node=str(data.get("node", ""))[:255],
    )
