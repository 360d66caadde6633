"""A minimal Slurm workload manager in one file, to drive the workload-manager contract and the
orchestrator's batch path through a real scheduler. It acts only through the executor.

It is deliberately small; it shows the shape a scheduler plugin takes.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rosetta_core import hookimpl
from rosetta_core.engines import Observation, Observed, TaskSpec
from rosetta_core.errors import BackendError, BackendUnavailable, ExecutorError
from rosetta_core.executors import Executor

_STATES = {
    "PENDING": Observed.PENDING,
    "CONFIGURING": Observed.PENDING,
    "RUNNING": Observed.RUNNING,
    "COMPLETING": Observed.RUNNING,
    "COMPLETED": Observed.EXITED,
}


class MinimalSlurm:
    name = "slurm-minimal"

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir

    def render_script(self, spec: TaskSpec, engine_argv: Sequence[str]) -> str:
        lines = ["#!/bin/bash", f"#SBATCH --job-name={spec.name}", f"#SBATCH --output={self.log_dir}/%j.log"]
        if spec.resources.cpus:
            lines.append(f"#SBATCH --cpus-per-task={spec.resources.cpus}")
        if spec.resources.partition:
            lines.append(f"#SBATCH --partition={spec.resources.partition}")
        lines.append(f"exec {shlex.join(engine_argv)}")
        return "\n".join(lines) + "\n"

    def _run(self, executor: Executor, argv: list[str], script: str | None = None) -> Any:
        try:
            return executor.run(argv, input=script, timeout=30)
        except ExecutorError as exc:
            raise BackendUnavailable(f"{argv[0]}: {exc}") from exc

    def submit(self, script: str, spec: TaskSpec, executor: Executor) -> str:
        result = self._run(executor, ["sbatch", "--parsable"], script)
        if not result.ok:
            raise BackendError(f"sbatch refused the job: {result.stderr.strip()}")
        return str(result.stdout.strip().split(";")[0])

    def _queue(self, executor: Executor) -> list[list[str]]:
        # one call for every job the scheduler still knows, whatever its state
        result = self._run(executor, ["squeue", "-h", "--states=all", "-o", "%i|%T|%j"])
        if not result.ok:
            raise BackendUnavailable(f"squeue failed: {result.stderr.strip()}")
        return [line.split("|") for line in result.stdout.splitlines() if line.count("|") == 2]

    def query_many(self, job_ids: Sequence[str], executor: Executor) -> Mapping[str, Observation]:
        if not job_ids:
            return {}
        known = {job: state for job, state, _ in self._queue(executor)}
        answers: dict[str, Observation] = {}
        for job in job_ids:
            state = known.get(job)
            if state is None:
                answers[job] = Observation(state=Observed.GONE)
            elif state in _STATES:
                answers[job] = Observation(
                    state=_STATES[state], exit_code=0 if state == "COMPLETED" else None
                )
            else:
                answers[job] = Observation(state=Observed.FAILED, detail=f"job {state.lower()}")
        return answers

    def find_jobs(self, names: Sequence[str], executor: Executor) -> Mapping[str, str]:
        wanted = set(names)
        return {name: job for job, _, name in self._queue(executor) if name in wanted}

    def cancel(self, job_id: str, executor: Executor) -> None:
        self._run(executor, ["scancel", job_id])

    def logs(self, job_id: str, executor: Executor, *, tail: int = 1000) -> str:
        try:
            text = executor.get_file(f"{self.log_dir}/{job_id}.log").decode(errors="replace")
        except ExecutorError:
            return ""
        return "\n".join(text.splitlines()[-tail:])


@hookimpl
def rosetta_register_workload_managers(register: Callable[[str, Any], None]) -> None:
    register("slurm-minimal", MinimalSlurm("/tmp"))
