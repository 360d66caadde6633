"""The workload manager interface: batch schedulers such as Slurm or PBS.

A computing resource whose ``workload_manager`` is ``"none"`` runs the engine directly; any other
name is looked up in the kernel's registry of workload managers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from rosetta_core.engines import Observation, TaskSpec
from rosetta_core.executors import Executor

NO_WORKLOAD_MANAGER = "none"


@runtime_checkable
class WorkloadManager(Protocol):
    """A batch scheduler.

    Contract (checked by :class:`rosetta_core.testing.contracts.WorkloadManagerContract`):

    - ``render_script(spec, engine_argv)`` is pure; it returns a batch script whose job name is
      ``spec.name`` and which runs ``engine_argv`` with every argument shell-quoted.
    - ``submit(script, spec, executor)`` returns the job id.
    - ``query_many(job_ids, executor)`` asks the scheduler once for all ids and answers for every id:
      ``GONE`` only when the scheduler positively does not know the job. When the scheduler cannot be
      asked it raises :class:`~rosetta_core.errors.BackendUnavailable`.
    - ``find_jobs(names, executor)`` maps job names to ids for jobs the scheduler still knows, so a
      submission cut short by a crash is found again. It is only called for such submissions (and
      for a stop that meets one), so a normal pass makes one scheduler call per resource.
    - ``cancel(job_id, executor)``; cancelling a finished job is not an error.
    """

    name: str

    def render_script(self, spec: TaskSpec, engine_argv: Sequence[str]) -> str: ...

    def submit(self, script: str, spec: TaskSpec, executor: Executor) -> str: ...

    def query_many(self, job_ids: Sequence[str], executor: Executor) -> Mapping[str, Observation]: ...

    def find_jobs(self, names: Sequence[str], executor: Executor) -> Mapping[str, str]: ...

    def cancel(self, job_id: str, executor: Executor) -> None: ...

    def logs(self, job_id: str, executor: Executor, *, tail: int = 1000) -> str: ...
