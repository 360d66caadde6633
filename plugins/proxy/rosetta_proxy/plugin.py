"""The hook implementations: the entry point ``proxy`` in the ``rosetta`` group points here.

Registers :class:`~rosetta_proxy.options.ProxyOptions` (the ``[plugin.proxy]`` section) and the
tunnel ``proxy`` (:class:`~rosetta_proxy.tunnel.ProxyTunnel`), whose signing key is derived from
the platform secret, which keeps or strips a task's prefix as its software says
(``Software.keeps_prefix``) and reaches the task through the tunnel its resource's ``transport``
option names (:mod:`rosetta_proxy.transport`); closes the proxy server when the kernel shuts
down. Starting the server is left to whoever serves users: ``rosetta serve`` calls the tunnel's
``serve()`` (through :meth:`rosetta_core.connections.Connections.serve`), a web front may call it, or
:meth:`ProxyTunnel.start`; a one-off command never starts it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rosetta_core import hookimpl
from rosetta_core.errors import NotFoundError
from rosetta_core.model import Software
from rosetta_core.tunnels import Tunnel
from rosetta_proxy.options import ProxyOptions
from rosetta_proxy.transport import Transports
from rosetta_proxy.tunnel import ProxyTunnel

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel


@hookimpl
def rosetta_register_options(register: Callable[[type[Any]], None]) -> None:
    register(ProxyOptions)


@hookimpl
def rosetta_register_tunnels(register: Callable[[str, Tunnel], None], kernel: Kernel) -> None:
    def software(name: str) -> Software | None:
        try:
            return kernel.store.get(Software, name)
        except NotFoundError:
            return None

    tunnel = ProxyTunnel(
        lambda: kernel.secret, kernel.options(ProxyOptions), software=software, transports=Transports(kernel)
    )
    register(ProxyTunnel.name, tunnel)


@hookimpl
def rosetta_shutdown(kernel: Kernel) -> None:
    if ProxyTunnel.name in kernel.tunnels:
        tunnel = kernel.tunnels.get(ProxyTunnel.name)
        if isinstance(tunnel, ProxyTunnel):
            tunnel.close_all()
