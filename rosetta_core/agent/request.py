"""What the agent is told (:class:`AgentRequest`) and the argv that launches it."""

from __future__ import annotations

import json
from pathlib import Path

import attrs

from rosetta_core.agent.extensions import AgentExtension

AGENT_SOURCE = (Path(__file__).parent / "agent.py").read_text(encoding="utf-8")
"""The agent's source, passed whole to ``python3 -c``: nothing is fetched on the node."""

PORT_ENV = "BASE_PORT"


@attrs.frozen(kw_only=True)
class AgentRequest:
    """One task's instructions for the agent.

    ``argv`` is the engine's foreground argv (``build_command``); for Podman and Docker the agent
    publishes ``port`` on ``bind`` and reads the chosen host port back; for engines sharing the
    host's network it picks a free port and passes it in the ``port_env`` variable of ``argv``.
    ``status`` is the absolute path of the status file the platform reads. ``extensions`` run
    beside the task once its interface listens (:mod:`rosetta_core.agent.extensions`).
    """

    task: str
    name: str
    engine: str
    argv: tuple[str, ...]
    status: str
    port: int | None = None
    bind: str = "127.0.0.1"
    port_env: str = PORT_ENV
    callback_url: str | None = None
    callback_secret: str | None = attrs.field(default=None, repr=False)
    extensions: tuple[AgentExtension, ...] = ()

    def to_json(self) -> str:
        """The request as the agent reads it (one argv entry)."""
        callback = None
        if self.callback_url:
            callback = {"url": self.callback_url, "secret": self.callback_secret or ""}
        return json.dumps(
            {
                "task": self.task,
                "name": self.name,
                "engine": self.engine,
                "argv": list(self.argv),
                "status": self.status,
                "port": self.port,
                "bind": self.bind,
                "port_env": self.port_env,
                "callback": callback,
                "extensions": [extension.to_dict() for extension in self.extensions],
            },
            sort_keys=True,
        )


def launch_argv(request: AgentRequest, python: str = "python3") -> list[str]:
    """``[python, "-c", AGENT_SOURCE, request-json]``: what a batch script runs (quoted by it)."""
    return [python, "-c", AGENT_SOURCE, request.to_json()]


def status_path(home: str, name: str) -> str:
    """Where the agent of the task whose handle is ``name`` writes its status, under ``home``."""
    return f"{home.rstrip('/')}/.rosetta/agent/{name}.json"
