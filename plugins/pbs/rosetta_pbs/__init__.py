"""PBS workload manager plugin for the rosetta kernel (PBS Pro, OpenPBS, Torque).

Installing this distribution registers the entry point ``pbs`` in the ``rosetta`` group; the
kernel then offers a workload manager named ``pbs`` whose options live in the site
configuration's ``[plugin.pbs]`` section (see :class:`~rosetta_pbs.options.PBSOptions`).
"""

from rosetta_pbs.manager import PBSWorkloadManager
from rosetta_pbs.options import PBSOptions

__all__ = ["PBSOptions", "PBSWorkloadManager"]
