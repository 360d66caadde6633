"""The testing kit for the kernel and for plugin authors.

- :mod:`rosetta_core.testing.fakes`: :class:`ScriptedExecutor`, :class:`FakeEngine` (and
  :class:`FakeEnginePlugin`, which registers one) and :class:`FakeWorkloadManager` (fakes, for the
  kernel's own logic).
- :mod:`rosetta_core.testing.contracts`: suites every engine, workload manager, executor and
  tunnel must pass against the real component.
- :mod:`rosetta_core.testing.pytest_plugin`: fixtures, loaded automatically by pytest.
"""

from rosetta_core.testing.fakes import FakeEngine, FakeEnginePlugin, FakeWorkloadManager, ScriptedExecutor

__all__ = ["FakeEngine", "FakeEnginePlugin", "FakeWorkloadManager", "ScriptedExecutor"]
