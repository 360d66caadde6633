"""Fakes for testing the kernel's own logic. They are fakes: no real engine or host is involved.

- :class:`ScriptedExecutor` answers commands from a script of expected argv prefixes.
- :class:`FakeEngine` keeps containers in a dictionary and can be told to be unreachable.
- :class:`FakeWorkloadManager` keeps jobs in a dictionary and counts the scheduler queries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import attrs

from rosetta_core import hookimpl
from rosetta_core.engines import HANDLE_PREFIX, Observation, Observed, TaskSpec
from rosetta_core.errors import BackendError, BackendUnavailable, ExecutorError
from rosetta_core.executors import DEFAULT_TIMEOUT, MAX_OUTPUT, CommandResult, Executor, check_argv


@attrs.define
class ScriptedCall:
    """One command the :class:`ScriptedExecutor` received."""

    argv: tuple[str, ...]
    input: str | None
    timeout: float


class ScriptedExecutor:
    """An executor that answers from a script instead of running anything.

    ``expect(prefix, stdout=..., returncode=...)`` adds an answer for any argv starting with
    ``prefix``; the most recently added match wins and answers stay until replaced. An argv with no
    answer raises :class:`ExecutorError`, so a test notices a command it did not expect. Every call
    is recorded in ``calls``; files live in ``files``.
    """

    name = "scripted"

    def __init__(self) -> None:
        self.calls: list[ScriptedCall] = []
        self.files: dict[str, bytes] = {}
        self._answers: list[tuple[tuple[str, ...], CommandResult | BaseException]] = []

    def expect(
        self,
        prefix: Sequence[str],
        *,
        stdout: str = "",
        stderr: str = "",
        returncode: int = 0,
        raises: BaseException | None = None,
    ) -> None:
        result: CommandResult | BaseException = raises or CommandResult(
            argv=tuple(prefix), returncode=returncode, stdout=stdout, stderr=stderr
        )
        self._answers.append((tuple(prefix), result))

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        args = check_argv(argv)
        self.calls.append(ScriptedCall(argv=args, input=input, timeout=timeout))
        for prefix, result in reversed(self._answers):
            if args[: len(prefix)] == prefix:
                if isinstance(result, BaseException):
                    raise result
                return attrs.evolve(result, argv=args)
        raise ExecutorError(f"scripted executor has no answer for {list(args)!r}")

    def put_file(self, path: str, content: bytes, *, mode: int = 0o600) -> None:
        self.files[path] = content

    def get_file(self, path: str, *, max_bytes: int = MAX_OUTPUT) -> bytes:
        try:
            return self.files[path][-max_bytes:]
        except KeyError:
            raise ExecutorError(f"no such file: {path}") from None

    def argvs(self) -> list[tuple[str, ...]]:
        """The argv of every call, in order."""
        return [c.argv for c in self.calls]


@attrs.define
class FakeContainer:
    spec: TaskSpec
    state: Observed = Observed.RUNNING
    exit_code: int | None = None
    host: str | None = "127.0.0.1"
    port: int | None = None
    output: str = ""


class FakeEngine:
    """An in-memory container engine for orchestrator tests.

    Set ``unavailable`` to make every call raise :class:`BackendUnavailable`, ``fail_start`` to make
    ``start`` raise :class:`BackendError`; change ``containers[handle].state`` to simulate exits.
    """

    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.containers: dict[str, FakeContainer] = {}
        self.unavailable = False
        self.fail_start: str | None = None
        self.starts = 0
        self.next_port = 20000
        self.pull_progress: list[str] = []  # lines ``pull`` reports
        self.fail_pull: str | None = None

    def _check(self) -> None:
        if self.unavailable:
            raise BackendUnavailable(f"{self.name} engine is unreachable")

    def build_command(self, spec: TaskSpec) -> list[str]:
        return [self.name, "run", "--name", spec.name, spec.image, *spec.command]

    def pull(self, spec: TaskSpec, executor: Executor, progress: Callable[[str], None]) -> None:
        self._check()
        for line in self.pull_progress:
            progress(line)
        if self.fail_pull:
            raise BackendError(self.fail_pull)

    def start(self, spec: TaskSpec, executor: Executor) -> str:
        self._check()
        if self.fail_start:
            raise BackendError(self.fail_start)
        if spec.name in self.containers:
            raise BackendError(f"container {spec.name} already exists")
        self.starts += 1
        port = None
        if spec.interface_port is not None:
            self.next_port += 1
            port = self.next_port
        self.containers[spec.name] = FakeContainer(spec=spec, port=port)
        return spec.name

    def poll(self, handle: str, executor: Executor) -> Observation:
        self._check()
        box = self.containers.get(handle)
        if box is None:
            return Observation(state=Observed.GONE)
        return Observation(
            state=box.state,
            exit_code=box.exit_code,
            host=box.host,
            port=box.port,
            labels=dict(box.spec.labels),
        )

    def stop(self, handle: str, executor: Executor) -> None:
        self._check()
        self.containers.pop(handle, None)

    def logs(self, handle: str, executor: Executor, *, tail: int = 1000) -> str:
        self._check()
        box = self.containers.get(handle)
        return "\n".join(box.output.splitlines()[-tail:]) if box else ""

    def list_handles(self, executor: Executor) -> list[str]:
        self._check()
        return [h for h in self.containers if h.startswith(HANDLE_PREFIX)]


class FakeWorkloadManager:
    """An in-memory scheduler for orchestrator tests: jobs in ``jobs`` (set their observations to
    simulate the scheduler), ``queries`` counts ``query_many`` calls, ``unavailable`` makes the
    queries raise :class:`BackendUnavailable`."""

    name = "fakebatch"

    def __init__(self) -> None:
        self.jobs: dict[str, Observation] = {}
        self.names: dict[str, str] = {}
        self.queries = 0
        self.unavailable = False
        self.scripts: list[str] = []

    def render_script(self, spec: TaskSpec, engine_argv: Sequence[str]) -> str:
        return f"#!/bin/sh\n# job {spec.name}\n{' '.join(engine_argv)}\n"

    def submit(self, script: str, spec: TaskSpec, executor: Executor) -> str:
        job = str(1000 + len(self.jobs))
        self.jobs[job] = Observation(state=Observed.PENDING)
        self.names[spec.name] = job
        self.scripts.append(script)
        return job

    def query_many(self, job_ids: Sequence[str], executor: Executor) -> Mapping[str, Observation]:
        self.queries += 1
        if self.unavailable:
            raise BackendUnavailable("scheduler down")
        return {j: self.jobs.get(j, Observation(state=Observed.GONE)) for j in job_ids}

    def find_jobs(self, names: Sequence[str], executor: Executor) -> Mapping[str, str]:
        return {n: self.names[n] for n in names if n in self.names}

    def cancel(self, job_id: str, executor: Executor) -> None:
        self.jobs[job_id] = Observation(state=Observed.FAILED, detail="cancelled")

    def logs(self, job_id: str, executor: Executor, *, tail: int = 1000) -> str:
        return f"log of {job_id}"


class FakeEnginePlugin:
    """A plugin registering ``engine`` (a :class:`FakeEngine`, by its name): pass it to
    ``rosetta_kernel_factory`` to run tasks on the fake engine."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine

    @hookimpl
    def rosetta_register_engines(self, register: Callable[[str, FakeEngine], None]) -> None:
        register(self.engine.name, self.engine)
