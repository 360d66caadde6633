"""Finding, loading and validating plugins.

Installed plugins announce themselves in the entry-point group ``rosetta``; the entry-point name is
the plugin's name everywhere (site configuration, ``rosetta plugins``, error messages). Disabled
plugins are never imported. Tests and integrators may pass plugin objects explicitly instead.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import attrs
import pluggy

from rosetta_core import hookspecs
from rosetta_core.config import SiteConfig
from rosetta_core.errors import PluginError, RosettaError

ENTRY_POINT_GROUP = "rosetta"


@attrs.frozen(kw_only=True)
class PluginInfo:
    """What the kernel knows about one plugin, loaded or not."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    enabled: bool = True


def discover() -> list[EntryPoint]:
    """Every entry point in the ``rosetta`` group, sorted by name ("core" first)."""
    eps = list(entry_points(group=ENTRY_POINT_GROUP))
    return sorted(eps, key=lambda ep: (ep.name != "core", ep.name))


def _entry_point_info(ep: EntryPoint, enabled: bool) -> PluginInfo:
    dist = ep.dist
    return PluginInfo(
        name=ep.name,
        module=ep.value,
        distribution=dist.name if dist is not None else None,
        version=dist.version if dist is not None else None,
        enabled=enabled,
    )


def plugin_name_of(plugin: object) -> str:
    """The name of an explicitly given plugin: its ``rosetta_plugin_name``, module or class name."""
    explicit = getattr(plugin, "rosetta_plugin_name", None)
    if isinstance(explicit, str):
        return explicit
    if isinstance(plugin, ModuleType):
        return plugin.__name__.rsplit(".", 1)[-1]
    if isinstance(plugin, type):
        return plugin.__name__
    return type(plugin).__name__


def make_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def register_plugin(pm: pluggy.PluginManager, name: str, plugin: object) -> None:
    """Register one plugin object, translating pluggy's validation errors."""
    if pm.get_plugin(name) is not None:
        raise PluginError(f"two plugins are named {name!r}; disable one of them in the site configuration")
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {name!r} is invalid: {exc}") from exc
    except ValueError as exc:
        raise PluginError(f"plugin {name!r} cannot be registered: {exc}") from exc


def load_entry_points(
    pm: pluggy.PluginManager, config: SiteConfig, *, skip: Iterable[str] = ()
) -> list[PluginInfo]:
    """Import and register every enabled entry-point plugin; return info on all, enabled or not."""
    infos: list[PluginInfo] = []
    skipped = set(skip)
    for ep in discover():
        enabled = config.is_enabled(ep.name) and ep.name not in skipped
        infos.append(_entry_point_info(ep, enabled))
        if not enabled:
            pm.set_blocked(ep.name)
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(f"plugin {ep.name!r} ({ep.value}) cannot be imported: {exc}") from exc
        register_plugin(pm, ep.name, plugin)
    return infos


def load_explicit(
    pm: pluggy.PluginManager, plugins: Sequence[object] | Mapping[str, object], config: SiteConfig
) -> list[PluginInfo]:
    """Register plugin objects given in code (tests, integrators); the config's enable list applies."""
    items = plugins.items() if isinstance(plugins, Mapping) else ((plugin_name_of(p), p) for p in plugins)
    infos: list[PluginInfo] = []
    for name, plugin in items:
        if isinstance(plugin, str):
            plugin = importlib.import_module(plugin)
        module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
        enabled = config.is_enabled(name)
        infos.append(PluginInfo(name=name, module=module, enabled=enabled))
        if enabled:
            register_plugin(pm, name, plugin)
    return infos


def check_pending(pm: pluggy.PluginManager) -> None:
    """Fail when a plugin implements a hook that no spec declares (a misspelled hook name)."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) if exc.plugin is not None else "?"
        raise PluginError(f"plugin {name!r} implements an unknown hook: {exc}") from exc


def call_each(
    pm: pluggy.PluginManager,
    hook_name: str,
    make_kwargs: Callable[[str], dict[str, Any]],
) -> None:
    """Call every implementation of ``hook_name`` in pluggy's order, telling each which plugin it is.

    ``make_kwargs(plugin_name)`` builds the arguments; each implementation gets the subset it names.
    Used for registration hooks so a registry can name the plugin behind every entry.
    """
    caller = getattr(pm.hook, hook_name)
    for impl in reversed(caller.get_hookimpls()):
        kwargs = make_kwargs(impl.plugin_name)
        args = [kwargs[arg] for arg in impl.argnames]
        try:
            impl.function(*args)
        except RosettaError:
            raise
        except Exception as exc:
            raise PluginError(f"plugin {impl.plugin_name!r} failed in {hook_name}: {exc}") from exc
