"""The core's own plugin (entry point ``core``): what needs no third-party library.

It registers the ``local`` executor (this machine) and the ``direct`` tunnel, exactly as any other
plugin would; a site can disable it and provide its own.
"""

from __future__ import annotations

from collections.abc import Callable

from rosetta_core.executors import ExecutorFactory, local_executor_factory
from rosetta_core.hookspecs import hookimpl
from rosetta_core.tunnels import DirectTunnel, Tunnel


@hookimpl(trylast=True)
def rosetta_register_executors(register: Callable[[str, ExecutorFactory], None]) -> None:
    register("local", local_executor_factory)


@hookimpl(trylast=True)
def rosetta_register_tunnels(register: Callable[[str, Tunnel], None]) -> None:
    register("direct", DirectTunnel())
