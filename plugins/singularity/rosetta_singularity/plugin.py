"""The hook implementations: the entry point ``singularity`` in the ``rosetta`` group points here.

Registers :class:`~rosetta_singularity.engine.SingularityOptions` (the ``[plugin.singularity]``
section) and one engine named ``singularity`` built from those options.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rosetta_core import hookimpl
from rosetta_core.engines import ContainerEngine
from rosetta_singularity.engine import SingularityEngine, SingularityOptions

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel


@hookimpl
def rosetta_register_options(register: Callable[[type[Any]], None]) -> None:
    register(SingularityOptions)


@hookimpl
def rosetta_register_engines(register: Callable[[str, ContainerEngine], None], kernel: Kernel) -> None:
    register("singularity", SingularityEngine(kernel.options(SingularityOptions)))
