"""The hook implementations: the entry point ``ssh`` in the ``rosetta`` group points here.

Registers :class:`~rosetta_ssh.options.SSHOptions` (the ``[plugin.ssh]`` section), the executor
factory ``ssh`` (:class:`~rosetta_ssh.factory.SSHExecutorFactory`), makes each new user's key pair
(``rosetta_user_created``) and closes the pooled connections when the kernel shuts down.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlite_utils import Migrations

from rosetta_core import hookimpl
from rosetta_core.errors import BackendError
from rosetta_core.executors import ExecutorFactory
from rosetta_core.model import Computing, Task, User
from rosetta_core.tunnels import Tunnel
from rosetta_ssh import forward
from rosetta_ssh.factory import SSHExecutorFactory
from rosetta_ssh.options import SSHOptions

if TYPE_CHECKING:
    import paramiko

    from rosetta_core.kernel import Kernel

EXECUTOR_NAME = "ssh"


@hookimpl
def rosetta_register_options(register: Callable[[type[Any]], None]) -> None:
    register(SSHOptions)


@hookimpl
def rosetta_register_executors(register: Callable[[str, ExecutorFactory], None], kernel: Kernel) -> None:
    register(EXECUTOR_NAME, SSHExecutorFactory(kernel, kernel.options(SSHOptions)))


@hookimpl
def rosetta_register_migrations(register: Callable[[Migrations], None]) -> None:
    register(forward.migrations)


@hookimpl
def rosetta_register_tunnels(register: Callable[[str, Tunnel], None], kernel: Kernel) -> None:
    options = kernel.options(SSHOptions)

    def hold(task: Task, computing: Computing) -> contextlib.AbstractContextManager[paramiko.Transport]:
        from rosetta_ssh.executor import SSHExecutor

        executor = kernel.executor_for(computing, task.owner)
        if not isinstance(executor, SSHExecutor):
            raise BackendError(f"computing {computing.name!r} is not reached over SSH: no forward to it")
        return executor.hold()

    tunnel = forward.ForwardTunnel(kernel, hold, ports=options.tunnel_port_range, bind=options.tunnel_bind)
    register(forward.ForwardTunnel.name, tunnel)


@hookimpl
def rosetta_user_created(user: User, kernel: Kernel) -> None:
    from rosetta_ssh.keys import generate_key_pair  # paramiko, on first use

    generate_key_pair(kernel, user)


@hookimpl
def rosetta_shutdown(kernel: Kernel) -> None:
    if forward.ForwardTunnel.name in kernel.tunnels:
        tunnel = kernel.tunnels.get(forward.ForwardTunnel.name)
        if isinstance(tunnel, forward.ForwardTunnel):
            tunnel.close_all()
    if EXECUTOR_NAME in kernel.executors:
        factory = kernel.executors.get(EXECUTOR_NAME)
        if isinstance(factory, SSHExecutorFactory):
            factory.close()
