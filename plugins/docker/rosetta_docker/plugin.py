"""The hook implementations: the entry point ``docker`` in the ``rosetta`` group points here.

Registers :class:`~rosetta_docker.engine.DockerOptions` (the ``[plugin.docker]`` section) and one
engine named ``docker`` built from those options. The engine connects to the daemon on first use,
so a stopped ``dockerd`` does not stop the kernel from starting; ``rosetta_shutdown`` closes its
connections.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rosetta_core import hookimpl
from rosetta_core.engines import ContainerEngine
from rosetta_docker.engine import DockerEngine, DockerOptions

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel

ENGINE_NAME = "docker"


@hookimpl
def rosetta_register_options(register: Callable[[type[Any]], None]) -> None:
    register(DockerOptions)


@hookimpl
def rosetta_register_engines(register: Callable[[str, ContainerEngine], None], kernel: Kernel) -> None:
    register(ENGINE_NAME, DockerEngine(kernel.options(DockerOptions)))


@hookimpl
def rosetta_shutdown(kernel: Kernel) -> None:
    if ENGINE_NAME in kernel.engines:
        engine = kernel.engines.get(ENGINE_NAME)
        if isinstance(engine, DockerEngine):
            engine.close()
