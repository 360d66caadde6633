"""Fixtures for plugin authors, loaded by pytest through the ``pytest11`` entry point.

- ``rosetta_config``: a function ``(plugin_options=None, **core) -> SiteConfig`` whose store lives
  in the test's temporary folder.
- ``rosetta_kernel_factory``: builds started kernels on that store from explicit plugins (entry
  points are not loaded unless asked), with ``plugin_options`` (``[plugin.*]`` sections) and
  ``core_options`` (the ``[rosetta]`` section); every kernel it built is closed after the test.
- ``rosetta_kernel``: a started kernel with the core plugin only.
- ``rosetta_store``: a migrated store in the test's temporary folder.
- ``scripted_executor``: a fresh :class:`~rosetta_core.testing.fakes.ScriptedExecutor`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from rosetta_core.config import SiteConfig, parse_config
from rosetta_core.kernel import Kernel, create_kernel
from rosetta_core.store import Store
from rosetta_core.testing.fakes import ScriptedExecutor

ConfigFactory = Callable[..., SiteConfig]
KernelFactory = Callable[..., Kernel]


@pytest.fixture
def rosetta_config(tmp_path: Path) -> ConfigFactory:
    def make(plugin_options: Mapping[str, Mapping[str, Any]] | None = None, **core: Any) -> SiteConfig:
        data: dict[str, Any] = {"rosetta": {"store": str(tmp_path / "rosetta.sqlite"), **core}}
        if plugin_options:
            data["plugin"] = {k: dict(v) for k, v in plugin_options.items()}
        return parse_config(data, base_dir=tmp_path)

    return make


@pytest.fixture
def rosetta_kernel_factory(rosetta_config: ConfigFactory) -> Iterator[KernelFactory]:
    built: list[Kernel] = []

    def make(
        plugins: Sequence[object] | Mapping[str, object] = (),
        *,
        config: SiteConfig | None = None,
        plugin_options: Mapping[str, Mapping[str, Any]] | None = None,
        core_options: Mapping[str, Any] | None = None,
        start: bool = True,
        entry_points: bool = False,
    ) -> Kernel:
        site = config or rosetta_config(plugin_options, **(core_options or {}))
        kernel = create_kernel(site, plugins=plugins, entry_points=entry_points)
        built.append(kernel)
        if start:
            kernel.start()
        return kernel

    yield make
    for kernel in reversed(built):
        kernel.close()


@pytest.fixture
def rosetta_kernel(rosetta_kernel_factory: KernelFactory) -> Kernel:
    return rosetta_kernel_factory()


@pytest.fixture
def rosetta_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "store.sqlite")
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def scripted_executor() -> ScriptedExecutor:
    return ScriptedExecutor()
