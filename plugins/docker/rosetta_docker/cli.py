"""The command-line path: docker driven through the computing resource's executor.

The engine takes this path when :func:`runs_command_line` says so: the executor acts on another
host (its name is not the core's local executor's, ``"local"``) and the option ``base_url`` does
not name a daemon for the SDK. :class:`DockerCommandLine` then runs the ``docker`` program (option
``binary``) on that host, one argv list per step (:mod:`rosetta_docker.argv`), never a shell
string, and reads what it prints as the SDK path reads the daemon's answers
(:mod:`rosetta_docker.records`), so both paths observe the same things and say the same words.

Errors start with ``docker:``:

- :class:`~rosetta_core.errors.BackendUnavailable`: the daemon or the host could not be asked
  (docker says it cannot connect to the daemon, the command timed out, the executor lost its host
  or raised ``BackendUnavailable`` itself);
- :class:`~rosetta_core.errors.BackendError`: docker answered and refused, the ``docker`` program
  is missing there, or the user may not use the daemon.

Other errors of the executor about the host itself (an untrusted host key, refused credentials)
pass through unchanged.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from rosetta_core.engines import HANDLE_PREFIX, Observation, Observed, ProgressReport, TaskSpec
from rosetta_core.errors import (
    BackendError,
    BackendUnavailable,
    CommandNotFound,
    CommandTimeout,
    ExecutorError,
)
from rosetta_core.executors import CommandResult, Executor, LocalExecutor
from rosetta_docker import argv
from rosetta_docker.options import DockerOptions
from rosetta_docker.records import (
    container_names,
    inspect_list,
    merge_logs,
    parse_inspect,
    pull_needed,
    pull_output_lines,
)

LOCAL_EXECUTOR = LocalExecutor.name
"""The name of the executor acting on this machine: the engine uses the SDK with it."""

WORDS_TAIL = 1500
"""At most this many characters of docker's error output end a message."""

_DAEMON_ANSWERED = "Error response from daemon"
# what the docker program says when it cannot reach the daemon (only if the daemon did not answer)
_UNREACHABLE = re.compile(r"cannot connect to the docker daemon|error during connect", re.IGNORECASE)
_DENIED = re.compile(r"permission denied while trying to connect to the docker", re.IGNORECASE)
_NO_SUCH_CONTAINER = re.compile(r"no such (container|object)", re.IGNORECASE)
_NO_SUCH_IMAGE = re.compile(r"no such (image|object)", re.IGNORECASE)
_NAME_IN_USE = re.compile(r"container name \S+ is already in use", re.IGNORECASE)
_REMOVAL_IN_PROGRESS = re.compile(r"removal of container \S+ is already in progress", re.IGNORECASE)
# docker's hint after a usage error, and the prefixes of its error lines: not the daemon's words
_HINT = re.compile(r"^(Run|See) '\S+ .*--help'")
_PREFIXES = ("docker: ", "Error response from daemon: ", "Error: ")


def runs_command_line(options: DockerOptions, executor: Executor) -> bool:
    """Whether the engine drives docker through ``executor``'s command line (else: the SDK).

    The rule: an executor named other than ``"local"`` acts on another host, where only a command
    run through it reaches that host's daemon; the local executor, or a ``base_url`` naming a
    daemon (``ssh://``, ``tcp://``, a socket), means the SDK, which talks to the daemon itself.
    """
    return not options.base_url and executor.name != LOCAL_EXECUTOR


class DockerCommandLine:
    """The engine's operations as ``docker`` commands run through an executor.

    Each method takes the executor to run them with; the object keeps nothing between calls but
    its options. Behaviour and errors are those of :class:`~rosetta_docker.engine.DockerEngine`
    (see the module's documentation for how failures are classed).
    """

    def __init__(self, options: DockerOptions) -> None:
        self.options = options

    # ---------------------------------------------------------------- images

    def ensure_image(self, spec: TaskSpec, executor: Executor, progress: ProgressReport) -> None:
        """Make sure the daemon has ``spec.image``, pulling it as ``pull_policy`` says.

        ``never``: ``docker image inspect`` must find it; ``missing``: ``docker pull`` unless the
        daemon has it for the spec's architecture; ``always``: ``docker pull``. The executor
        returns output only when a command ends, so progress comes as ``pulling <ref>`` before the
        pull, then docker's own lines (``<layer>: Pull complete``, ``Status: ...``) and ``pulled
        <ref>`` after it.
        """
        pull = argv.pull_argv(self.options, spec)  # checks the spec first
        policy = self.options.pull_policy
        image = None if policy == "always" else self._local_image(spec.image, executor)
        if not pull_needed(policy, image, spec.image, spec.arch):
            return
        what = f"cannot pull image {spec.image}"
        platform = f" for {argv.platform_of(spec.arch)}" if spec.arch else ""
        progress(f"pulling {spec.image}{platform}")
        result = self._run(executor, pull, what, timeout=self.options.pull_timeout)
        if not result.ok:
            raise self._failure(what, result)
        for line in pull_output_lines(result.stdout):
            progress(line)
        progress(f"pulled {spec.image}")

    def _local_image(self, image: str, executor: Executor) -> Mapping[str, Any] | None:
        """The daemon's record of a local image, or ``None`` when it has no such image."""
        what = f"cannot inspect image {image}"
        result = self._run(executor, argv.image_inspect_argv(self.options, image), what)
        if not result.ok:
            if _NO_SUCH_IMAGE.search(_last_words(result)):
                return None
            raise self._failure(what, result)
        return inspect_list(result.stdout, what)

    # ---------------------------------------------------------------- containers

    def start(self, spec: TaskSpec, executor: Executor, *, pulled: bool) -> str:
        """``docker run -d`` for ``spec``; return its handle, ``spec.name``.

        Unless ``pulled`` (the engine's ``pull`` has just made the image available), the pull
        policy is applied first (silently). A container already named ``spec.name`` counts as
        started, and is started if it was only created. A failed run removes what it created.
        """
        run = argv.start_argv(self.options, spec)  # checks the spec first
        if not pulled:
            self.ensure_image(spec, executor, _ignore)
        result = self._run(executor, run, f"cannot start container {spec.name}")
        if result.ok:
            return spec.name
        if _NAME_IN_USE.search(result.stderr):
            return self._resume(spec, executor)
        # `run -d` prints the container's id once it is created, even if it then fails to start
        stage = "start" if result.stdout.strip() else "create"
        failure = self._failure(f"cannot {stage} container {spec.name}", result)
        if not isinstance(failure, BackendUnavailable):
            self._remove_quietly(spec.name, executor)
        raise failure

    def _resume(self, spec: TaskSpec, executor: Executor) -> str:
        """``spec.name`` exists already: start it if an interrupted attempt left it created."""
        record = self._inspect(spec.name, executor)
        if record is None:
            # removed between the two commands: poll says GONE, and the orchestrator starts it again
            raise BackendUnavailable(f"docker: container {spec.name} vanished while starting")
        labels = _mapping(_mapping(record.get("Config")).get("Labels"))
        if labels.get(argv.MANAGED_LABEL) != "1":
            raise BackendError(f"docker: a container named {spec.name} exists and rosetta did not start it")
        if str(_mapping(record.get("State")).get("Status", "")).lower() == "created":
            what = f"cannot start container {spec.name}"
            result = self._run(executor, argv.start_created_argv(self.options, spec.name), what)
            if not result.ok:
                failure = self._failure(what, result)
                if not isinstance(failure, BackendUnavailable):
                    self._remove_quietly(spec.name, executor)
                raise failure
        return spec.name

    def _remove_quietly(self, name: str, executor: Executor) -> None:
        """Remove what a failed start left behind; the start's own error is the one to report."""
        with contextlib.suppress(BackendError):
            self._run(executor, argv.remove_argv(self.options, name), f"cannot remove container {name}")

    def _inspect(self, handle: str, executor: Executor) -> Mapping[str, Any] | None:
        """The daemon's record of container ``handle``, or ``None`` when it has no such container."""
        what = f"cannot inspect container {handle}"
        result = self._run(executor, argv.inspect_argv(self.options, handle), what)
        if not result.ok:
            if _NO_SUCH_CONTAINER.search(_last_words(result)):
                return None
            raise self._failure(what, result, refused=BackendUnavailable)
        return inspect_list(result.stdout, what)

    def poll(self, handle: str, executor: Executor) -> Observation:
        """``docker container inspect``, read as the SDK path reads the daemon's record."""
        if not argv.DOCKER_NAME.fullmatch(handle):
            return Observation(state=Observed.GONE, detail="not a docker container name")
        record = self._inspect(handle, executor)
        if record is None:
            return Observation(state=Observed.GONE, detail="no such container")
        return parse_inspect(record)

    def stop(self, handle: str, executor: Executor) -> None:
        """``docker stop -t <stop_timeout>`` (skipped for 0), then ``docker rm -f -v``; gone is fine."""
        if not argv.DOCKER_NAME.fullmatch(handle):
            return
        if self.options.stop_timeout > 0:
            what = f"cannot stop container {handle}"
            limit = self.options.timeout + self.options.stop_timeout
            result = self._run(executor, argv.stop_argv(self.options, handle), what, timeout=limit)
            if not result.ok:
                if _NO_SUCH_CONTAINER.search(_last_words(result)):
                    return
                failure = self._failure(what, result)
                if isinstance(failure, BackendUnavailable):
                    raise failure
                # a refusal: the forced removal below kills it anyway, or says why it cannot
        what = f"cannot remove container {handle}"
        result = self._run(executor, argv.remove_argv(self.options, handle), what)
        words = _last_words(result)
        if result.ok or _NO_SUCH_CONTAINER.search(words) or _REMOVAL_IN_PROGRESS.search(words):
            return  # gone already, or another stop got there first
        raise self._failure(what, result)

    def logs(self, handle: str, executor: Executor, tail: int) -> str:
        """``docker logs --timestamps --tail``, both streams merged by time; ``""`` when gone."""
        if tail <= 0 or not argv.DOCKER_NAME.fullmatch(handle):
            return ""
        what = f"cannot read the logs of container {handle}"
        result = self._run(executor, argv.logs_argv(self.options, handle, tail), what)
        if not result.ok:
            # stderr holds the container's own stderr too: docker's error is its last line
            words = _last_words(result)
            if _NO_SUCH_CONTAINER.search(words):
                return ""
            raise self._failure(what, result, words=words)
        return merge_logs(result.stdout, result.stderr, tail)

    def list_handles(self, executor: Executor) -> list[str]:
        """``docker ps -a`` of the containers labelled ``rosetta.managed=1``, named ``rosetta-*``."""
        what = "cannot list containers"
        result = self._run(executor, argv.list_argv(self.options), what)
        if not result.ok:
            raise self._failure(what, result, refused=BackendUnavailable)
        return sorted({name for name in container_names(result.stdout) if name.startswith(HANDLE_PREFIX)})

    # ---------------------------------------------------------------- running and errors

    def _run(
        self, executor: Executor, command: list[str], what: str, *, timeout: float | None = None
    ) -> CommandResult:
        """Run ``command`` through ``executor``; raise when it could not be run at all."""
        limit = self.options.timeout if timeout is None else timeout
        try:
            return executor.run(command, timeout=limit)
        except CommandTimeout as exc:
            raise BackendUnavailable(
                f"docker: {what}: {command[0]} did not answer within {limit:g} s"
            ) from exc
        except CommandNotFound as exc:
            # not a passing fault: tasks fail with this reason rather than wait in "unknown"
            raise BackendError(
                f"docker: {what}: {exc}; is docker installed on this computing resource?"
            ) from exc
        except (ExecutorError, BackendUnavailable) as exc:
            raise BackendUnavailable(f"docker: {what}: {exc}") from exc

    def _failure(
        self,
        what: str,
        result: CommandResult,
        *,
        refused: type[BackendError] = BackendError,
        words: str | None = None,
    ) -> BackendError:
        """The error for a docker command that failed; ``refused`` is the class for a refusal."""
        said = _words(result) if words is None else words
        if _DENIED.search(said):
            # lasting: the task fails with this reason instead of waiting in "unknown"
            return BackendError(f"docker: {what}: {said}; may this user use docker (the docker group)?")
        if _DAEMON_ANSWERED not in result.stderr and _UNREACHABLE.search(said):
            return BackendUnavailable(f"docker: {what}: {said}")
        return refused(f"docker: {what}: {said}")


def _meaningful_lines(result: CommandResult) -> list[str]:
    """docker's error lines without its ``--help`` hints and the prefixes it adds."""
    lines = []
    for raw in (result.stderr.strip() or result.stdout.strip()).splitlines():
        line = raw.strip()
        if not line or _HINT.match(line):
            continue
        for prefix in _PREFIXES:
            line = line.removeprefix(prefix)
        lines.append(line)
    return lines


def _words(result: CommandResult) -> str:
    """What docker said about its failure (the tail of its error output), on one line."""
    said = " ".join(_meaningful_lines(result))[-WORDS_TAIL:]
    return said or f"{result.argv[0]} exited with {result.returncode} and said nothing"


def _last_words(result: CommandResult) -> str:
    """docker's last error line: where it says why it failed."""
    lines = _meaningful_lines(result)
    return lines[-1][-WORDS_TAIL:] if lines else f"{result.argv[0]} exited with {result.returncode}"


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _ignore(_line: str) -> None:
    """A progress report that goes nowhere (``start`` pulling without a caller to tell)."""


__all__: Sequence[str] = ["LOCAL_EXECUTOR", "DockerCommandLine", "runs_command_line"]
