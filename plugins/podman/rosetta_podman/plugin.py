"""The hook implementations: the entry point ``podman`` in the ``rosetta`` group points here.

Registers :class:`~rosetta_podman.engine.PodmanOptions` (the ``[plugin.podman]`` section) and one
engine named ``podman`` built from those options.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rosetta_core import hookimpl
from rosetta_core.engines import ContainerEngine
from rosetta_podman.engine import PodmanEngine, PodmanOptions

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel


@hookimpl
def rosetta_register_options(register: Callable[[type[Any]], None]) -> None:
    register(PodmanOptions)


@hookimpl
def rosetta_register_engines(register: Callable[[str, ContainerEngine], None], kernel: Kernel) -> None:
    register("podman", PodmanEngine(kernel.options(PodmanOptions)))
