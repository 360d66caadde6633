"""SSH executor plugin for the rosetta kernel.

Installing this distribution registers the entry point ``ssh`` in the ``rosetta`` group; the kernel
then offers an executor factory named ``ssh`` (computing resources with ``executor = "ssh"``),
whose options live in the site configuration's ``[plugin.ssh]`` section (see
:class:`~rosetta_ssh.options.SSHOptions`), and every new user gets an SSH key pair.

For a live authenticated :class:`paramiko.Transport` to a computing resource (a tunnel's)::

    executor = kernel.executor_for(computing, owner)      # an SSHExecutor
    with executor.hold() as transport:                   # kept open while held
        channel = transport.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0))
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rosetta_ssh.executor import SSHExecutor
    from rosetta_ssh.factory import SSHExecutorFactory
    from rosetta_ssh.options import SSHOptions
    from rosetta_ssh.target import Auth, SSHTarget

__all__ = ["Auth", "SSHExecutor", "SSHExecutorFactory", "SSHOptions", "SSHTarget"]

# imported on first use: paramiko costs a kernel's start-up tens of milliseconds, and a kernel
# that never reaches an SSH resource never needs it
_HOMES = {
    "Auth": "rosetta_ssh.target",
    "SSHExecutor": "rosetta_ssh.executor",
    "SSHExecutorFactory": "rosetta_ssh.factory",
    "SSHOptions": "rosetta_ssh.options",
    "SSHTarget": "rosetta_ssh.target",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'rosetta_ssh' has no attribute {name!r}")
