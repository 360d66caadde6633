"""The Slurm workload manager for the rosetta kernel: each task runs as one Slurm batch job.

The entry point ``slurm`` (group ``rosetta``) loads :mod:`rosetta_slurm.plugin`, which registers
:class:`~rosetta_slurm.options.SlurmOptions` (the ``[plugin.slurm]`` section) and the workload
manager ``slurm`` (:class:`~rosetta_slurm.manager.SlurmWorkloadManager`).
"""

from rosetta_slurm.manager import SlurmWorkloadManager
from rosetta_slurm.options import SlurmOptions

__all__ = ["SlurmOptions", "SlurmWorkloadManager"]
