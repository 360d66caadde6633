"""Podman container engine plugin for the rosetta kernel.

Installing this distribution registers the entry point ``podman`` in the ``rosetta`` group; the
kernel then offers a container engine named ``podman`` whose options live in the site
configuration's ``[plugin.podman]`` section (see :class:`~rosetta_podman.engine.PodmanOptions`).
"""

from rosetta_podman.engine import PodmanEngine, PodmanOptions

__all__ = ["PodmanEngine", "PodmanOptions"]
