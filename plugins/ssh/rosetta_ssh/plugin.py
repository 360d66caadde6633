"""The hook implementations: the entry point ``ssh`` in the ``rosetta`` group points here.

Registers :class:`~rosetta_ssh.options.SSHOptions` (the ``[plugin.ssh]`` section), the executor
factory ``ssh`` (:class:`~rosetta_ssh.factory.SSHExecutorFactory`), makes each new user's key pair
(``rosetta_user_created``) and closes the pooled connections when the kernel shuts down.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rosetta_core import hookimpl
from rosetta_core.executors import ExecutorFactory
from rosetta_core.model import User
from rosetta_ssh.factory import SSHExecutorFactory
from rosetta_ssh.keys import generate_key_pair
from rosetta_ssh.options import SSHOptions

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel

EXECUTOR_NAME = "ssh"


@hookimpl
def rosetta_register_options(register: Callable[[type[Any]], None]) -> None:
    register(SSHOptions)


@hookimpl
def rosetta_register_executors(register: Callable[[str, ExecutorFactory], None], kernel: Kernel) -> None:
    register(EXECUTOR_NAME, SSHExecutorFactory(kernel, kernel.options(SSHOptions)))


@hookimpl
def rosetta_user_created(user: User, kernel: Kernel) -> None:
    generate_key_pair(kernel, user)


@hookimpl
def rosetta_shutdown(kernel: Kernel) -> None:
    if EXECUTOR_NAME in kernel.executors:
        factory = kernel.executors.get(EXECUTOR_NAME)
        if isinstance(factory, SSHExecutorFactory):
            factory.close()
