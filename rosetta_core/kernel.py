"""The kernel: plugins, registries, options, store and orchestrator, built by :func:`create_kernel`.

There is no module-level plugin manager: every kernel owns its own, so tests and integrators can
build as many independent kernels as they like.

    kernel = create_kernel()            # entry-point plugins + site configuration
    kernel.start()                      # migrations, rosetta_startup, first reconcile pass
    ...
    kernel.close()                      # rosetta_shutdown, store closed
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import attrs
import pluggy
from sqlite_utils import Migrations

from rosetta_core import plugins as plugin_loading
from rosetta_core.auth import Authenticator
from rosetta_core.builders import ImageBuilder
from rosetta_core.config import SiteConfig, load_config
from rosetta_core.engines import ContainerEngine
from rosetta_core.errors import ConfigError, PluginError, ValidationError
from rosetta_core.executors import Executor, ExecutorFactory
from rosetta_core.model import Computing
from rosetta_core.platform_secret import load_or_create_secret
from rosetta_core.registry import Registry
from rosetta_core.serde import structure
from rosetta_core.storage import StorageBackend
from rosetta_core.store import Store
from rosetta_core.tunnels import Tunnel
from rosetta_core.workload import NO_WORKLOAD_MANAGER, WorkloadManager

log = logging.getLogger(__name__)
T = TypeVar("T")


class Kernel:
    """The running core. Build it with :func:`create_kernel`, not directly."""

    def __init__(
        self, config: SiteConfig, pm: pluggy.PluginManager, plugins: list[plugin_loading.PluginInfo]
    ) -> None:
        self.config = config
        self.pm = pm
        self.plugins = plugins
        self.engines: Registry[ContainerEngine] = Registry("engine")
        self.workload_managers: Registry[WorkloadManager] = Registry(
            "workload manager", reserved=frozenset({NO_WORKLOAD_MANAGER})
        )
        self.executors: Registry[ExecutorFactory] = Registry("executor")
        self.tunnels: Registry[Tunnel] = Registry("tunnel")
        self.authenticators: Registry[Authenticator] = Registry("authenticator")
        self.storages: Registry[StorageBackend] = Registry("storage")
        self.builders: Registry[ImageBuilder] = Registry("builder")
        self.migrations: list[tuple[str, Migrations]] = []
        self._options: dict[type[Any], Any] = {}
        self._options_owner: dict[str, type[Any]] = {}
        self._executors: dict[tuple[str, str | None], Executor] = {}
        self._store: Store | None = None
        self._secret: str | None = None
        self._started = False
        from rosetta_core.agent.channel import AgentChannel
        from rosetta_core.connections import Connections
        from rosetta_core.orchestrator import Orchestrator

        self.orchestrator = Orchestrator(self)
        self.connections = Connections(self)
        self.agents = AgentChannel(self)

    # ---------------------------------------------------------------- access

    @property
    def store(self) -> Store:
        """The store, opened on first use at the configured path."""
        if self._store is None:
            self._store = Store(self.config.store_path)
        return self._store

    @property
    def secret(self) -> str:
        """The platform secret (``[rosetta] secret_file``), made on first use."""
        if self._secret is None:
            self._secret = load_or_create_secret(self.config.secret_path)
        return self._secret

    def options(self, cls: type[T]) -> T:
        """The structured options of the plugin that registered ``cls``."""
        try:
            return self._options[cls]  # type: ignore[no-any-return]
        except KeyError:
            raise PluginError(f"no plugin registered options class {cls.__qualname__}") from None

    def executor_for(self, computing: Computing, owner: str | None = None) -> Executor:
        """The executor that acts on ``computing`` for the user ``owner`` (``None``: the platform).

        Cached per (computing resource, owner). Raises :class:`~rosetta_core.errors.AccountRequired`
        when the resource is reached with each user's account and ``owner`` is ``None``.
        """
        key = (computing.name, owner)
        cached = self._executors.get(key)
        if cached is None:
            cached = self.executors.get(computing.executor)(computing, owner)
            self._executors[key] = cached
        return cached

    def forget_executors(self, computing: str) -> None:
        """Drop the cached executors of ``computing`` (after its settings or trusted keys changed)."""
        for key in [k for k in self._executors if k[0] == computing]:
            del self._executors[key]

    def plugin_registrations(self, plugin: str) -> dict[str, list[str]]:
        """What ``plugin`` registered, by registry kind (only non-empty kinds)."""
        found = {
            "engines": self.engines.by_plugin(plugin),
            "workload_managers": self.workload_managers.by_plugin(plugin),
            "executors": self.executors.by_plugin(plugin),
            "tunnels": self.tunnels.by_plugin(plugin),
            "authenticators": self.authenticators.by_plugin(plugin),
            "storages": self.storages.by_plugin(plugin),
            "builders": self.builders.by_plugin(plugin),
            "migrations": [m.name for owner, m in self.migrations if owner == plugin],
            "options": [cls.__qualname__ for name, cls in self._options_owner.items() if name == plugin],
        }
        return {kind: names for kind, names in found.items() if names}

    # ---------------------------------------------------------------- life

    def start(self, *, reconcile: bool = True) -> Kernel:
        """Apply migrations, call ``rosetta_startup`` and run a first reconcile pass."""
        self.store.migrate(m for _, m in self.migrations)
        self.pm.hook.rosetta_startup(kernel=self)
        self._started = True
        if reconcile:
            self.orchestrator.reconcile()
        return self

    def close(self) -> None:
        """Call ``rosetta_shutdown`` on every plugin (errors logged) and close the store."""
        for impl in reversed(self.pm.hook.rosetta_shutdown.get_hookimpls()):
            try:
                impl.function(*[{"kernel": self}[a] for a in impl.argnames])
            except Exception:
                log.exception("plugin %r failed in rosetta_shutdown", impl.plugin_name)
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Kernel:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---------------------------------------------------------------- building

    def _configure(self) -> None:
        self._structure_options()
        registries: list[tuple[str, Registry[Any]]] = [
            ("rosetta_register_executors", self.executors),
            ("rosetta_register_engines", self.engines),
            ("rosetta_register_workload_managers", self.workload_managers),
            ("rosetta_register_tunnels", self.tunnels),
            ("rosetta_register_authenticators", self.authenticators),
            ("rosetta_register_storages", self.storages),
            ("rosetta_register_builders", self.builders),
        ]
        for hook_name, registry in registries:
            plugin_loading.call_each(self.pm, hook_name, self._registration_kwargs(registry))
        seen_sets: dict[str, str] = {}

        def migrations_for(plugin: str) -> dict[str, Any]:
            def register(migrations: Migrations) -> None:
                if not isinstance(migrations, Migrations):
                    raise PluginError(
                        f"plugin {plugin!r} registered migrations that are not a sqlite_utils.Migrations"
                    )
                if migrations.name in seen_sets:
                    raise PluginError(
                        f"migration set {migrations.name!r} is registered by two plugins: "
                        f"{seen_sets[migrations.name]!r} and {plugin!r}"
                    )
                seen_sets[migrations.name] = plugin
                self.migrations.append((plugin, migrations))

            return {"register": register}

        plugin_loading.call_each(self.pm, "rosetta_register_migrations", migrations_for)

    def _registration_kwargs(self, registry: Registry[Any]) -> Callable[[str], dict[str, Any]]:
        def make(plugin: str) -> dict[str, Any]:
            return {"register": _registrar(registry, plugin), "kernel": self}

        return make

    def _structure_options(self) -> None:
        loaded = {info.name for info in self.plugins}
        unknown = sorted(set(self.config.plugin) - loaded)
        if unknown:
            raise ConfigError(
                "site configuration has options for plugins that are not installed: "
                + ", ".join(f"[plugin.{name}]" for name in unknown)
            )

        def options_for(plugin: str) -> dict[str, Any]:
            def register(cls: type[Any]) -> None:
                if not attrs.has(cls):
                    raise PluginError(f"plugin {plugin!r} registered options that are not an attrs class")
                if plugin in self._options_owner:
                    raise PluginError(f"plugin {plugin!r} registered options twice")
                section = dict(self.config.plugin_section(plugin))
                try:
                    self._options[cls] = structure(
                        section, cls, what=f"options of plugin {plugin!r}", path=f"$.plugin.{plugin}"
                    )
                except ValidationError as exc:
                    raise ConfigError(str(exc)) from None
                self._options_owner[plugin] = cls

            return {"register": register}

        plugin_loading.call_each(self.pm, "rosetta_register_options", options_for)


def _registrar(registry: Registry[Any], plugin: str) -> Callable[[str, Any], None]:
    def register(name: str, item: Any) -> None:
        registry.register(name, item, plugin)

    return register


def create_kernel(
    config: SiteConfig | str | os.PathLike[str] | None = None,
    *,
    plugins: Sequence[object] | Mapping[str, object] | None = None,
    entry_points: bool | None = None,
    store_path: str | Path | None = None,
) -> Kernel:
    """Build a kernel.

    :param config: a :class:`SiteConfig`, a path to a TOML file, or ``None`` for
        ``$ROSETTA_CONFIG`` or the embedded default.
    :param plugins: plugin objects (modules, instances) to register explicitly, as a list (names
        from :func:`~rosetta_core.plugins.plugin_name_of`) or a name-to-plugin mapping.
    :param entry_points: load installed entry-point plugins; defaults to ``True`` when ``plugins``
        is not given and ``False`` when it is (so tests see only what they pass, plus ``core``).
    :param store_path: overrides the configured store path.
    :raises PluginError: a plugin cannot be imported, implements an unknown hook, or registers a
        name another plugin registered (both are named).
    :raises ConfigError: the site configuration or a plugin's options section is invalid.
    """
    site = config if isinstance(config, SiteConfig) else load_config(config)
    if store_path is not None:
        site = attrs.evolve(site, rosetta=attrs.evolve(site.rosetta, store=str(store_path)))
    use_entry_points = (plugins is None) if entry_points is None else entry_points
    pm = plugin_loading.make_plugin_manager()
    infos: list[plugin_loading.PluginInfo] = []
    explicit_names: set[str] = set()
    if plugins is not None:
        named = (
            dict(plugins.items())
            if isinstance(plugins, Mapping)
            else {plugin_loading.plugin_name_of(p): p for p in plugins}
        )
        explicit_names = set(named)
        if not use_entry_points and "core" not in named:
            from rosetta_core import builtin

            named = {"core": builtin, **named}
        infos.extend(plugin_loading.load_explicit(pm, named, site))
    if use_entry_points:
        infos[:0] = plugin_loading.load_entry_points(pm, site, skip=explicit_names)
    known = {info.name for info in infos}
    listed = set(site.plugins.disabled) | set(site.plugins.enabled or ())
    if listed - known:
        raise ConfigError(
            "site configuration names plugins that are not installed: "
            + ", ".join(sorted(listed - known))
            + f" (installed: {', '.join(sorted(known))})"
        )
    pm.hook.rosetta_addhooks.call_historic(kwargs={"pluginmanager": pm})
    plugin_loading.check_pending(pm)
    kernel = Kernel(site, pm, infos)
    kernel._configure()
    return kernel
