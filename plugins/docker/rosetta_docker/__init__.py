"""Docker container engine plugin for the rosetta kernel.

Installing this distribution registers the entry point ``docker`` in the ``rosetta`` group; the
kernel then offers a container engine named ``docker`` whose options live in the site
configuration's ``[plugin.docker]`` section (see :class:`~rosetta_docker.options.DockerOptions`).
The engine itself is :class:`rosetta_docker.engine.DockerEngine`; importing this package does not
import it, nor the docker SDK.
"""

from rosetta_docker.options import DockerOptions

__all__ = ["DockerOptions"]
