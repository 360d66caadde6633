"""The plugin's hooks: what it registers, built from the [plugin.pbs] section."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

import pytest

import rosetta_pbs.plugin
from rosetta_core.errors import RosettaError
from rosetta_core.kernel import Kernel
from rosetta_core.workload import WorkloadManager
from rosetta_pbs.manager import PBSWorkloadManager
from rosetta_pbs.options import PBSOptions


def test_registers_the_manager_and_its_options(rosetta_kernel_factory: Callable[..., Kernel]) -> None:
    kernel = rosetta_kernel_factory(
        {"pbs": rosetta_pbs.plugin}, plugin_options={"pbs": {"dialect": "torque", "job_dir": "/scratch/jobs"}}
    )
    assert kernel.plugin_registrations("pbs") == {"workload_managers": ["pbs"], "options": ["PBSOptions"]}
    wm = kernel.workload_managers.get("pbs")
    assert isinstance(wm, PBSWorkloadManager) and isinstance(wm, WorkloadManager)
    assert wm.options is kernel.options(PBSOptions)
    assert (wm.options.dialect, wm.options.job_dir) == ("torque", "/scratch/jobs")


def test_a_bad_section_names_the_field(rosetta_kernel_factory: Callable[..., Kernel]) -> None:
    with pytest.raises(RosettaError, match=r"\$\.plugin\.pbs\.dialect"):
        rosetta_kernel_factory({"pbs": rosetta_pbs.plugin}, plugin_options={"pbs": {"dialect": "sge"}})


def test_entry_point_is_installed() -> None:
    found = [ep for ep in entry_points(group="rosetta") if ep.name == "pbs"]
    assert [ep.value for ep in found] == ["rosetta_pbs.plugin"]
    assert found[0].load() is rosetta_pbs.plugin
