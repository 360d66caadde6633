"""The ``docker`` command lines the engine hands out or runs, built from a task spec (pure).

:func:`run_args` is shared: :meth:`~rosetta_docker.engine.DockerEngine.build_command` (a batch
script's foreground ``docker run --rm``) and the command-line path's ``docker run -d``
(:mod:`rosetta_docker.cli`) both put it between ``run`` and the image, so a task is described to
docker the same way wherever it runs. Every value (environment, labels, paths, the command) is one
whole argv entry; nothing here is ever a shell string. Importing this module does not import the
docker SDK.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from rosetta_core.engines import TaskSpec
from rosetta_core.errors import BackendError
from rosetta_docker.options import DockerOptions

MANAGED_LABEL = "rosetta.managed"
PORT_LABEL = "rosetta.interface_port"
LOCALHOST = "127.0.0.1"
# docker's own rule for container names; anything else cannot name a container (and a handle
# goes into the URL path of an API call, so it must never carry "/" or "..")
DOCKER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_spec(spec: TaskSpec) -> None:
    """Raise :class:`BackendError` for a spec docker cannot express; return if it can.

    Refused: a name docker would not take, an image reference that is empty, starts with ``-`` or
    holds whitespace, an environment name that is not ``[A-Za-z_][A-Za-z0-9_]*``, a label name
    that is empty or holds ``=`` or whitespace (the docker command line refuses those), and a bind
    path that is relative or holds ``:`` or ``,``.
    """
    if not DOCKER_NAME.fullmatch(spec.name):
        raise BackendError(f"docker: {spec.name!r} cannot name a docker container")
    if not spec.image or spec.image.startswith("-") or any(c.isspace() for c in spec.image):
        raise BackendError(f"docker: {spec.image!r} is not an image reference")
    for key in spec.env:
        if not _ENV_KEY.fullmatch(key):
            raise BackendError(f"docker: environment variable name {key!r} cannot be passed to docker")
    for key in spec.labels:
        if not key or "=" in key or any(c.isspace() for c in key):
            raise BackendError(f"docker: {key!r} cannot be a label name")
    for bind in spec.binds:
        for path in (bind.source, bind.target):
            if not path.startswith("/") or ":" in path or "," in path:
                raise BackendError(f"docker: bind path {path!r} must be absolute and contain no ':' or ','")


def labels_for(options: DockerOptions, spec: TaskSpec) -> dict[str, str]:
    """The container's labels: the site's, the spec's, then the engine's own (which win)."""
    labels = {**options.labels, **spec.labels, MANAGED_LABEL: "1"}
    if spec.interface_port is not None:
        labels[PORT_LABEL] = str(spec.interface_port)
    return labels


def platform_of(arch: str) -> str:
    """The docker platform of an architecture such as ``amd64`` or ``arm64/v8``."""
    return f"linux/{arch}"


def volumes(spec: TaskSpec) -> list[str]:
    """The binds as docker writes them: ``src:dst`` or ``src:dst:ro``."""
    return [f"{b.source}:{b.target}" + (":ro" if b.read_only else "") for b in spec.binds]


def run_args(options: DockerOptions, spec: TaskSpec, *, pull: str, publish: bool) -> list[str]:
    """The ``docker run`` options for ``spec``, to go between ``run`` and the image.

    In this order: ``--pull=<pull>``, ``--name``, ``--init`` (option ``init``), ``--platform``
    (when the spec names an architecture), the labels sorted by name (:func:`labels_for`), the
    environment sorted by name (``-e KEY=VALUE``), ``--cpus``, ``--memory <n>m``, the binds
    (``-v``), and with ``publish`` the interface port on loopback at a host port docker picks
    (``-p 127.0.0.1::<port>``). Raises :class:`BackendError` for a spec :func:`check_spec` refuses.
    """
    check_spec(spec)
    args = [f"--pull={pull}", "--name", spec.name]
    if options.init:
        args.append("--init")
    if spec.arch:
        args += ["--platform", platform_of(spec.arch)]
    for key, value in sorted(labels_for(options, spec).items()):
        args += ["--label", f"{key}={value}"]
    for key, value in sorted(spec.env.items()):
        args += ["-e", f"{key}={value}"]
    if spec.resources.cpus is not None:
        args += ["--cpus", str(spec.resources.cpus)]
    if spec.resources.memory_mb is not None:
        args += ["--memory", f"{spec.resources.memory_mb}m"]
    for volume in volumes(spec):
        args += ["-v", volume]
    if publish and spec.interface_port is not None:
        # no host port: docker picks a free one atomically, so two tasks never race for it
        args += ["-p", f"{LOCALHOST}::{spec.interface_port}"]
    return args


def batch_argv(options: DockerOptions, spec: TaskSpec) -> list[str]:
    """The foreground ``docker run --rm --pull=<policy>`` argv of a batch script (no port published)."""
    args = run_args(options, spec, pull=options.pull_policy, publish=False)
    return [options.binary, "run", "--rm", *args, spec.image, *spec.command]


def start_argv(options: DockerOptions, spec: TaskSpec) -> list[str]:
    """The detached ``docker run -d --pull=never`` argv of the command-line path's start.

    ``--pull=never``: the image was made available first, as the pull policy says, so the run
    itself never waits on a registry within the command's timeout.
    """
    args = run_args(options, spec, pull="never", publish=True)
    return [options.binary, "run", "-d", *args, spec.image, *spec.command]


def pull_argv(options: DockerOptions, spec: TaskSpec) -> list[str]:
    """``docker pull [--platform linux/<arch>] <image>``."""
    check_spec(spec)
    platform = ["--platform", platform_of(spec.arch)] if spec.arch else []
    return [options.binary, "pull", *platform, spec.image]


def image_inspect_argv(options: DockerOptions, image: str) -> list[str]:
    """``docker image inspect <image>``: a JSON list of the image's record."""
    return [options.binary, "image", "inspect", image]


def inspect_argv(options: DockerOptions, handle: str) -> list[str]:
    """``docker container inspect <handle>``: a JSON list of the container's record."""
    return [options.binary, "container", "inspect", handle]


def start_created_argv(options: DockerOptions, handle: str) -> list[str]:
    """``docker start <handle>``, for a container left created by an interrupted start."""
    return [options.binary, "start", handle]


def stop_argv(options: DockerOptions, handle: str) -> list[str]:
    """``docker stop -t <stop_timeout> <handle>``."""
    return [options.binary, "stop", "-t", str(options.stop_timeout), handle]


def remove_argv(options: DockerOptions, handle: str) -> list[str]:
    """``docker rm -f -v <handle>``: the container and its anonymous volumes."""
    return [options.binary, "rm", "-f", "-v", handle]


def logs_argv(options: DockerOptions, handle: str, tail: int) -> list[str]:
    """``docker logs --timestamps --tail <tail> <handle>`` (timestamps: to merge the two streams)."""
    return [options.binary, "logs", "--timestamps", "--tail", str(tail), handle]


def list_argv(options: DockerOptions) -> list[str]:
    """``docker ps -a`` of the platform's containers, one line of comma-separated names each."""
    return [
        options.binary,
        "ps",
        "-a",
        "--filter",
        f"label={MANAGED_LABEL}=1",
        "--format",
        "{{.Names}}",
    ]


def env_pairs(env: Mapping[str, str]) -> list[str]:
    """``KEY=VALUE`` entries sorted by name, as the SDK's ``environment`` takes them."""
    return [f"{key}={value}" for key, value in sorted(env.items())]


__all__: Sequence[str] = [
    "DOCKER_NAME",
    "LOCALHOST",
    "MANAGED_LABEL",
    "PORT_LABEL",
    "batch_argv",
    "check_spec",
    "env_pairs",
    "image_inspect_argv",
    "inspect_argv",
    "labels_for",
    "list_argv",
    "logs_argv",
    "platform_of",
    "pull_argv",
    "remove_argv",
    "run_args",
    "start_argv",
    "start_created_argv",
    "stop_argv",
    "volumes",
]
