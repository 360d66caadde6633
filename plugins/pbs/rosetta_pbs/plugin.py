"""The hook implementations: the entry point ``pbs`` in the ``rosetta`` group points here.

Registers :class:`~rosetta_pbs.options.PBSOptions` (the ``[plugin.pbs]`` section) and one workload
manager named ``pbs`` built from those options. A computing resource uses it with
``workload_manager = "pbs"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rosetta_core import hookimpl
from rosetta_core.workload import WorkloadManager
from rosetta_pbs.manager import PBSWorkloadManager
from rosetta_pbs.options import PBSOptions

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel


@hookimpl
def rosetta_register_options(register: Callable[[type[Any]], None]) -> None:
    register(PBSOptions)


@hookimpl
def rosetta_register_workload_managers(
    register: Callable[[str, WorkloadManager], None], kernel: Kernel
) -> None:
    register(PBSWorkloadManager.name, PBSWorkloadManager(kernel.options(PBSOptions)))
