"""The hook implementations: the entry point ``docker`` in the ``rosetta`` group points here.

Registers :class:`~rosetta_docker.options.DockerOptions` (the ``[plugin.docker]`` section) and one
engine named ``docker`` built from those options. Neither the engine module nor the docker SDK is
imported until the engine is first used, so kernel start-up stays fast and a stopped ``dockerd``
does not stop the kernel from starting; ``rosetta_shutdown`` closes the engine's connections.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rosetta_core import hookimpl
from rosetta_core.engines import ContainerEngine, Observation, ProgressReport, TaskSpec
from rosetta_core.executors import Executor
from rosetta_docker.options import DockerOptions

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel
    from rosetta_docker.engine import DockerEngine

ENGINE_NAME = "docker"


class LazyDockerEngine:
    """The ``docker`` engine, built (with the SDK imported) on first use."""

    name = ENGINE_NAME

    def __init__(self, options: DockerOptions) -> None:
        self.options = options
        self._engine: DockerEngine | None = None

    @property
    def engine(self) -> DockerEngine:
        if self._engine is None:
            from rosetta_docker.engine import DockerEngine

            self._engine = DockerEngine(self.options)
        return self._engine

    def build_command(self, spec: TaskSpec) -> list[str]:
        return self.engine.build_command(spec)

    def pull(self, spec: TaskSpec, executor: Executor, progress: ProgressReport) -> None:
        self.engine.pull(spec, executor, progress)

    def start(self, spec: TaskSpec, executor: Executor) -> str:
        return self.engine.start(spec, executor)

    def poll(self, handle: str, executor: Executor) -> Observation:
        return self.engine.poll(handle, executor)

    def stop(self, handle: str, executor: Executor) -> None:
        self.engine.stop(handle, executor)

    def logs(self, handle: str, executor: Executor, *, tail: int = 1000) -> str:
        return self.engine.logs(handle, executor, tail=tail)

    def list_handles(self, executor: Executor) -> Sequence[str]:
        return self.engine.list_handles(executor)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


@hookimpl
def rosetta_register_options(register: Callable[[type[Any]], None]) -> None:
    register(DockerOptions)


@hookimpl
def rosetta_register_engines(register: Callable[[str, ContainerEngine], None], kernel: Kernel) -> None:
    register(ENGINE_NAME, LazyDockerEngine(kernel.options(DockerOptions)))


@hookimpl
def rosetta_shutdown(kernel: Kernel) -> None:
    if ENGINE_NAME in kernel.engines:
        engine = kernel.engines.get(ENGINE_NAME)
        if isinstance(engine, LazyDockerEngine):
            engine.close()
