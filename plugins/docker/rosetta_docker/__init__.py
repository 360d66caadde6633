"""Docker container engine plugin for the rosetta kernel.

Installing this distribution registers the entry point ``docker`` in the ``rosetta`` group; the
kernel then offers a container engine named ``docker`` whose options live in the site
configuration's ``[plugin.docker]`` section (see :class:`~rosetta_docker.engine.DockerOptions`).
"""

from rosetta_docker.engine import DockerEngine, DockerOptions

__all__ = ["DockerEngine", "DockerOptions"]
