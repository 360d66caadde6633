"""The site configuration: one TOML file.

::

    [rosetta]
    store = "rosetta.sqlite"      # relative paths are relative to this file's folder
    reconcile_interval = 15       # seconds between reconcile passes
    action_lease = 300            # seconds before a start under way elsewhere counts as cut short

    [plugins]
    disabled = ["docker"]         # entry-point names never loaded
    # enabled = ["core", "podman"]  # when given, only these are loaded

    [plugin.podman]               # options of one plugin, structured into its own attrs class
    binary = "podman"

Secrets never go in this file; plugins read them from the environment or from files it names.
Without a file, ``ROSETTA_HOME`` (default ``~/.local/share/rosetta``) holds the store.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from rosetta_core import validators as v
from rosetta_core.errors import ConfigError, ValidationError
from rosetta_core.serde import structure

CONFIG_ENV = "ROSETTA_CONFIG"
HOME_ENV = "ROSETTA_HOME"


def default_home() -> Path:
    """Where the embedded default keeps its files: ``$ROSETTA_HOME`` or ``~/.local/share/rosetta``."""
    env = os.environ.get(HOME_ENV)
    return Path(env) if env else Path.home() / ".local" / "share" / "rosetta"


_PROGRAM_RE = re.compile(r"^[A-Za-z0-9_./+-]{1,255}$")


def _names(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        for item in value:
            v.name(None, attribute, item)


@attrs.frozen(kw_only=True)
class CoreSection:
    """The ``[rosetta]`` section."""

    store: str = "rosetta.sqlite"
    # the platform secret (made on first use, mode 0600): encrypts private keys at rest
    secret_file: str = "secret"  # noqa: S105 - a file name
    # users' private keys, one 0600 file each, encrypted with the platform secret
    keys_dir: str = "keys"
    reconcile_interval: float = attrs.field(default=15.0)
    # how long a start or a submission under way elsewhere is left alone before a reconcile pass
    # takes it as cut short by a crash
    action_lease: float = attrs.field(default=300.0)
    # the in-job agent of batch tasks: the Python that runs it on the nodes, the address the
    # interface is published on there, and an optional URL it reports to (else: status files)
    agent_python: str = attrs.field(
        default="python3", validator=v.matches(_PROGRAM_RE, "a program name or path")
    )
    agent_bind: str = attrs.field(default="127.0.0.1")
    agent_callback_url: str = attrs.field(default="")
    # where `rosetta serve` listens for agent reports ("HOST:PORT"; empty: it does not); put it
    # behind the HTTPS address that agent_callback_url names
    agent_listen: str = attrs.field(default="")

    @agent_listen.validator
    def _check_listen(self, attribute: attrs.Attribute[str], value: str) -> None:
        if value:
            try:
                ok = v.listen_address(value)[1] > 0
            except ValueError:
                ok = False
            if not ok:
                raise v.FieldError(attribute.name, "must look like 127.0.0.1:8765, or be empty")

    @property
    def agent_listen_address(self) -> tuple[str, int] | None:
        """``agent_listen`` as (host, port), or ``None`` when unset."""
        return v.listen_address(self.agent_listen) if self.agent_listen else None

    @agent_bind.validator
    def _check_bind(self, attribute: attrs.Attribute[str], value: str) -> None:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise v.FieldError(attribute.name, "must be an IP address such as 127.0.0.1 or 0.0.0.0") from None

    @agent_callback_url.validator
    def _check_callback(self, attribute: attrs.Attribute[str], value: str) -> None:
        if value and not re.fullmatch(r"^https?://[A-Za-z0-9.\[\]:-]+(/[A-Za-z0-9._~/-]*)?$", value):
            raise v.FieldError(attribute.name, "must be an http(s) URL, or empty")

    @reconcile_interval.validator
    def _check_interval(self, attribute: attrs.Attribute[float], value: float) -> None:
        check_interval(attribute.name, value)

    @action_lease.validator
    def _check_lease(self, attribute: attrs.Attribute[float], value: float) -> None:
        if not 0 <= value <= 86400:
            raise v.FieldError(attribute.name, "must be between 0 and 86400 seconds")


def check_interval(field: str, value: float) -> None:
    """Refuse a reconcile interval outside 0.05 s to one day (a busy loop, or never)."""
    if not 0.05 <= value <= 86400:
        raise v.FieldError(field, "must be between 0.05 and 86400 seconds")


@attrs.frozen(kw_only=True)
class PluginsSection:
    """The ``[plugins]`` section: which entry-point plugins load."""

    enabled: tuple[str, ...] | None = attrs.field(default=None, validator=_names)
    disabled: tuple[str, ...] = attrs.field(default=(), validator=_names)


@attrs.frozen(kw_only=True)
class SiteConfig:
    """The parsed site configuration. ``base_dir`` anchors relative paths."""

    rosetta: CoreSection = attrs.field(factory=CoreSection)
    plugins: PluginsSection = attrs.field(factory=PluginsSection)
    plugin: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    base_dir: Path = attrs.field(factory=default_home)
    source: Path | None = None

    @property
    def store_path(self) -> Path:
        """The store file; ``:memory:`` stays as it is."""
        if self.rosetta.store == ":memory:":
            return Path(":memory:")
        path = Path(os.path.expanduser(self.rosetta.store))
        return path if path.is_absolute() else self.base_dir / path

    @property
    def secret_path(self) -> Path:
        """The platform secret's file."""
        return self._path(self.rosetta.secret_file)

    @property
    def keys_path(self) -> Path:
        """The folder of private key files."""
        return self._path(self.rosetta.keys_dir)

    def _path(self, configured: str) -> Path:
        path = Path(os.path.expanduser(configured))
        return path if path.is_absolute() else self.base_dir / path

    def is_enabled(self, plugin_name: str) -> bool:
        """Whether the entry-point plugin ``plugin_name`` may load."""
        if plugin_name in self.plugins.disabled:
            return False
        return self.plugins.enabled is None or plugin_name in self.plugins.enabled

    def plugin_section(self, plugin_name: str) -> Mapping[str, Any]:
        return self.plugin.get(plugin_name, {})


def parse_config(
    data: Mapping[str, Any], *, base_dir: Path | None = None, source: Path | None = None
) -> SiteConfig:
    """Build a :class:`SiteConfig` from parsed TOML; raise :class:`ConfigError` naming every bad path."""
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise ConfigError("the site configuration must be a TOML table")
    for section in ("rosetta", "plugins", "plugin"):
        if section in data and not isinstance(data[section], Mapping):
            problems.append(f"$.{section}: must be a table ([{section}])")
    if problems:
        raise ConfigError("invalid site configuration: " + "; ".join(problems))
    unknown = sorted(set(data) - {"rosetta", "plugins", "plugin"})
    problems.extend(f"$.{key}: unknown section" for key in unknown)
    core, plugins = CoreSection(), PluginsSection()
    try:
        core = structure(dict(data.get("rosetta", {})), CoreSection, path="$.rosetta")
    except ValidationError as exc:
        problems.extend(exc.problems)
    try:
        raw_plugins = dict(data.get("plugins", {}))
        for key in ("enabled", "disabled"):
            if isinstance(raw_plugins.get(key), list):
                raw_plugins[key] = tuple(raw_plugins[key])
        plugins = structure(raw_plugins, PluginsSection, path="$.plugins")
    except ValidationError as exc:
        problems.extend(exc.problems)
    sections = data.get("plugin", {})
    if not isinstance(sections, Mapping) or not all(isinstance(s, Mapping) for s in sections.values()):
        problems.append("$.plugin: every [plugin.<name>] entry must be a table")
        sections = {}
    if problems:
        where = f" in {source}" if source else ""
        raise ConfigError(f"invalid site configuration{where}: " + "; ".join(problems))
    return SiteConfig(
        rosetta=core,
        plugins=plugins,
        plugin={k: dict(s) for k, s in sections.items()},
        base_dir=base_dir or default_home(),
        source=source,
    )


def load_config(path: str | os.PathLike[str] | None = None) -> SiteConfig:
    """Read the site configuration from ``path``, ``$ROSETTA_CONFIG``, or use the embedded default."""
    chosen = path if path is not None else os.environ.get(CONFIG_ENV)
    if chosen is None:
        return parse_config({})
    file = Path(chosen)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"site configuration not found: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read site configuration {file}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"site configuration {file} is not valid TOML: {exc}") from exc
    return parse_config(data, base_dir=file.resolve().parent, source=file)
