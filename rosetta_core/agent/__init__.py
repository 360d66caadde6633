"""The in-job agent and the platform's side of it.

A batch task's job runs :mod:`rosetta_core.agent.agent` (stdlib only, Python 3.6+, shipped inside
the job script as the source of ``python3 -c``). On the compute node it starts the container with
the engine's argv, finds the interface's port, writes a status file (and, with a callback URL,
POSTs signed reports), and removes the container when the job is cancelled.

- :mod:`~rosetta_core.agent.request`: what the agent is told, and the argv that launches it.
- :mod:`~rosetta_core.agent.status`: reading what it reports.
- :mod:`~rosetta_core.agent.reports`: the per-task secret and the checks a report must pass.
"""

from rosetta_core.agent.reports import ReportRefused, ReportVerifier, task_secret
from rosetta_core.agent.request import AGENT_SOURCE, AgentRequest, launch_argv
from rosetta_core.agent.status import AgentStatus, parse_status

__all__ = [
    "AGENT_SOURCE",
    "AgentRequest",
    "AgentStatus",
    "ReportRefused",
    "ReportVerifier",
    "launch_argv",
    "parse_status",
    "task_secret",
]
