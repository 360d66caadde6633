"""The hook implementations: the entry point ``slurm`` in the ``rosetta`` group points here.

Registers :class:`~rosetta_slurm.options.SlurmOptions` (the ``[plugin.slurm]`` section) and one
workload manager named ``slurm`` built from those options.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rosetta_core import hookimpl
from rosetta_core.workload import WorkloadManager
from rosetta_slurm.manager import SlurmWorkloadManager
from rosetta_slurm.options import SlurmOptions

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel


@hookimpl
def rosetta_register_options(register: Callable[[type[Any]], None]) -> None:
    register(SlurmOptions)


@hookimpl
def rosetta_register_workload_managers(
    register: Callable[[str, WorkloadManager], None], kernel: Kernel
) -> None:
    register("slurm", SlurmWorkloadManager(kernel.options(SlurmOptions)))
