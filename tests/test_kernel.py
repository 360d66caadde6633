"""The kernel factory: plugins, registries, options, lifecycle hooks, failures that name the plugin."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pluggy
import pytest
from sqlite_utils import Migrations

from rosetta_core import builtin, create_kernel, hookimpl, hookspec
from rosetta_core.config import parse_config
from rosetta_core.errors import ConfigError, DuplicateNameError, PluginError, UnknownNameError
from rosetta_core.kernel import Kernel
from rosetta_core.testing import FakeEngine

KernelFactory = Callable[..., Kernel]


class EnginePlugin:
    def __init__(self, *names: str) -> None:
        self.names = names

    @hookimpl
    def rosetta_register_engines(self, register: Callable[[str, Any], None]) -> None:
        for name in self.names:
            register(name, FakeEngine(name))


class Everything:
    """Registers one object in every registry and records the lifecycle calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl
    def rosetta_register_workload_managers(self, register: Callable[[str, Any], None]) -> None:
        register("batchy", object())

    @hookimpl
    def rosetta_register_executors(self, register: Callable[[str, Any], None], kernel: Kernel) -> None:
        assert isinstance(kernel, Kernel)
        register("remote", lambda computing, owner: None)

    @hookimpl
    def rosetta_register_tunnels(self, register: Callable[[str, Any], None]) -> None:
        register("proxyish", object())

    @hookimpl
    def rosetta_register_authenticators(self, register: Callable[[str, Any], None]) -> None:
        register("everyone", object())

    @hookimpl
    def rosetta_register_storages(self, register: Callable[[str, Any], None]) -> None:
        register("posixish", object())

    @hookimpl
    def rosetta_register_builders(self, register: Callable[[str, Any], None]) -> None:
        register("builder", object())

    @hookimpl
    def rosetta_startup(self, kernel: Kernel) -> None:
        self.calls.append("startup")

    @hookimpl
    def rosetta_shutdown(self, kernel: Kernel) -> None:
        self.calls.append("shutdown")


def test_every_registry_is_filled_and_attributed(rosetta_kernel_factory: KernelFactory) -> None:
    plugin = Everything()
    kernel = rosetta_kernel_factory({"everything": plugin, "engines": EnginePlugin("a", "b")})
    assert kernel.plugin_registrations("everything") == {
        "workload_managers": ["batchy"],
        "executors": ["remote"],
        "tunnels": ["proxyish"],
        "authenticators": ["everyone"],
        "storages": ["posixish"],
        "builders": ["builder"],
    }
    assert kernel.plugin_registrations("engines") == {"engines": ["a", "b"]}
    assert kernel.plugin_registrations("core") == {"executors": ["local"], "tunnels": ["direct"]}
    assert plugin.calls == ["startup"]


def test_shutdown_is_called_once_and_errors_do_not_stop_it(rosetta_config: Callable[..., Any]) -> None:
    plugin = Everything()

    class Broken:
        @hookimpl
        def rosetta_shutdown(self) -> None:
            raise RuntimeError("boom")

    kernel = create_kernel(rosetta_config(), plugins={"everything": plugin, "broken": Broken()})
    kernel.start()
    kernel.close()
    assert plugin.calls == ["startup", "shutdown"]


def test_startup_failure_stops_start(rosetta_kernel_factory: KernelFactory) -> None:
    class Refuses:
        @hookimpl
        def rosetta_startup(self) -> None:
            raise RuntimeError("not today")

    with pytest.raises(RuntimeError, match=r"not today"):
        rosetta_kernel_factory({"refuses": Refuses()})


def test_duplicate_engine_names_both_plugins(rosetta_kernel_factory: KernelFactory) -> None:
    with pytest.raises(DuplicateNameError) as info:
        rosetta_kernel_factory({"first": EnginePlugin("podman"), "second": EnginePlugin("podman")})
    message = str(info.value)
    assert "'first'" in message and "'second'" in message and "'podman'" in message


def test_misspelled_hook_names_the_plugin(rosetta_kernel_factory: KernelFactory) -> None:
    class Typo:
        @hookimpl
        def rosetta_register_engine(self, register: Any) -> None:  # missing "s"
            pass

    with pytest.raises(PluginError, match=r"'typo'.*rosetta_register_engine"):
        rosetta_kernel_factory({"typo": Typo()})


def test_hook_argument_not_in_spec_names_the_plugin(rosetta_kernel_factory: KernelFactory) -> None:
    class WrongArgs:
        @hookimpl
        def rosetta_startup(self, kernel: Any, colour: Any) -> None:
            pass

    with pytest.raises(PluginError, match=r"'wrongargs'"):
        rosetta_kernel_factory({"wrongargs": WrongArgs()})


def test_invalid_registered_name_is_refused(rosetta_kernel_factory: KernelFactory) -> None:
    with pytest.raises(PluginError, match=r"invalid name"):
        rosetta_kernel_factory({"bad": EnginePlugin("rm -rf")})


def test_workload_manager_none_is_reserved(rosetta_kernel_factory: KernelFactory) -> None:
    class Sneaky:
        @hookimpl
        def rosetta_register_workload_managers(self, register: Any) -> None:
            register("none", object())

    with pytest.raises(PluginError, match=r"reserved"):
        rosetta_kernel_factory({"sneaky": Sneaky()})


def test_disabled_plugin_is_not_registered(rosetta_config: Callable[..., Any], tmp_path: Path) -> None:
    config = parse_config(
        {"rosetta": {"store": str(tmp_path / "s.sqlite")}, "plugins": {"disabled": ["engines"]}},
        base_dir=tmp_path,
    )
    with create_kernel(config, plugins={"engines": EnginePlugin("a")}) as kernel:
        assert kernel.engines.names() == []
        assert [(i.name, i.enabled) for i in kernel.plugins] == [("core", True), ("engines", False)]
        with pytest.raises(UnknownNameError, match=r"no engine named 'a'"):
            kernel.engines.get("a")


def test_enabled_list_keeps_only_those(tmp_path: Path) -> None:
    config = parse_config({"plugins": {"enabled": ["core", "one"]}}, base_dir=tmp_path)
    with create_kernel(config, plugins={"one": EnginePlugin("a"), "two": EnginePlugin("b")}) as kernel:
        assert kernel.engines.names() == ["a"]


@attrs.frozen(kw_only=True)
class ColourOptions:
    colour: str = "blue"
    depth: int = 3


class Coloured:
    @hookimpl
    def rosetta_register_options(self, register: Callable[[type[Any]], None]) -> None:
        register(ColourOptions)

    @hookimpl
    def rosetta_register_engines(self, register: Callable[[str, Any], None], kernel: Kernel) -> None:
        register(kernel.options(ColourOptions).colour, FakeEngine())


def test_plugin_options_are_structured_from_the_site_config(rosetta_kernel_factory: KernelFactory) -> None:
    kernel = rosetta_kernel_factory({"coloured": Coloured()}, plugin_options={"coloured": {"colour": "red"}})
    assert kernel.options(ColourOptions) == ColourOptions(colour="red", depth=3)
    assert kernel.engines.names() == ["red"]


def test_plugin_options_default_without_a_section(rosetta_kernel_factory: KernelFactory) -> None:
    assert rosetta_kernel_factory({"coloured": Coloured()}).options(ColourOptions) == ColourOptions()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"depth": "deep"}, r"\$\.plugin\.coloured\.depth: expected int"),
        ({"shade": "dark"}, r"\$\.plugin\.coloured\.shade: unknown field"),
    ],
)
def test_bad_plugin_options_name_the_path(
    rosetta_kernel_factory: KernelFactory, section: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        rosetta_kernel_factory({"coloured": Coloured()}, plugin_options={"coloured": section})


def test_options_for_a_plugin_that_is_not_installed(rosetta_kernel_factory: KernelFactory) -> None:
    with pytest.raises(ConfigError, match=r"\[plugin\.colored\]"):
        rosetta_kernel_factory({"coloured": Coloured()}, plugin_options={"colored": {"colour": "red"}})


def test_unregistered_options_class_is_an_error(rosetta_kernel: Kernel) -> None:
    with pytest.raises(PluginError, match=r"ColourOptions"):
        rosetta_kernel.options(ColourOptions)


migrations = Migrations("quota")


@migrations(name="0001_quota")
def _quota(db: Any) -> None:
    db["quota"].create({"owner": str, "cpus": int}, pk="owner")


class WithMigrations:
    @hookimpl
    def rosetta_register_migrations(self, register: Callable[[Migrations], None]) -> None:
        register(migrations)


def test_plugin_migrations_are_applied_once(rosetta_kernel_factory: KernelFactory) -> None:
    kernel = rosetta_kernel_factory({"quota": WithMigrations()})
    assert "quota" in kernel.store.db.table_names()
    assert kernel.plugin_registrations("quota") == {"migrations": ["quota"]}
    assert kernel.store.migrate(m for _, m in kernel.migrations) == []


def test_migration_set_registered_twice_is_refused(rosetta_kernel_factory: KernelFactory) -> None:
    with pytest.raises(PluginError, match=r"registered by two plugins: '(one|two)' and '(one|two)'"):
        rosetta_kernel_factory({"one": WithMigrations(), "two": WithMigrations()})


class MySpecs:
    @hookspec
    def rosetta_web_routes(self, routes: list[str]) -> None:
        """Add routes."""


class AddsHooks:
    @hookimpl
    def rosetta_addhooks(self, pluginmanager: pluggy.PluginManager) -> None:
        pluginmanager.add_hookspecs(MySpecs)


class UsesNewHook:
    @hookimpl
    def rosetta_web_routes(self, routes: list[str]) -> None:
        routes.append("/hello")


def test_addhooks_lets_a_plugin_add_hook_specs(rosetta_kernel_factory: KernelFactory) -> None:
    kernel = rosetta_kernel_factory({"adds": AddsHooks(), "uses": UsesNewHook()})
    routes: list[str] = []
    kernel.pm.hook.rosetta_web_routes(routes=routes)
    assert routes == ["/hello"]


def test_kernels_are_independent(rosetta_kernel_factory: KernelFactory) -> None:
    one = rosetta_kernel_factory({"e": EnginePlugin("a")})
    two = rosetta_kernel_factory({"e": EnginePlugin("b")})
    assert one.pm is not two.pm
    assert one.engines.names() == ["a"] and two.engines.names() == ["b"]


def test_core_is_added_to_explicit_plugin_lists(rosetta_kernel: Kernel) -> None:
    assert rosetta_kernel.pm.get_plugin("core") is builtin
    assert rosetta_kernel.executors.names() == ["local"]


def test_kernel_is_a_context_manager(rosetta_config: Callable[..., Any]) -> None:
    with create_kernel(rosetta_config(), plugins=[]) as kernel:
        kernel.start()
        assert kernel.store.all.__self__ is kernel.store  # type: ignore[attr-defined]
    assert kernel._store is None


@pytest.mark.parametrize("section", [{"disabled": ["podmn"]}, {"enabled": ["core", "podmn"]}])
def test_misspelled_plugin_in_enable_lists(tmp_path: Path, section: dict[str, Any]) -> None:
    config = parse_config({"plugins": section}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match="not installed: podmn"):
        create_kernel(config, plugins={"engines": EnginePlugin("a")})
