"""The hook implementations: the entry point ``reverse`` in the ``rosetta`` group points here.

Registers :class:`~rosetta_reverse.options.ReverseOptions` (the ``[plugin.reverse]`` section) and
the tunnel ``reverse`` (:class:`~rosetta_reverse.tunnel.ReverseTunnel`), which accepts an agent
only for a task that exists and has not ended; gives the agent of every batch task on a resource
whose ``tunnel`` or ``transport`` option is ``reverse`` the extension that dials the platform
(``rosetta_agent_extensions``); closes the listener when the kernel shuts down.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rosetta_core import hookimpl
from rosetta_core.agent.extensions import AgentExtension
from rosetta_core.errors import RosettaError
from rosetta_core.model import Computing, Task
from rosetta_core.tunnels import Tunnel
from rosetta_reverse.options import ReverseOptions
from rosetta_reverse.tunnel import ReverseTunnel

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel


def uses_reverse(computing: Computing) -> bool:
    """Whether tasks on ``computing`` are reached through the reverse tunnel."""
    return ReverseTunnel.name in (computing.options.get("tunnel"), computing.options.get("transport"))


@hookimpl
def rosetta_register_options(register: Callable[[type[Any]], None]) -> None:
    register(ReverseOptions)


@hookimpl
def rosetta_register_tunnels(register: Callable[[str, Tunnel], None], kernel: Kernel) -> None:
    def accepts(task_id: str) -> bool:
        try:
            return not kernel.store.get_task(task_id).status.is_terminal
        except (RosettaError, ValueError):  # unknown, or not even an id: whatever an agent sent
            return False

    register(
        ReverseTunnel.name,
        ReverseTunnel(lambda: kernel.secret, kernel.options(ReverseOptions), accepts=accepts),
    )


@hookimpl
def rosetta_agent_extensions(task: Task, computing: Computing, kernel: Kernel) -> list[AgentExtension] | None:
    if not uses_reverse(computing):
        return None
    tunnel = kernel.tunnels.get(ReverseTunnel.name)
    return [tunnel.extension(task)] if isinstance(tunnel, ReverseTunnel) else None


@hookimpl
def rosetta_shutdown(kernel: Kernel) -> None:
    if ReverseTunnel.name in kernel.tunnels:
        tunnel = kernel.tunnels.get(ReverseTunnel.name)
        if isinstance(tunnel, ReverseTunnel):
            tunnel.close_all()
