"""The Podman container engine.

Every effect is one ``podman`` argv run through the :class:`~rosetta_core.executors.Executor` the
caller passes, so the same engine drives podman on this machine or, through an SSH executor, on
another one. Values (environment, labels, paths, the command) always travel as whole argv entries,
never through a shell.

Containers started by :meth:`PodmanEngine.start` carry the labels ``rosetta.managed=1`` (how
:meth:`PodmanEngine.list_handles` finds them) and, when the task has an interface,
``rosetta.interface_port=<port>`` (how :meth:`PodmanEngine.poll` knows which published port to
report).
"""

from __future__ import annotations

import contextlib
import heapq
import json
import math
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from rosetta_core.engines import (
    HANDLE_PREFIX,
    Observation,
    Observed,
    ProgressReport,
    TaskSpec,
    published_address,
)
from rosetta_core.errors import (
    BackendError,
    BackendUnavailable,
    CommandNotFound,
    CommandTimeout,
    ExecutorError,
)
from rosetta_core.executors import CommandResult, Executor
from rosetta_core.validators import FieldError

PULL_POLICIES = frozenset({"always", "missing", "never", "newer"})
MANAGED_LABEL = "rosetta.managed"
PORT_LABEL = "rosetta.interface_port"
LOCALHOST = "127.0.0.1"
STOP_GRACE = 5
"""Seconds ``stop`` gives the container's main process between SIGTERM and SIGKILL."""

STDERR_TAIL = 1500
PULL_PROGRESS_LINES = 5
"""How many of podman's own pull lines (``Copying blob ...``) :meth:`PodmanEngine.pull` reports."""
# podman's own rule for container names; anything else cannot name a container
_PODMAN_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NO_SUCH = re.compile(r"no such (container|object)", re.IGNORECASE)
_NAME_IN_USE = re.compile(r"name \S+ is already in use", re.IGNORECASE)
_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")
# podman's own diagnostics (logrus), as opposed to a container's output
_PODMAN_DIAGNOSTIC = re.compile(r'^time="[^"]*" level=')
_PENDING_STATUSES = frozenset({"created", "configured", "initialized"})
_EXITED_STATUSES = frozenset({"exited", "stopped", "removing"})
# host[:port] of a registry: a DNS name or IPv4 address, or a bracketed IPv6 address
_REGISTRY = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[1-9][0-9]{0,4}))?$"
)
# what podman writes while pulling that is worth a progress line
_PULL_LINE = re.compile(r"^(Trying to pull|Copying (blob|config)|Writing manifest)\b")
_PULL_NOISE = re.compile(
    r"^(Trying to pull|Getting image source signatures|Copying |Writing manifest|Storing signatures)"
)


def _pull_policy(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or value not in PULL_POLICIES:
        choices = ", ".join(repr(p) for p in sorted(PULL_POLICIES))
        raise FieldError(attribute.name, f"{value!r} is not one of {choices}")


def _binary(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise FieldError(attribute.name, "must be a program name or path")


def _timeout(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise FieldError(attribute.name, "must be a positive number of seconds")


def _insecure_registries(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, tuple):
        raise FieldError(attribute.name, "must be a list of registries (host or host:port)")
    for entry in value:
        match = _REGISTRY.fullmatch(entry) if isinstance(entry, str) else None
        if match is None or int(match.group("port") or 1) > 65535:
            raise FieldError(attribute.name, f"{entry!r} is not a registry (host or host:port)")


def _extra_args(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, tuple) or not all(isinstance(a, str) and "\x00" not in a for a in value):
        raise FieldError(attribute.name, "must be a list of strings")


@attrs.frozen(kw_only=True)
class PodmanOptions:
    """The ``[plugin.podman]`` section of the site configuration.

    :ivar binary: the podman program on the computing resource (a name on its ``PATH`` or a path).
    :ivar pull_policy: podman's ``--pull`` policy: ``always``, ``missing``, ``never`` or ``newer``.
    :ivar extra_args: extra ``podman run`` arguments, placed just before the image (for example
        ``["--init"]`` or ``["--ulimit", "nofile=4096:4096"]``).
    :ivar insecure_registries: registries (``host`` or ``host:port``, as written in image
        references) that :meth:`PodmanEngine.pull` reaches without TLS verification
        (``--tls-verify=false``), such as a plain-HTTP registry on loopback.
    :ivar timeout: seconds any single podman command may take before the engine counts podman as
        unreachable.
    :ivar pull_timeout: seconds ``podman pull`` may take.
    """

    binary: str = attrs.field(default="podman", validator=_binary)
    pull_policy: str = attrs.field(default="missing", validator=_pull_policy)
    extra_args: tuple[str, ...] = attrs.field(default=(), validator=_extra_args)
    insecure_registries: tuple[str, ...] = attrs.field(default=(), validator=_insecure_registries)
    timeout: float = attrs.field(default=120.0, validator=_timeout)
    pull_timeout: float = attrs.field(default=900.0, validator=_timeout)


class PodmanEngine:
    """A :class:`~rosetta_core.engines.ContainerEngine` backed by the ``podman`` command line.

    - :meth:`build_command` returns a foreground ``podman run --rm`` argv (for a batch script). It
      does not publish the interface port: a batch job's host port could not be reported back, so
      how its interface is reached is left to the workload manager and the node's network.
    - :meth:`pull` makes the image available as ``pull_policy`` says (the orchestrator calls it
      before :meth:`start`, and reports its progress lines as task events).
    - :meth:`start` runs the container detached, named ``spec.name``, and publishes the interface
      port on ``127.0.0.1`` at a host port podman picks; :meth:`poll` reports that port. After a
      successful :meth:`pull` of the same spec it passes ``--pull=never`` (the image is there: no
      second registry round trip, even under ``always``/``newer``); called alone it passes
      ``--pull=<policy>``, as :meth:`build_command` always does.
    - Errors: :class:`~rosetta_core.errors.BackendUnavailable` when podman cannot be run, times out
      or cannot be asked; :class:`~rosetta_core.errors.BackendError` when it ran and refused.
      Messages end with the tail of podman's error output.
    """

    name = "podman"

    def __init__(self, options: PodmanOptions | None = None) -> None:
        self.options = options if options is not None else PodmanOptions()
        # (container name, image) of specs pull() made available and start() has not run yet
        self._pulled: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- commands

    def build_command(self, spec: TaskSpec) -> list[str]:
        """The foreground argv running ``spec`` until it ends, then removing the container.

        Pure: the same spec gives the same argv. Raises :class:`BackendError` for a spec podman
        cannot express (an environment name with ``=``, a bind path with ``:``).
        """
        return [
            self.options.binary,
            "run",
            "--rm",
            *self._container_args(spec, publish=False),
            *self._image_and_command(spec),
        ]

    def start_command(self, spec: TaskSpec, *, pulled: bool = False) -> list[str]:
        """The detached argv :meth:`start` runs (pure, like :meth:`build_command`).

        ``pulled``: :meth:`pull` has just made the image available, so ``--pull=never``.
        """
        return [
            self.options.binary,
            "run",
            "-d",
            *self._container_args(spec, publish=True, pull="never" if pulled else self.options.pull_policy),
            *self._image_and_command(spec),
        ]

    def pull_command(self, spec: TaskSpec) -> list[str]:
        """The ``podman pull`` argv :meth:`pull` runs (pure)."""
        argv = [self.options.binary, "pull"]
        if registry_of(spec.image) in self.options.insecure_registries:
            argv.append("--tls-verify=false")
        argv += self._arch_args(spec)
        return [*argv, *self._image_and_command(spec)[:1]]

    def _arch_args(self, spec: TaskSpec) -> list[str]:
        if not spec.arch:
            return []
        arch, _, variant = spec.arch.partition("/")
        return ["--arch", arch, *(["--variant", variant] if variant else [])]

    def _container_args(self, spec: TaskSpec, *, publish: bool, pull: str | None = None) -> list[str]:
        if not _PODMAN_NAME.fullmatch(spec.name):
            raise BackendError(f"{spec.name!r} cannot name a podman container")
        args = [f"--pull={pull or self.options.pull_policy}", "--name", spec.name]
        args += self._arch_args(spec)
        labels = dict(spec.labels)
        labels[MANAGED_LABEL] = "1"
        if spec.interface_port is not None:
            labels[PORT_LABEL] = str(spec.interface_port)
        for key, value in sorted(labels.items()):
            args += ["--label", f"{key}={value}"]
        for key, value in sorted(spec.env.items()):
            if not _ENV_KEY.fullmatch(key):
                raise BackendError(f"environment variable name {key!r} cannot be passed to podman")
            args += ["-e", f"{key}={value}"]
        if spec.resources.cpus is not None:
            args += ["--cpus", str(spec.resources.cpus)]
        if spec.resources.memory_mb is not None:
            args += ["--memory", f"{spec.resources.memory_mb}m"]
        for bind in spec.binds:
            for path in (bind.source, bind.target):
                if not path.startswith("/") or ":" in path:
                    raise BackendError(f"bind path {path!r} must be absolute and contain no ':'")
            args += ["-v", f"{bind.source}:{bind.target}" + (":ro" if bind.read_only else "")]
        if publish and spec.interface_port is not None:
            # no host port: podman picks a free one atomically, so two tasks never race for it
            args += ["-p", f"{LOCALHOST}::{spec.interface_port}"]
        args += self.options.extra_args
        return args

    def _image_and_command(self, spec: TaskSpec) -> list[str]:
        if not spec.image or spec.image.startswith("-"):
            raise BackendError(f"{spec.image!r} is not an image reference")
        return [spec.image, *spec.command]

    # ---------------------------------------------------------------- actions

    def pull(self, spec: TaskSpec, executor: Executor, progress: ProgressReport) -> None:
        """Make ``spec.image`` available as ``pull_policy`` says, reporting progress lines.

        ``never``: nothing (``start`` fails clearly if the image is missing); ``missing``: pull
        unless ``podman image exists``; ``always`` / ``newer``: ``podman pull`` (which, for
        ``newer``, only downloads what changed). Registries in ``insecure_registries`` are reached
        with ``--tls-verify=false``.

        The executor returns a command's output only when it ends, so progress cannot stream:
        ``pulling <ref>`` is reported before, then a few of podman's own lines (``Copying blob
        ...``) and ``pulled <ref>`` after. Raises :class:`BackendError` when the image cannot be
        had (unknown image, registry refused or unreachable), ending with podman's error output,
        and :class:`BackendUnavailable` when podman cannot be run or does not answer in time.
        """
        policy = self.options.pull_policy
        if policy == "never":
            return
        argv = self.pull_command(spec)
        image = argv[-1]
        if policy == "missing":
            what = f"cannot look up image {image}"
            found = self._run(executor, [self.options.binary, "image", "exists", image], what)
            if found.ok:
                self._remember_pulled(spec)
                return
            if found.returncode != 1:  # 1: no such image; anything else: podman failed
                raise BackendError(_failure(what, found))
        progress(f"pulling {image}")
        what = f"cannot pull image {image}"
        result = self._run(executor, argv, what, extra_time=self.options.pull_timeout - self.options.timeout)
        if not result.ok:
            # keep podman's error, not the progress it wrote before failing
            # (and not the warnings of its retries, when an error line follows them)
            errors = [line for line in result.stderr.splitlines() if not _PULL_NOISE.match(line.strip())]
            errors = [line for line in errors if not _PODMAN_DIAGNOSTIC.match(line)] or errors
            raise BackendError(_failure(what, attrs.evolve(result, stderr="\n".join(errors))))
        lines = [line.strip() for line in result.stderr.splitlines() if _PULL_LINE.match(line.strip())]
        for line in lines[:PULL_PROGRESS_LINES]:
            progress(line)
        image_id = result.stdout.strip().splitlines()[-1:] or [""]
        progress(f"pulled {image}" + (f" ({image_id[0][:12]})" if image_id[0] else ""))
        self._remember_pulled(spec)

    def _remember_pulled(self, spec: TaskSpec) -> None:
        with self._lock:
            self._pulled.add((spec.name, spec.image))

    def start(self, spec: TaskSpec, executor: Executor) -> str:
        """Start ``spec`` detached and return its handle, ``spec.name``.

        A container already named ``spec.name`` counts as started: names are derived from the task
        id, so it is this task's container from an earlier attempt. Raises
        :class:`BackendUnavailable` when podman cannot be run or times out (the container may or may
        not exist; poll to find out) and :class:`BackendError` when podman refused, after removing
        whatever the failed attempt left behind.
        """
        what = f"cannot start container {spec.name}"
        with self._lock:
            pulled = (spec.name, spec.image) in self._pulled
            self._pulled.discard((spec.name, spec.image))
        result = self._run(executor, self.start_command(spec, pulled=pulled), what)
        if result.ok or _NAME_IN_USE.search(result.stderr):
            return spec.name
        # a failed `run -d` can leave the container created but never started: remove it
        with contextlib.suppress(BackendError):
            self._run(executor, [self.options.binary, "rm", "-f", spec.name], what)
        raise BackendError(_failure(what, result))

    def poll(self, handle: str, executor: Executor) -> Observation:
        """What podman says about ``handle``.

        ``RUNNING`` carries host ``127.0.0.1`` and, when the task has an interface, the published
        host port; ``EXITED`` carries the exit code, whatever it is; ``PENDING`` means created but
        not started; ``GONE`` means podman has no such container. Raises
        :class:`BackendUnavailable` when podman cannot be asked.
        """
        if not _PODMAN_NAME.fullmatch(handle):
            return Observation(state=Observed.GONE, detail="not a podman container name")
        what = f"cannot inspect container {handle}"
        result = self._run(
            executor, [self.options.binary, "container", "inspect", "--format", "json", handle], what
        )
        if not result.ok:
            if _NO_SUCH.search(result.stderr):
                return Observation(state=Observed.GONE, detail="no such container")
            raise BackendUnavailable(_failure(what, result))
        return parse_inspect(result.stdout)

    def stop(self, handle: str, executor: Executor) -> None:
        """Stop and remove ``handle`` (SIGTERM, SIGKILL after 5 s). A missing container is fine."""
        if not _PODMAN_NAME.fullmatch(handle):
            return
        what = f"cannot remove container {handle}"
        argv = [self.options.binary, "rm", "-f", "-t", str(STOP_GRACE), handle]
        result = self._run(executor, argv, what, extra_time=STOP_GRACE)
        if not result.ok and not _NO_SUCH.search(result.stderr):
            raise BackendError(_failure(what, result))

    def logs(self, handle: str, executor: Executor, *, tail: int = 1000) -> str:
        """The last ``tail`` lines the container wrote, stdout and stderr interleaved in order.

        Returns ``""`` for a container podman does not know (its logs went with it).
        """
        if tail <= 0 or not _PODMAN_NAME.fullmatch(handle):
            return ""
        what = f"cannot read the logs of container {handle}"
        argv = [self.options.binary, "logs", "--timestamps", "--tail", str(tail), handle]
        result = self._run(executor, argv, what)
        if not result.ok:
            if _NO_SUCH.search(result.stderr):
                return ""
            raise BackendError(_failure(what, result))
        return merge_logs(result.stdout, result.stderr, tail=tail)

    def list_handles(self, executor: Executor) -> list[str]:
        """Names of the containers this platform started, running or not, sorted."""
        what = "cannot list containers"
        argv = [
            self.options.binary,
            "ps",
            "-a",
            "--filter",
            f"label={MANAGED_LABEL}=1",
            "--format",
            "{{.Names}}",
        ]
        result = self._run(executor, argv, what)
        if not result.ok:
            raise BackendUnavailable(_failure(what, result))
        names = (line.strip() for line in result.stdout.splitlines())
        return sorted({n for n in names if n.startswith(HANDLE_PREFIX)})

    def _run(self, executor: Executor, argv: list[str], what: str, *, extra_time: float = 0) -> CommandResult:
        timeout = self.options.timeout + extra_time
        try:
            return executor.run(argv, timeout=timeout)
        except CommandTimeout as exc:
            raise BackendUnavailable(f"{what}: {argv[0]} did not answer within {timeout:g} s") from exc
        except CommandNotFound as exc:
            # not a passing fault: tasks fail with this reason rather than wait in "unknown"
            raise BackendError(f"{what}: {exc}; is podman installed on this computing resource?") from exc
        except ExecutorError as exc:
            raise BackendUnavailable(f"{what}: {exc}") from exc


# ---------------------------------------------------------------- parsing (pure)


def parse_inspect(stdout: str) -> Observation:
    """Turn ``podman container inspect --format json`` output into an observation.

    Raises :class:`BackendUnavailable` when the output is not what podman writes.
    """
    try:
        data = json.loads(stdout)
    except ValueError as exc:
        raise BackendUnavailable(
            f"podman inspect wrote something that is not JSON: {stdout[:200]!r}"
        ) from exc
    if not isinstance(data, list):
        raise BackendUnavailable("podman inspect did not return a list")
    if not data:
        return Observation(state=Observed.GONE, detail="no such container")
    record = _mapping(data[0])
    labels = {str(k): str(v) for k, v in _mapping(_mapping(record.get("Config")).get("Labels")).items()}
    state = _mapping(record.get("State"))
    status = str(state.get("Status", "")).lower()
    raw_code = state.get("ExitCode")
    exit_code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
    error = str(state.get("Error") or "")
    if status in ("running", "paused", "stopping"):
        host, port = _published(record)
        return Observation(state=Observed.RUNNING, host=host, port=port, detail=status, labels=labels)
    if status in _EXITED_STATUSES:
        if state.get("OOMKilled") is True:
            detail = "killed for exceeding its memory limit"
        else:
            detail = error or f"exited with code {exit_code}"
        return Observation(state=Observed.EXITED, exit_code=exit_code, detail=detail, labels=labels)
    if status in _PENDING_STATUSES:
        if error:
            return Observation(state=Observed.FAILED, detail=error, labels=labels)
        return Observation(state=Observed.PENDING, detail=status, labels=labels)
    return Observation(
        state=Observed.UNKNOWN, detail=f"podman reports status {status or 'none'!r}", labels=labels
    )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _published(record: Mapping[str, Any]) -> tuple[str, int | None]:
    """The host address and port of the interface port recorded in the container's labels."""
    port = _mapping(_mapping(record.get("Config")).get("Labels")).get(PORT_LABEL)
    if port is None:
        return LOCALHOST, None
    return published_address(_mapping(record.get("NetworkSettings")).get("Ports"), port)
    bindings = _mapping(_mapping(record.get("NetworkSettings")).get("Ports")).get(f"{port}/tcp")
    for binding in bindings if isinstance(bindings, list) else []:
        entry = _mapping(binding)
        host_port = str(entry.get("HostPort", ""))
        if host_port.isdigit() and 0 < int(host_port) < 65536:
            host_ip = str(entry.get("HostIp") or "")
            # a wildcard binding is reachable on loopback too
            return (LOCALHOST if host_ip in ("", "0.0.0.0", "::") else host_ip), int(host_port)  # noqa: S104
    return LOCALHOST, None


_LogEntry = tuple[tuple[int, int], int, str]


def _log_entries(text: str, *, from_podman: bool) -> Iterator[_LogEntry]:
    """``podman logs --timestamps`` lines as (time key, sequence, line without its timestamp)."""
    key = (0, 0)
    for seq, line in enumerate(text.splitlines()):
        stamp, _, rest = line.partition(" ")
        match = _TIMESTAMP.match(stamp)
        if match is None:
            if from_podman and _PODMAN_DIAGNOSTIC.match(line):
                continue
            # a line without a timestamp sorts with the line before it
            yield key, seq, line
            continue
        base, fraction, zone = match.groups()
        moment = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
        key = (int(moment.timestamp()), int((fraction or "").ljust(9, "0")))
        yield key, seq, rest


def merge_logs(stdout: str, stderr: str, *, tail: int) -> str:
    """Interleave the two streams of ``podman logs --timestamps`` by time; keep the last ``tail``.

    Timestamps are removed. Podman's own diagnostic lines on stderr are dropped.
    """
    merged = heapq.merge(
        _log_entries(stdout, from_podman=False),
        _log_entries(stderr, from_podman=True),
        key=lambda entry: entry[0],
    )
    lines = [text for _, _, text in merged][-tail:] if tail > 0 else []
    return "".join(f"{line}\n" for line in lines)


def registry_of(image: str) -> str:
    """The registry an image reference names (``host[:port]``), or ``""`` for the default one.

    As podman reads a reference: the part before the first ``/`` is a registry when it contains a
    ``.`` or a ``:``, or is ``localhost``.
    """
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return ""


def _failure(what: str, result: CommandResult) -> str:
    output = (result.stderr.strip() or result.stdout.strip())[-STDERR_TAIL:]
    return f"{what}: {result.argv[0]} exited with {result.returncode}: {output or 'no error output'}"


__all__: Sequence[str] = [
    "PULL_POLICIES",
    "PodmanEngine",
    "PodmanOptions",
    "merge_logs",
    "parse_inspect",
    "registry_of",
]
