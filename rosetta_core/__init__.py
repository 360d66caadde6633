"""rosetta_core: the kernel of a container-centric science platform.

The public surface most callers need::

    from rosetta_core import create_kernel, hookimpl
"""

from rosetta_core.hookspecs import hookimpl, hookspec
from rosetta_core.kernel import Kernel, create_kernel

__all__ = ["Kernel", "create_kernel", "hookimpl", "hookspec"]
__version__ = "0.1.0"
