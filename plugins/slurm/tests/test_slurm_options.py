"""The ``[plugin.slurm]`` section: defaults, and every value that is refused, named by its path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import rosetta_slurm.plugin
from rosetta_core.errors import ConfigError
from rosetta_core.kernel import Kernel
from rosetta_slurm.options import SlurmOptions


def test_defaults() -> None:
    options = SlurmOptions()
    assert (options.sbatch, options.squeue, options.sacct, options.scancel) == (
        "sbatch",
        "squeue",
        "sacct",
        "scancel",
    )
    assert options.job_dir == ".rosetta/jobs"
    assert options.timeout == 30.0


def test_accepted_values() -> None:
    options = SlurmOptions(
        sbatch="/opt/slurm/bin/sbatch",
        sacct="",
        job_dir="/scratch/rosetta_jobs/user-1@site,a=b+c",
        timeout=600,
    )
    assert options.sacct == "" and options.timeout == 600


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sbatch", ""),
        ("squeue", "   "),
        ("scancel", "scancel\x00"),
        ("sbatch", "sbatch\n--wrap=id"),
        ("sacct", "-sacct"),
        ("squeue", 7),
        ("job_dir", ""),
        ("job_dir", "jobs\n#SBATCH --uid=0"),
        ("job_dir", "my jobs"),
        ("job_dir", "jobs/%u"),
        ("job_dir", "~/jobs"),
        ("job_dir", "-jobs"),
        ("job_dir", "/scratch/../etc"),
        ("job_dir", "jobs\x00"),
        ("job_dir", "x" * 1025),
        ("job_dir", None),
        ("timeout", 0),
        ("timeout", -1),
        ("timeout", 601),
        ("timeout", float("nan")),
        ("timeout", float("inf")),
        ("timeout", True),
        ("timeout", "30"),
    ],
)
def test_refused_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match="must"):
        SlurmOptions(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ({"job_dir": "a b"}, "$.plugin.slurm.job_dir"),
        ({"timeout": 0}, "$.plugin.slurm.timeout"),
        ({"sbatch": ""}, "$.plugin.slurm.sbatch"),
        ({"no_such_option": 1}, "$.plugin.slurm"),
    ],
)
def test_bad_options_stop_start_up_naming_the_field(
    rosetta_kernel_factory: Callable[..., Kernel], section: dict[str, Any], path: str
) -> None:
    with pytest.raises(ConfigError, match=path.replace("$", r"\$")):
        rosetta_kernel_factory({"slurm": rosetta_slurm.plugin}, plugin_options={"slurm": section})
