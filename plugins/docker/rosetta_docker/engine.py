"""The Docker container engine.

It has two paths, chosen per call by the executor it is given
(:func:`~rosetta_docker.cli.runs_command_line`):

- the SDK path, for the local executor (``executor.name == "local"``) or whenever the option
  ``base_url`` names a daemon: the engine talks to the daemon's HTTP API through the ``docker``
  Python SDK (its low-level :class:`docker.APIClient`), at ``base_url`` (``unix://``, ``tcp://`` or
  ``ssh://user@host``), else ``DOCKER_HOST``, else the local socket. The executor is not used.
- the command-line path, for any other executor (an SSH-reached host): the engine runs the
  ``docker`` program through that executor (:class:`~rosetta_docker.cli.DockerCommandLine`),
  reaching the daemon of the host the executor acts on.

Both describe a task to docker the same way (:mod:`rosetta_docker.argv`) and read its answers the
same way (:mod:`rosetta_docker.records`). :meth:`DockerEngine.build_command` returns a ``docker
run`` argv for a batch script, to be run wherever the script runs.

The SDK client is made on first use, not when the kernel starts, so a stopped ``dockerd`` never
stops the kernel from starting: the engine then raises
:class:`~rosetta_core.errors.BackendUnavailable` until the daemon answers again.

Containers started by :meth:`DockerEngine.start` carry the labels ``rosetta.managed=1`` (how
:meth:`DockerEngine.list_handles` finds them) and, when the task has an interface,
``rosetta.interface_port=<port>`` (how :meth:`DockerEngine.poll` knows which published port to
report).
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import math
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import docker
import docker.errors
import docker.utils
import requests.exceptions

from rosetta_core.engines import HANDLE_PREFIX, Observation, Observed, ProgressReport, TaskSpec
from rosetta_core.errors import BackendError, BackendUnavailable
from rosetta_core.executors import Executor
from rosetta_docker.argv import (
    DOCKER_NAME,
    LOCALHOST,
    MANAGED_LABEL,
    PORT_LABEL,
    batch_argv,
    check_spec,
    env_pairs,
    labels_for,
    platform_of,
    volumes,
)
from rosetta_docker.cli import DockerCommandLine, runs_command_line
from rosetta_docker.options import DEFAULT_URL, PULL_POLICIES, DockerOptions, daemon_url
from rosetta_docker.records import last_lines, parse_inspect, pull_needed, pull_progress_line

EXPLANATION_TAIL = 1500


def _ssh_errors() -> tuple[type[BaseException], ...]:
    """paramiko's base exception, when paramiko (the SDK's ``ssh://`` transport) is installed."""
    try:
        paramiko = importlib.import_module("paramiko")
    except ImportError:
        return ()
    error = getattr(paramiko, "SSHException", None)
    return (error,) if isinstance(error, type) and issubclass(error, BaseException) else ()


# what the transport raises when the daemon cannot be reached or does not answer
_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.RequestException,
    OSError,
    *_ssh_errors(),
)
# everything the SDK or its transport raises on purpose
_SDK_ERRORS: tuple[type[BaseException], ...] = (docker.errors.DockerException, *_TRANSPORT_ERRORS)


def connect(options: DockerOptions) -> docker.APIClient:
    """A client of the daemon ``options`` name, with the API version the daemon speaks.

    Asks the daemon once (its version). Raises :class:`BackendUnavailable` when it cannot be
    reached and :class:`BackendError` for a configuration the SDK refuses.
    """
    url = daemon_url(options)
    if url.startswith("unix://"):
        # the SDK leaks the socket of a failed connection (a ResourceWarning per call): ask first
        probe_unix_socket(url[len("unix://") :], url, options.timeout)
    try:
        env = docker.utils.kwargs_from_env()
        return docker.APIClient(
            base_url=url,
            version="auto",
            timeout=math.ceil(options.timeout),
            tls=env.get("tls", False),
            use_ssh_client=options.use_ssh_client,
        )
    except ValueError as exc:  # a DOCKER_HOST the SDK cannot parse
        raise BackendError(f"docker: cannot use the daemon at {url}: {exc}") from exc
    except _SDK_ERRORS as exc:
        # "Error while fetching server API version" wraps the transport's failure
        cause = _transport_cause(exc)
        if cause is None:
            raise BackendError(f"docker: cannot use the daemon at {url}: {exc}") from exc
        raise BackendUnavailable(f"docker: cannot reach the daemon at {url}: {_reason(cause)}") from exc


def probe_unix_socket(path: str, url: str, timeout: float) -> None:
    """Connect to the daemon's socket and close it again; raise if nobody can be reached there."""
    if not path:
        raise BackendError(f"docker: {url!r} names no socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(min(timeout, 10.0))
        try:
            sock.connect(path)
        except PermissionError as exc:
            # lasting: the task fails with this reason instead of waiting in "unknown"
            raise BackendError(
                f"docker: cannot reach the daemon at {url}: permission denied; "
                "may this user use docker (the docker group)?"
            ) from exc
        except OSError as exc:
            hint = "; is dockerd running?" if exc.errno in (errno.ENOENT, errno.ECONNREFUSED) else ""
            raise BackendUnavailable(
                f"docker: cannot reach the daemon at {url}: {_reason(exc)}{hint}"
            ) from exc


# ---------------------------------------------------------------- the engine


class DockerEngine:
    """A :class:`~rosetta_core.engines.ContainerEngine` backed by the Docker daemon.

    - :meth:`build_command` returns a foreground ``docker run --rm`` argv (for a batch script). It
      does not publish the interface port: a batch job's host port could not be reported back.
    - :meth:`pull` makes the image available as ``pull_policy`` says, reporting the daemon's pull
      progress (the orchestrator calls it before :meth:`start`).
    - :meth:`start` creates and starts the container, named ``spec.name``, with the interface port
      published on ``127.0.0.1`` at a host port docker picks; :meth:`poll` reports that port.
      After a successful :meth:`pull` of the same spec it does not look at the image again; called
      alone it applies the pull policy itself (silently).
    - Every method takes an ``executor``, as the protocol says. :meth:`uses_command_line` says
      which path it takes: the SDK (the executor is ignored; the daemon is the one ``base_url``
      names, ``ssh://user@host`` reaching a remote one) or the ``docker`` command line run through
      the executor on the host it acts on. The observations, the states of containers left
      behind and the errors are the same on both.
    - Errors: :class:`~rosetta_core.errors.BackendUnavailable` when the daemon cannot be reached or
      does not answer in time; :class:`~rosetta_core.errors.BackendError` when it answered and
      refused (a missing image, a program that does not exist in it). Messages start with
      ``docker:`` and end with the daemon's own words. On the command-line path, errors the
      executor raises about the host itself (an untrusted host key, refused credentials) pass
      through unchanged, and a host that cannot be reached is ``BackendUnavailable``.

    ``client_factory`` makes the SDK client on first use (default: :func:`connect`); call
    :meth:`close` to release it.
    """

    name = "docker"

    def __init__(
        self,
        options: DockerOptions | None = None,
        *,
        client_factory: Callable[[DockerOptions], docker.APIClient] | None = None,
    ) -> None:
        self.options = options if options is not None else DockerOptions()
        self._factory = client_factory if client_factory is not None else connect
        self._client: docker.APIClient | None = None
        self._lock = threading.Lock()
        # (container name, image) of specs pull() made available and start() has not run yet
        self._pulled: set[tuple[str, str]] = set()
        self._cli = DockerCommandLine(self.options)

    def uses_command_line(self, executor: Executor) -> bool:
        """Whether calls with ``executor`` run the ``docker`` program through it (else the SDK).

        True when ``executor`` is not the local one (its name is not ``"local"``: it acts on
        another host) and the option ``base_url`` is empty; a ``base_url`` always means the SDK.
        """
        return runs_command_line(self.options, executor)

    @property
    def url(self) -> str:
        """The daemon this engine talks to, as shown in error messages."""
        return daemon_url(self.options)

    def close(self) -> None:
        """Close the client (its connections); the next call makes a new one."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _api(self) -> docker.APIClient:
        with self._lock:
            if self._client is None:
                self._client = self._factory(self.options)
            return self._client

    def _forget(self, client: docker.APIClient) -> None:
        """Drop a client whose daemon could not be reached: the next call connects anew."""
        with self._lock:
            if self._client is not client:
                return
            self._client = None
        with contextlib.suppress(Exception):
            client.close()

    # ---------------------------------------------------------------- pure

    def build_command(self, spec: TaskSpec) -> list[str]:
        """The foreground argv running ``spec`` until it ends, then removing the container.

        Pure: the same spec gives the same argv. ``--platform linux/<arch>`` is always passed when
        the spec names an architecture (which host the script runs on is not known here). Raises
        :class:`BackendError` for a spec docker cannot express (an environment name with ``=``, a
        bind path with ``:``).
        """
        return batch_argv(self.options, spec)

    def labels_for(self, spec: TaskSpec) -> dict[str, str]:
        """The container's labels: the site's, the spec's, then the engine's own (which win)."""
        return labels_for(self.options, spec)

    def create_args(self, spec: TaskSpec) -> tuple[dict[str, Any], dict[str, Any]]:
        """The keyword arguments of ``create_container`` and ``create_host_config`` for ``spec``.

        Pure, like :meth:`build_command`, and refuses the same specs.
        """
        check_spec(spec)
        container: dict[str, Any] = {
            "image": spec.image,
            "command": list(spec.command) or None,
            "name": spec.name,
            "labels": self.labels_for(spec),
            "environment": env_pairs(spec.env),
            "detach": True,
        }
        host: dict[str, Any] = {}
        if spec.arch:
            container["platform"] = platform_of(spec.arch)
        if spec.interface_port is not None:
            port = f"{spec.interface_port}/tcp"
            container["ports"] = [port]
            # no host port: docker picks a free one atomically, so two tasks never race for it
            host["port_bindings"] = {port: (LOCALHOST, None)}
        if spec.binds:
            host["binds"] = volumes(spec)
        if spec.resources.cpus is not None:
            host["nano_cpus"] = spec.resources.cpus * 1_000_000_000
        if spec.resources.memory_mb is not None:
            host["mem_limit"] = f"{spec.resources.memory_mb}m"
        if self.options.init:
            host["init"] = True
        return container, host

    # ---------------------------------------------------------------- actions

    def pull(self, spec: TaskSpec, executor: Executor, progress: ProgressReport) -> None:
        """Make sure the daemon has ``spec.image``, pulling it as ``pull_policy`` says.

        ``never``: the image must be there already; ``missing``: pull when the daemon lacks it (or
        has it for another architecture); ``always``: pull. While pulling, every status the daemon
        streams becomes a progress line (``pulling <ref>``, ``<layer>: Downloading 1.2MB/3.4MB``,
        ``<layer>: Pull complete``, ``Status: Downloaded newer image for <ref>``, ``pulled <ref>``);
        lines may come fast (the caller rate-limits). On the command-line path docker's output
        arrives only when ``docker pull`` ends: ``pulling <ref>`` is reported before it, docker's
        own lines (``<layer>: Pull complete``, ...) and ``pulled <ref>`` after it.

        Raises :class:`BackendError` when the image cannot be had (not found locally under
        ``never``, unknown to the registry, registry unreachable) and :class:`BackendUnavailable`
        when the daemon cannot be reached.
        """
        check_spec(spec)
        if self.uses_command_line(executor):
            self._cli.ensure_image(spec, executor, progress)
        else:
            self._ensure_image(self._api(), spec, progress)
        with self._lock:
            self._pulled.add((spec.name, spec.image))

    def start(self, spec: TaskSpec, executor: Executor) -> str:
        """Create and start ``spec``'s container; return its handle, ``spec.name``.

        Unless :meth:`pull` has just made the image available, the image is pulled first as
        ``pull_policy`` says. A container already named ``spec.name`` counts as started (names
        come from the task id, so it is this task's, from an earlier attempt); if a crash left it
        created but not started, it is started now. A failed start removes the container it
        created. Raises :class:`BackendUnavailable` when the daemon cannot be reached and
        :class:`BackendError` when it refused. On the command-line path the container is made by
        ``docker run -d --pull=never`` (the policy was applied just before), with the interface
        port published as ``-p 127.0.0.1::<port>``.
        """
        if self.uses_command_line(executor):
            return self._cli.start(spec, executor, pulled=self._take_pulled(spec))
        container, host = self.create_args(spec)
        api = self._api()
        pulled = self._take_pulled(spec)
        if not pulled:
            self._ensure_image(api, spec, _ignore)
        what = f"cannot create container {spec.name}"
        try:
            created = api.create_container(**container, host_config=api.create_host_config(**host))
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                return self._resume(api, spec)
            raise self._error(api, exc, what) from exc
        except _SDK_ERRORS as exc:
            raise self._error(api, exc, what) from exc
        if not isinstance(created, Mapping) or not created.get("Id"):
            raise BackendError(f"docker: {what}: the daemon answered {created!r:.200}")
        self._start_created(api, spec.name)
        return spec.name

    def _take_pulled(self, spec: TaskSpec) -> bool:
        """Whether :meth:`pull` made ``spec``'s image available since its last start (and forget it)."""
        with self._lock:
            pulled = (spec.name, spec.image) in self._pulled
            self._pulled.discard((spec.name, spec.image))
        return pulled

    def _start_created(self, api: docker.APIClient, name: str) -> None:
        """Start a created container; remove it if it cannot be started."""
        what = f"cannot start container {name}"
        try:
            api.start(name)
        except _SDK_ERRORS as exc:
            if not isinstance(exc, requests.exceptions.ConnectionError):
                # a refusal, or a daemon too slow to say: either way nothing must be left behind
                with contextlib.suppress(*_SDK_ERRORS):
                    api.remove_container(name, force=True, v=True)
            raise self._error(api, exc, what) from exc

    def _resume(self, api: docker.APIClient, spec: TaskSpec) -> str:
        """``spec.name`` exists already: start it if an interrupted attempt left it created."""
        what = f"cannot inspect container {spec.name}"
        try:
            record = api.inspect_container(spec.name)
        except docker.errors.NotFound as exc:
            # removed between the two calls: poll says GONE, and the orchestrator starts it again
            raise BackendUnavailable(f"docker: container {spec.name} vanished while starting") from exc
        except _SDK_ERRORS as exc:
            raise self._error(api, exc, what, refused=BackendUnavailable) from exc
        labels = _mapping(_mapping(_mapping(record).get("Config")).get("Labels"))
        if labels.get(MANAGED_LABEL) != "1":
            raise BackendError(f"docker: a container named {spec.name} exists and rosetta did not start it")
        if str(_mapping(_mapping(record).get("State")).get("Status", "")).lower() == "created":
            self._start_created(api, spec.name)
        return spec.name

    def _ensure_image(self, api: docker.APIClient, spec: TaskSpec, progress: ProgressReport) -> None:
        """Make sure the daemon has ``spec.image``, pulling it as ``pull_policy`` says."""
        policy = self.options.pull_policy
        if policy != "always":
            what = f"cannot inspect image {spec.image}"
            try:
                image = _mapping(api.inspect_image(spec.image))  # type: ignore[no-untyped-call]
            except docker.errors.NotFound:
                image = None
            except _SDK_ERRORS as exc:
                raise self._error(api, exc, what) from exc
            if not pull_needed(policy, image, spec.image, spec.arch):
                return
        self._pull(api, spec, progress)

    def _pull(self, api: docker.APIClient, spec: TaskSpec, progress: ProgressReport) -> None:
        what = f"cannot pull image {spec.image}"
        platform = platform_of(spec.arch) if spec.arch else None
        error = ""
        progress(f"pulling {spec.image}" + (f" for {platform}" if platform else ""))
        try:
            for event in api.pull(spec.image, stream=True, decode=True, platform=platform):
                # failures after the pull began arrive as events, not as an HTTP status
                if isinstance(event, Mapping) and event.get("error"):
                    error = str(event["error"])
                    break
                line = pull_progress_line(event)
                if line:
                    progress(line)
        except _SDK_ERRORS as exc:
            raise self._error(api, exc, what) from exc
        if error:
            raise BackendError(f"docker: {what}: {error}")
        progress(f"pulled {spec.image}")

    def poll(self, handle: str, executor: Executor) -> Observation:
        """What the daemon says about ``handle``.

        ``RUNNING`` carries host ``127.0.0.1`` and, when the task has an interface, the published
        host port; ``EXITED`` carries the exit code, whatever it is; ``PENDING`` means created or
        restarting; ``GONE`` means the daemon has no such container. Raises
        :class:`BackendUnavailable` when the daemon cannot be asked.
        """
        if not DOCKER_NAME.fullmatch(handle):
            return Observation(state=Observed.GONE, detail="not a docker container name")
        if self.uses_command_line(executor):
            return self._cli.poll(handle, executor)
        api = self._api()
        try:
            record = api.inspect_container(handle)
        except docker.errors.NotFound:
            return Observation(state=Observed.GONE, detail="no such container")
        except _SDK_ERRORS as exc:
            raise self._error(
                api, exc, f"cannot inspect container {handle}", refused=BackendUnavailable
            ) from exc
        return parse_inspect(record)

    def stop(self, handle: str, executor: Executor) -> None:
        """Stop (SIGTERM, SIGKILL after ``stop_timeout`` s) and remove ``handle``; gone is fine."""
        if not DOCKER_NAME.fullmatch(handle):
            return
        if self.uses_command_line(executor):
            self._cli.stop(handle, executor)
            return
        api = self._api()
        if self.options.stop_timeout > 0:
            try:
                api.stop(handle, timeout=self.options.stop_timeout)
            except docker.errors.NotFound:
                return
            except docker.errors.APIError:
                pass  # the forced removal below kills it anyway, or says why it cannot
            except _SDK_ERRORS as exc:
                raise self._error(api, exc, f"cannot stop container {handle}") from exc
        what = f"cannot remove container {handle}"
        try:
            api.remove_container(handle, force=True, v=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if exc.status_code == 409 and "already in progress" in _explain(exc):
                return  # another stop got there first
            raise self._error(api, exc, what) from exc
        except _SDK_ERRORS as exc:
            raise self._error(api, exc, what) from exc

    def logs(self, handle: str, executor: Executor, *, tail: int = 1000) -> str:
        """The last ``tail`` lines the container wrote, stdout and stderr merged in order.

        Returns ``""`` for a container the daemon does not know (its logs went with it).
        """
        if tail <= 0 or not DOCKER_NAME.fullmatch(handle):
            return ""
        if self.uses_command_line(executor):
            return self._cli.logs(handle, executor, tail)
        api = self._api()
        try:
            raw = api.logs(handle, stdout=True, stderr=True, tail=tail)
        except docker.errors.NotFound:
            return ""
        except _SDK_ERRORS as exc:
            raise self._error(api, exc, f"cannot read the logs of container {handle}") from exc
        return last_lines(raw, tail)

    def list_handles(self, executor: Executor) -> list[str]:
        """Names of the containers this platform started, running or not, sorted."""
        if self.uses_command_line(executor):
            return self._cli.list_handles(executor)
        api = self._api()
        try:
            rows = api.containers(all=True, filters={"label": f"{MANAGED_LABEL}=1"})
        except _SDK_ERRORS as exc:
            raise self._error(api, exc, "cannot list containers", refused=BackendUnavailable) from exc
        if not isinstance(rows, list):
            raise BackendUnavailable(f"docker: cannot list containers: the daemon answered {rows!r:.200}")
        names = (str(name).lstrip("/") for row in rows for name in _mapping(row).get("Names") or ())
        return sorted({name for name in names if name.startswith(HANDLE_PREFIX)})

    # ---------------------------------------------------------------- errors

    def _error(
        self,
        api: docker.APIClient,
        exc: BaseException,
        what: str,
        *,
        refused: type[BackendError] = BackendError,
    ) -> BackendError:
        """Translate an SDK or transport exception; ``refused`` is the class for a refusal."""
        if isinstance(exc, docker.errors.APIError):
            return refused(f"docker: {what}: {_explain(exc)}")
        if isinstance(exc, requests.exceptions.Timeout):
            return BackendUnavailable(
                f"docker: {what}: the daemon at {self.url} did not answer within {self.options.timeout:g} s"
            )
        if isinstance(exc, docker.errors.DockerException) and _transport_cause(exc) is None:
            return refused(f"docker: {what}: {exc}")
        self._forget(api)
        return BackendUnavailable(f"docker: {what}: cannot reach the daemon at {self.url}: {_reason(exc)}")


# ---------------------------------------------------------------- pure helpers


def _ignore(_line: str) -> None:
    """A progress report that goes nowhere (``start`` pulling without a caller to tell)."""


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _explain(exc: docker.errors.APIError) -> str:
    """The daemon's own words for a refusal."""
    explanation = exc.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", errors="replace")
    text = str(explanation or "").strip() or str(exc)
    return text[-EXPLANATION_TAIL:]


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the exceptions it was raised from or during, and exceptions among its args."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [a for a in current.args if isinstance(a, BaseException)]
        todo += [c for c in (current.__cause__, current.__context__) if c is not None]


def _transport_cause(exc: BaseException) -> BaseException | None:
    """The transport failure behind ``exc``, if the daemon could not be reached."""
    for cause in _causes(exc):
        if isinstance(cause, _TRANSPORT_ERRORS) and not isinstance(cause, docker.errors.APIError):
            return cause
    return None


def _reason(exc: BaseException) -> str:
    """The operating system's words for a failed connection, else the exception's own."""
    for cause in _causes(exc):
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
    return str(exc) or type(exc).__name__


__all__: Sequence[str] = [
    "DEFAULT_URL",
    "LOCALHOST",
    "MANAGED_LABEL",
    "PORT_LABEL",
    "PULL_POLICIES",
    "DockerEngine",
    "DockerOptions",
    "connect",
    "daemon_url",
    "last_lines",
    "parse_inspect",
    "platform_of",
    "pull_progress_line",
]
