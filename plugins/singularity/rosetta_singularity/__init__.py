"""Singularity/Apptainer container engine plugin for the rosetta kernel.

Installing this distribution registers the entry point ``singularity`` in the ``rosetta`` group;
the kernel then offers a container engine named ``singularity`` whose options live in the site
configuration's ``[plugin.singularity]`` section (see
:class:`~rosetta_singularity.engine.SingularityOptions`).
"""

from rosetta_singularity.engine import SingularityEngine, SingularityOptions

__all__ = ["SingularityEngine", "SingularityOptions"]
