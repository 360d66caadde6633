"""The ``[plugin.docker]`` options. Importing this module does not import the docker SDK, so the
kernel starts fast; the SDK is loaded when the engine first talks to a daemon."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from rosetta_core.validators import FieldError

PULL_POLICIES = frozenset({"always", "missing", "never"})
DEFAULT_URL = "unix:///var/run/docker.sock"
URL_SCHEMES = ("unix://", "tcp://", "ssh://", "http://", "https://")


def _pull_policy(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or value not in PULL_POLICIES:
        choices = ", ".join(repr(p) for p in sorted(PULL_POLICIES))
        raise FieldError(attribute.name, f"{value!r} is not one of {choices}")


def _base_url(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or value != value.strip() or "\x00" in value:
        raise FieldError(attribute.name, "must be a URL without spaces")
    if not value:
        return
    if not value.startswith(URL_SCHEMES) or any(c.isspace() for c in value):
        schemes = ", ".join(URL_SCHEMES)
        raise FieldError(
            attribute.name, f"{value!r} must start with one of {schemes} (or be empty for DOCKER_HOST)"
        )
    if value == "unix://":
        raise FieldError(attribute.name, "unix:// needs the path of the daemon's socket")
    import docker.errors
    import docker.utils

    try:
        docker.utils.parse_host(value)
    except (docker.errors.DockerException, ValueError) as exc:
        raise FieldError(attribute.name, f"{value!r} is not a daemon address: {exc}") from None


def _binary(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip() or "\x00" in value or value.startswith("-"):
        raise FieldError(attribute.name, "must be a program name or path")


def _timeout(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise FieldError(attribute.name, "must be a positive number of seconds")


def _stop_timeout(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3600:
        raise FieldError(attribute.name, "must be a whole number of seconds between 0 and 3600")


def _labels(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Mapping):
        raise FieldError(attribute.name, "must be a table of strings")
    for key, label in value.items():
        if not isinstance(key, str) or not key or "=" in key or "\x00" in key or key.isspace():
            raise FieldError(attribute.name, f"{key!r} cannot be a label name")
        if not isinstance(label, str) or "\x00" in label:
            raise FieldError(attribute.name, f"the value of {key!r} must be a string")
        if key.startswith("rosetta."):
            raise FieldError(attribute.name, f"{key!r}: names starting with 'rosetta.' are the platform's")


def _frozen_labels(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value)) if isinstance(value, Mapping) else value


@attrs.frozen(kw_only=True)
class DockerOptions:
    """The ``[plugin.docker]`` section of the site configuration.

    :ivar base_url: the daemon: ``unix:///path``, ``tcp://host:port`` or ``ssh://user@host``; empty
        means ``DOCKER_HOST``, else ``unix:///var/run/docker.sock``. TLS for ``tcp://`` comes from
        ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``, as for the docker command line.
    :ivar pull_policy: ``missing`` pulls an image the daemon does not have (or has for another
        architecture), ``always`` pulls before every start, ``never`` refuses to start without a
        local image and never asks a registry.
    :ivar timeout: seconds one call to the daemon, or one ``docker`` command on the command-line
        path, may take before the daemon counts as unreachable (rounded up to whole seconds for the
        SDK; pulls are not limited by it).
    :ivar pull_timeout: seconds one ``docker pull`` may take on the command-line path (the SDK
        path does not limit pulls).
    :ivar stop_timeout: seconds ``stop`` gives the container's main process between SIGTERM and
        SIGKILL; 0 kills at once.
    :ivar init: run an init process as PID 1 (``docker run --init``), so that a main process which
        ignores SIGTERM still stops at once.
    :ivar labels: extra labels on every container (names starting with ``rosetta.`` are reserved).
    :ivar binary: the docker program: named by :meth:`DockerEngine.build_command` (batch scripts)
        and run by the command-line path on the executor's host (a name on its ``PATH`` or a path).
    :ivar use_ssh_client: for ``ssh://`` URLs, run the ``ssh`` program (which reads
        ``~/.ssh/config``) instead of paramiko.
    """

    base_url: str = attrs.field(default="", validator=_base_url)
    pull_policy: str = attrs.field(default="missing", validator=_pull_policy)
    timeout: float = attrs.field(default=120.0, validator=_timeout)
    pull_timeout: float = attrs.field(default=900.0, validator=_timeout)
    stop_timeout: int = attrs.field(default=5, validator=_stop_timeout)
    init: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_labels, validator=_labels)
    binary: str = attrs.field(default="docker", validator=_binary)
    use_ssh_client: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))


def daemon_url(options: DockerOptions, environ: Mapping[str, str] | None = None) -> str:
    """The daemon ``options`` name: ``base_url``, else ``DOCKER_HOST``, else the local socket."""
    env = os.environ if environ is None else environ
    return options.base_url or env.get("DOCKER_HOST", "").strip() or DEFAULT_URL
