"""Fixtures of the Slurm plugin's tests (helpers live in :mod:`rosetta_slurm.testing`).

- ``slurm``: skips the test, printing why, when this machine has no working Slurm (``sbatch``
  missing, or the controller not answering); ``testbed/setup.sh`` provides one.
- ``job_dir``: a fresh absolute job folder for the test; ``manager``: a
  :class:`SlurmWorkloadManager` writing there.
- ``counting``: a :class:`~rosetta_core.testing.counting.CountingExecutor`.
- ``submitted``: a list the test appends job ids to; each is cancelled afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from rosetta_core.errors import BackendError
from rosetta_core.executors import LocalExecutor
from rosetta_core.testing.counting import CountingExecutor
from rosetta_slurm import SlurmOptions, SlurmWorkloadManager
from rosetta_slurm.testing import slurm_unavailable


@pytest.fixture(scope="session")
def slurm() -> None:
    reason = slurm_unavailable()
    if reason is not None:
        print(f"skipping a real-Slurm test: {reason}")
        pytest.skip(reason)


@pytest.fixture
def job_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    # not tmp_path: a parametrized test's folder name holds brackets, which job_dir refuses
    return str(tmp_path_factory.mktemp("jobs"))


@pytest.fixture
def manager(job_dir: str) -> SlurmWorkloadManager:
    return SlurmWorkloadManager(SlurmOptions(job_dir=job_dir))


@pytest.fixture
def counting() -> CountingExecutor:
    return CountingExecutor()


@pytest.fixture
def submitted(manager: SlurmWorkloadManager) -> Iterator[list[str]]:
    jobs: list[str] = []
    yield jobs
    for job in jobs:
        with contextlib.suppress(BackendError):
            manager.cancel(job, LocalExecutor())
