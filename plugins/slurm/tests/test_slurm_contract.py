"""The kernel's workload manager contract, against the testbed's real Slurm (local executor)."""

from __future__ import annotations

import pytest

from rosetta_core.testing.contracts import WorkloadManagerContract
from rosetta_core.workload import WorkloadManager
from rosetta_slurm import SlurmOptions, SlurmWorkloadManager

pytestmark = [pytest.mark.testbed, pytest.mark.usefixtures("slurm")]


class TestSlurmContract(WorkloadManagerContract):
    @pytest.fixture
    def workload_manager(self, job_dir: str) -> WorkloadManager:
        return SlurmWorkloadManager(SlurmOptions(job_dir=job_dir))

    @pytest.fixture
    def job_timeout(self) -> float:
        return 90.0  # the testbed's two CPUs may be busy with other jobs
