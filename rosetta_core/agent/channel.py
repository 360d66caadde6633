"""The platform's side of the agent for one kernel: what a job is told, and reading what it says.

The orchestrator asks :meth:`AgentChannel.launch_argv` for the argv a batch script runs (the agent
with its request); reconcile passes the scheduler's observations through :meth:`refine`, which
reads the agent's status file through the executor only when it matters: a running job whose
interface address is not known yet, or a job that ended (for the container's exit code).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rosetta_core.agent.extensions import AgentExtension
from rosetta_core.agent.reports import task_secret
from rosetta_core.agent.request import AgentRequest, launch_argv, status_path
from rosetta_core.agent.status import AgentStatus, parse_status
from rosetta_core.engines import ContainerEngine, Observation, Observed, TaskSpec, handle_for
from rosetta_core.errors import BackendError, PluginError
from rosetta_core.executors import Executor
from rosetta_core.homes import Homes
from rosetta_core.model import Computing, Task

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel

log = logging.getLogger(__name__)

MAX_STATUS = 64 * 1024
HOME_TIMEOUT = 30.0


class AgentChannel:
    """Builds agent requests and reads agent status files for a kernel. Thread-safe."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self._homes = Homes()

    def home(self, executor: Executor) -> str:
        """The home folder of the account ``executor`` acts as (asked once per executor)."""
        return self._homes.of(executor, HOME_TIMEOUT)

    def launch_argv(
        self, spec: TaskSpec, engine: ContainerEngine, executor: Executor, task: Task | None = None
    ) -> list[str]:
        """The argv a batch script runs for ``spec``: the agent, told to run the engine's argv.

        With ``task``, the extensions plugins return for it (``rosetta_agent_extensions``) go
        along.
        """
        core = self.kernel.config.rosetta
        callback = core.agent_callback_url or None
        request = AgentRequest(
            task=spec.task_id,
            name=spec.name,
            engine=engine.name,
            argv=tuple(engine.build_command(spec)),
            status=status_path(self.home(executor), spec.name),
            port=spec.interface_port,
            bind=core.agent_bind,
            callback_url=callback,
            callback_secret=task_secret(self.kernel.secret, spec.task_id) if callback else None,
            extensions=self.extensions(task) if task is not None else (),
        )
        return launch_argv(request, python=core.agent_python)

    def extensions(self, task: Task) -> tuple[AgentExtension, ...]:
        """What the plugins want the agent of ``task`` to run (``rosetta_agent_extensions``), in
        plugin order; raises :class:`PluginError` for anything that is not an extension or
        for two of the same name."""
        computing = self.kernel.store.get(Computing, task.computing)
        found: list[AgentExtension] = []
        for result in self.kernel.pm.hook.rosetta_agent_extensions(
            task=task, computing=computing, kernel=self.kernel
        ):
            for extension in result or ():
                if not isinstance(extension, AgentExtension):
                    raise PluginError(f"rosetta_agent_extensions returned {type(extension).__name__}")
                if any(e.name == extension.name for e in found):
                    raise PluginError(f"two agent extensions are named {extension.name!r}")
                found.append(extension)
        return tuple(found)

    def status(self, task: Task, executor: Executor) -> AgentStatus | None:
        """The agent's last report for ``task``, or ``None`` when there is none (yet) or it
        cannot be read now."""
        if task.handle is None:
            return None
        try:
            path = status_path(self.home(executor), handle_for(task.id))
            return parse_status(executor.get_file(path, max_bytes=MAX_STATUS), task.id)
        except BackendError as exc:
            log.debug("task %s: no agent status (%s)", task.id, exc)
            return None

    def refine(self, task: Task, obs: Observation, executor: Executor) -> Observation:
        """``obs`` completed with the agent's report where the scheduler cannot know better."""
        needs_address = obs.state is Observed.RUNNING and task.interface_port is None
        ended = obs.state in (Observed.EXITED, Observed.FAILED)
        if not (needs_address or ended):
            return obs
        status = self.status(task, executor)
        return obs if status is None else status.refine(obs)
