"""The entry point and what the plugin registers."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable

import rosetta_slurm.plugin
from rosetta_core.kernel import Kernel
from rosetta_core.workload import WorkloadManager
from rosetta_slurm import SlurmOptions, SlurmWorkloadManager


def test_entry_point_is_installed() -> None:
    (entry,) = [e for e in importlib.metadata.entry_points(group="rosetta") if e.name == "slurm"]
    assert entry.value == "rosetta_slurm.plugin"
    assert entry.load() is rosetta_slurm.plugin


def test_kernel_registers_the_manager_with_site_options(
    rosetta_kernel_factory: Callable[..., Kernel],
) -> None:
    kernel = rosetta_kernel_factory(
        {"slurm": rosetta_slurm.plugin},
        plugin_options={"slurm": {"job_dir": "/scratch/jobs", "sacct": "", "timeout": 12}},
    )
    assert kernel.plugin_registrations("slurm") == {
        "workload_managers": ["slurm"],
        "options": ["SlurmOptions"],
    }
    manager = kernel.workload_managers.get("slurm")
    assert isinstance(manager, WorkloadManager) and isinstance(manager, SlurmWorkloadManager)
    assert manager.name == "slurm"
    assert manager.options == SlurmOptions(job_dir="/scratch/jobs", sacct="", timeout=12.0)


def test_no_section_means_defaults(rosetta_kernel_factory: Callable[..., Kernel]) -> None:
    kernel = rosetta_kernel_factory({"slurm": rosetta_slurm.plugin})
    manager = kernel.workload_managers.get("slurm")
    assert isinstance(manager, SlurmWorkloadManager) and manager.options == SlurmOptions()
