"""The Singularity/Apptainer container engine.

Apptainer has no daemon that remembers containers, so the engine keeps each task's state in a
scratch directory on the computing resource, ``<scratch_dir>/<handle>/``:

``pid``
    the pid of the task's supervisor, which leads the process group apptainer runs in;
``exit``
    apptainer's exit code, written when it ends;
``log``
    the container's output (stdout and stderr, and apptainer's own messages);
``labels.json``
    the task's labels, reported by :meth:`SingularityEngine.poll`;
``port``
    the host port the interface was given (apptainer shares the host's network);
``home/``
    the container's private home directory.

Every effect is one run of a small Python helper (:mod:`rosetta_singularity.launcher`, sent as
``python3 -I -c <source> <verb> ...``) through the :class:`~rosetta_core.executors.Executor` the
caller passes, so the same engine works on this machine or, through an SSH executor, on another
one. Values travel as whole argv entries or as JSON on the helper's stdin, never through a shell.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any

import attrs

from rosetta_core.engines import HANDLE_PREFIX, Observation, Observed, TaskSpec
from rosetta_core.errors import (
    BackendError,
    BackendUnavailable,
    CommandNotFound,
    CommandTimeout,
    ExecutorError,
)
from rosetta_core.executors import CommandResult, Executor
from rosetta_core.validators import FieldError

LOCALHOST = "127.0.0.1"
STOP_GRACE = 5
"""Seconds ``stop`` gives the container between SIGTERM and SIGKILL."""
KILL_WAIT = 5
"""Seconds ``stop`` waits for the processes to go after SIGKILL."""
START_WAIT = 10
"""Seconds the helper may wait for the supervisor to record its pid (on top of ``timeout``)."""
STDERR_TAIL = 1500
BASE_PORT = "BASE_PORT"
"""The environment variable carrying the interface's host port (the platform's convention)."""

CONTAIN_FLAGS = ("--containall", "--cleanenv", "--no-eval", "--writable-tmpfs")
"""Always passed: no host files, environment or namespaces leak in; nothing in the environment is
evaluated by a shell (``--no-eval``); the image is writable in memory only."""

URI_PREFIXES = (
    "docker://",
    "oras://",
    "library://",
    "shub://",
    "http://",
    "https://",
    "docker-daemon:",
    "docker-archive:",
    "oci-archive:",
    "oci:",
)
"""Image sources apptainer understands, passed through as they are."""

RUNSCRIPT = "/.singularity.d/runscript"
"""What ``apptainer run`` executes in the container."""

HELPER_SOURCE = resources.files(__package__).joinpath("launcher.py").read_text(encoding="utf-8")

# a handle names a directory: no slash, no leading dot or dash
_HANDLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OCI_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$")


# ---------------------------------------------------------------- options


def _program(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip() or "\x00" in value or "=" in value:
        raise FieldError(attribute.name, "must be a program name or path")


def _scratch_dir(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if (
        not isinstance(value, str)
        or not value.startswith("/")
        or value.rstrip("/") == ""
        or any(c in value for c in "\x00:,\n")
    ):
        raise FieldError(attribute.name, "must be an absolute path other than / without ':' or ','")


def _sif_dir(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or (value and not value.startswith("/")) or "\x00" in value:
        raise FieldError(attribute.name, "must be an absolute path, or empty")


def _timeout(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise FieldError(attribute.name, "must be a positive number of seconds")


def _extra_args(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, tuple) or not all(isinstance(a, str) and "\x00" not in a for a in value):
        raise FieldError(attribute.name, "must be a list of strings")


def _flag(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise FieldError(attribute.name, "must be true or false")


@attrs.frozen(kw_only=True)
class SingularityOptions:
    """The ``[plugin.singularity]`` section of the site configuration.

    :ivar binary: the apptainer (or singularity) program on the computing resource.
    :ivar python: the Python 3 (3.6 or newer) on the computing resource that runs the helper.
    :ivar scratch_dir: where each task's state directory is kept on the computing resource.
    :ivar sif_dir: a directory of SIF files on the computing resource; when set, an image reference
        ``[registry/]path/name:tag`` runs ``<sif_dir>/<name>_<tag>.sif`` if that file exists.
    :ivar timeout: seconds any single command may take before the engine counts the resource as
        unreachable.
    :ivar extra_args: extra ``apptainer run``/``exec`` arguments, placed just before the image.
    :ivar resource_limits: pass the task's CPU and memory limits as ``--cpus``/``--memory``. Off by
        default: apptainer applies them through cgroups, which needs root with a systemd or cgroupfs
        manager, or cgroups v2 with systemd for other users; where it cannot, every start fails.
    """

    binary: str = attrs.field(default="apptainer", validator=_program)
    python: str = attrs.field(default="python3", validator=_program)
    scratch_dir: str = attrs.field(default="/tmp/rosetta-singularity", validator=_scratch_dir)  # noqa: S108
    sif_dir: str = attrs.field(default="", validator=_sif_dir)
    timeout: float = attrs.field(default=120.0, validator=_timeout)
    extra_args: tuple[str, ...] = attrs.field(default=(), validator=_extra_args)
    resource_limits: bool = attrs.field(default=False, validator=_flag)


# ---------------------------------------------------------------- pure rules


def sif_file_name(reference: str) -> str:
    """``<name>_<tag>.sif`` for ``[registry/]path/name[:tag][@digest]`` (tag ``latest`` if none)."""
    without_digest = reference.partition("@")[0]
    last = without_digest.rsplit("/", 1)[-1]
    name, _, tag = last.partition(":")
    return f"{name}_{tag or 'latest'}.sif"


def image_candidates(image: str, sif_dir: str = "") -> list[str]:
    """Where apptainer takes ``image`` from, most preferred first.

    - an absolute path (a SIF file or a sandbox directory) is used as it is;
    - a source apptainer understands (``docker://``, ``oras://``, ``library://``, ``oci-archive:``,
      ``docker-daemon:``, ...) is used as it is;
    - any other reference is an OCI image: ``<sif_dir>/<name>_<tag>.sif`` when ``sif_dir`` is set
      (used only if it exists, by :meth:`SingularityEngine.start`), then ``docker://<reference>``.
    """
    if not image or image.startswith("-") or any(c in image for c in "\x00\n"):
        raise BackendError(f"{image!r} is not an image reference")
    if image.startswith("/") or image.startswith(URI_PREFIXES):
        return [image]
    if image.endswith(".sif"):
        raise BackendError(f"a SIF image must be given as an absolute path, not {image!r}")
    if not _OCI_REF.match(image):
        raise BackendError(f"{image!r} is not an image reference")
    uri = f"docker://{image}"
    if sif_dir:
        return [posixpath.join(sif_dir, sif_file_name(image)), uri]
    return [uri]


def env_flag_keeps(value: str) -> bool:
    """Whether ``--env KEY=<value>`` reaches the container unchanged.

    Apptainer parses ``--env`` as a comma-separated, CSV-quoted list of ``KEY=VALUE`` pairs: an
    entry with one ``=`` only loses a trailing ``"``; one with more is split at commas and chokes on
    quotes and line ends.
    """
    if "=" not in value:
        return not value.endswith('"')
    return not any(c in value for c in '",\n\r')


def env_prefix(binary: str) -> str:
    """The prefix that passes a variable from apptainer's environment into the container's."""
    if posixpath.basename(binary).startswith("singularity"):
        return "SINGULARITYENV_"  # SingularityCE; apptainer accepts it too
    return "APPTAINERENV_"


def parse_poll(stdout: str) -> Observation:
    """Turn the helper's ``poll`` answer into an observation.

    Raises :class:`BackendUnavailable` when it is not what the helper writes.
    """
    try:
        data = json.loads(stdout)
    except ValueError as exc:
        raise BackendUnavailable(
            f"the poll helper wrote something that is not JSON: {stdout[:200]!r}"
        ) from exc
    if not isinstance(data, dict):
        raise BackendUnavailable("the poll helper did not answer with an object")
    raw_labels = data.get("labels")
    labels = {str(k): str(v) for k, v in raw_labels.items()} if isinstance(raw_labels, dict) else {}
    detail = str(data.get("detail") or "")
    state = data.get("state")
    if state == "running":
        port = _int(data.get("port"))
        port = port if port is not None and 0 < port < 65536 else None
        return Observation(state=Observed.RUNNING, host=LOCALHOST, port=port, detail=detail, labels=labels)
    if state == "exited":
        return Observation(
            state=Observed.EXITED, exit_code=_int(data.get("exit_code")), detail=detail, labels=labels
        )
    if state == "failed":
        return Observation(state=Observed.FAILED, detail=detail, labels=labels)
    if state == "gone":
        return Observation(state=Observed.GONE, detail=detail, labels=labels)
    raise BackendUnavailable(f"the poll helper reported an unknown state {state!r}")


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# ---------------------------------------------------------------- the engine


class SingularityEngine:
    """A :class:`~rosetta_core.engines.ContainerEngine` backed by the apptainer command line.

    - :meth:`build_command` returns a foreground ``apptainer run`` (or ``exec`` with a command)
      argv for a batch script. It picks no port.
    - :meth:`start` runs it detached under a supervisor in ``<scratch_dir>/<handle>``; with an
      interface it picks a free host port on the resource, passes it as ``BASE_PORT`` and
      :meth:`poll` reports it on ``127.0.0.1``.
    - Errors: :class:`~rosetta_core.errors.BackendUnavailable` when the resource cannot be reached,
      times out or cannot be asked; :class:`~rosetta_core.errors.BackendError` when a command ran
      and refused, or a program is missing.
    """

    name = "singularity"

    def __init__(self, options: SingularityOptions | None = None) -> None:
        self.options = options if options is not None else SingularityOptions()

    # ---------------------------------------------------------------- commands (pure)

    def task_dir(self, handle: str) -> str:
        """The scratch directory of ``handle`` on the computing resource."""
        return posixpath.join(self.options.scratch_dir, handle)

    def build_command(self, spec: TaskSpec) -> list[str]:
        """The foreground argv running ``spec`` until it ends.

        Pure: the same spec gives the same argv. Each environment variable is one whole argv entry
        ``KEY=VALUE``: after ``--env`` when apptainer's ``--env`` parser keeps the value as it is,
        otherwise (a trailing ``"``, or an ``=`` with a comma, quote or line end) as an argument
        of ``env`` run inside the container just before the command (``run`` then becomes
        ``exec <image> env KEY=VALUE /.singularity.d/runscript``, which needs ``env`` in the
        image). With ``sif_dir`` set, an OCI reference runs ``<sif_dir>/<name>_<tag>.sif``
        (this cannot look whether it exists). No port is picked. Raises :class:`BackendError`
        for a spec apptainer cannot express.
        """
        self._check_name(spec.name)
        env_args: list[str] = []
        inside: list[str] = []
        for key, value in self._environment(spec).items():
            if env_flag_keeps(value):
                env_args += ["--env", f"{key}={value}"]
            else:
                inside.append(f"{key}={value}")
        image = image_candidates(spec.image, self.options.sif_dir)[0]
        verb, command = self._verb(spec), list(spec.command)
        if inside:
            if command and "=" in command[0]:
                raise BackendError(f"the command {command[0]!r} would be taken for a variable by env")
            verb, command = "exec", ["env", *inside, *(command or [RUNSCRIPT])]
        return [
            self.options.binary,
            verb,
            *CONTAIN_FLAGS,
            *env_args,
            *self._limits_binds_extra(spec),
            image,
            *command,
        ]

    def start_request(self, spec: TaskSpec) -> dict[str, Any]:
        """What :meth:`start` sends the helper (pure): the argv around the image, the image
        candidates, the environment (passed as ``APPTAINERENV_*``, never in argv) and labels."""
        self._check_name(spec.name)
        directory = self.task_dir(spec.name)
        head = [
            self.options.binary,
            self._verb(spec),
            *CONTAIN_FLAGS,
            "--home",
            posixpath.join(directory, "home"),
            *self._limits_binds_extra(spec),
        ]
        return {
            "root": self.options.scratch_dir,
            "head": head,
            "images": image_candidates(spec.image, self.options.sif_dir),
            "tail": list(spec.command),
            "env": self._environment(spec),
            "env_prefix": env_prefix(self.options.binary),
            "labels": dict(spec.labels),
            "port": spec.interface_port is not None,
        }

    def _verb(self, spec: TaskSpec) -> str:
        return "exec" if spec.command else "run"

    def _check_name(self, name: str) -> None:
        if not _HANDLE.match(name):
            raise BackendError(f"{name!r} cannot name a singularity task directory")

    def _environment(self, spec: TaskSpec) -> dict[str, str]:
        env: dict[str, str] = {}
        for key, value in sorted(spec.env.items()):
            if not _ENV_KEY.match(key):
                raise BackendError(f"environment variable name {key!r} cannot be passed to apptainer")
            if "\x00" in value:
                raise BackendError(f"the value of environment variable {key} contains a NUL byte")
            env[key] = value
        return env

    def _limits_binds_extra(self, spec: TaskSpec) -> list[str]:
        # apptainer runs the image as the calling user with no capabilities; an entrypoint that
        # must be root (to add or switch users) gets root of a user namespace instead, which
        # needs the calling user mapped in /etc/subuid and /etc/subgid
        args: list[str] = ["--fakeroot"] if spec.needs_root else []
        if self.options.resource_limits:
            if spec.resources.cpus is not None:
                args += ["--cpus", str(spec.resources.cpus)]
            if spec.resources.memory_mb is not None:
                args += ["--memory", str(spec.resources.memory_mb * 1024 * 1024)]
        for bind in spec.binds:
            for path in (bind.source, bind.target):
                if not path.startswith("/") or any(c in path for c in ":,\x00\n"):
                    raise BackendError(f"bind path {path!r} must be absolute and contain no ':' or ','")
            args += ["--bind", f"{bind.source}:{bind.target}" + (":ro" if bind.read_only else "")]
        args += self.options.extra_args
        return args

    def _helper_argv(self, verb: str, *args: str) -> list[str]:
        return [self.options.python, "-I", "-c", HELPER_SOURCE, verb, *args]

    # ---------------------------------------------------------------- actions

    def start(self, spec: TaskSpec, executor: Executor) -> str:
        """Start ``spec`` detached and return its handle, ``spec.name``.

        A task directory that already has a supervisor counts as started (it is this task's, from
        an earlier attempt); one left without (a start cut short) is taken over. Raises
        :class:`BackendError` when apptainer or the image file is missing or the helper fails, and
        :class:`BackendUnavailable` when the resource cannot be reached or does not answer.
        """
        what = f"cannot start container {spec.name}"
        request = json.dumps(self.start_request(spec))
        argv = self._helper_argv("start", self.task_dir(spec.name))
        result = self._run(executor, argv, what, input=request, extra_time=START_WAIT)
        if not result.ok:
            message = _failure(what, result)
            if result.returncode == 127:
                message += f"; is apptainer installed on this computing resource ({self.options.binary})?"
            raise BackendError(message)
        return spec.name

    def poll(self, handle: str, executor: Executor) -> Observation:
        """What the task's scratch directory says about ``handle``.

        ``RUNNING`` (the supervisor lives) carries host ``127.0.0.1`` and, with an interface, the
        recorded port; ``EXITED`` carries apptainer's exit code; ``FAILED`` means the supervisor
        vanished without an exit code; ``GONE`` means no directory or no supervisor ever recorded.
        Raises :class:`BackendUnavailable` when the resource cannot be asked.
        """
        if not _HANDLE.match(handle):
            return Observation(state=Observed.GONE, detail="not a singularity task name")
        what = f"cannot poll container {handle}"
        result = self._run(executor, self._helper_argv("poll", self.task_dir(handle)), what)
        if not result.ok:
            raise BackendUnavailable(_failure(what, result))
        return parse_poll(result.stdout)

    def stop(self, handle: str, executor: Executor) -> None:
        """Stop ``handle`` (SIGTERM to its process group, SIGKILL after 5 s) and remove its scratch
        directory. A handle that is gone already is fine."""
        if not _HANDLE.match(handle):
            return
        what = f"cannot stop container {handle}"
        argv = self._helper_argv("stop", self.task_dir(handle), str(STOP_GRACE))
        result = self._run(executor, argv, what, extra_time=STOP_GRACE + KILL_WAIT)
        if not result.ok:
            raise BackendError(_failure(what, result))

    def logs(self, handle: str, executor: Executor, *, tail: int = 1000) -> str:
        """The last ``tail`` lines of the container's output (``""`` when it is gone)."""
        if tail <= 0 or not _HANDLE.match(handle):
            return ""
        what = f"cannot read the logs of container {handle}"
        result = self._run(executor, self._helper_argv("logs", self.task_dir(handle), str(tail)), what)
        if not result.ok:
            raise BackendError(_failure(what, result))
        return result.stdout

    def list_handles(self, executor: Executor) -> list[str]:
        """Names of the task directories in ``scratch_dir`` (running or not), sorted."""
        what = "cannot list containers"
        result = self._run(executor, self._helper_argv("list", self.options.scratch_dir), what)
        if not result.ok:
            raise BackendUnavailable(_failure(what, result))
        try:
            names = json.loads(result.stdout)
        except ValueError as exc:
            raise BackendUnavailable(f"{what}: the helper wrote {result.stdout[:200]!r}") from exc
        if not isinstance(names, list):
            raise BackendUnavailable(f"{what}: the helper did not answer with a list")
        return sorted({n for n in names if isinstance(n, str) and n.startswith(HANDLE_PREFIX)})

    def _run(
        self,
        executor: Executor,
        argv: list[str],
        what: str,
        *,
        input: str | None = None,
        extra_time: float = 0,
    ) -> CommandResult:
        timeout = self.options.timeout + extra_time
        try:
            return executor.run(argv, timeout=timeout, input=input)
        except CommandTimeout as exc:
            raise BackendUnavailable(f"{what}: {argv[0]} did not answer within {timeout:g} s") from exc
        except CommandNotFound as exc:
            # not a passing fault: tasks fail with this reason rather than wait in "unknown"
            raise BackendError(
                f"{what}: {exc}; the singularity engine needs {self.options.python} and apptainer "
                f"({self.options.binary}) on this computing resource"
            ) from exc
        except ExecutorError as exc:
            raise BackendUnavailable(f"{what}: {exc}") from exc


def _failure(what: str, result: CommandResult) -> str:
    output = (result.stderr.strip() or result.stdout.strip())[-STDERR_TAIL:]
    return f"{what}: the helper exited with {result.returncode}: {output or 'no error output'}"


__all__: Sequence[str] = [
    "SingularityEngine",
    "SingularityOptions",
    "env_flag_keeps",
    "image_candidates",
    "parse_poll",
    "sif_file_name",
]
