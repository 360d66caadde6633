"""PBSOptions: defaults, the dialects' name limits, and the values it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from rosetta_core.errors import ValidationError
from rosetta_core.serde import structure
from rosetta_pbs.options import PBSOptions


def test_defaults() -> None:
    options = structure({}, PBSOptions)
    assert options == PBSOptions(
        qsub="qsub",
        qstat="qstat",
        qdel="qdel",
        job_dir=".rosetta/jobs",
        dialect="pbspro",
        qstat_format="full",
        timeout=30.0,
        absent_is_gone=False,
        name_length=0,
    )


@pytest.mark.parametrize(
    ("fields", "limit"),
    [
        ({}, 236),
        ({"dialect": "torque"}, 15),
        ({"dialect": "torque", "name_length": 64}, 64),
        ({"name_length": 15}, 15),
    ],
)
def test_name_limit_follows_the_dialect_unless_set(fields: dict[str, Any], limit: int) -> None:
    assert structure(fields, PBSOptions).name_limit == limit


def test_every_choice_is_accepted() -> None:
    options = structure(
        {
            "qsub": "/opt/pbs/bin/qsub",
            "qstat": "qstat",
            "qdel": "qdel-wrapper",
            "job_dir": "/scratch/alice/jobs",
            "dialect": "pbspro",
            "qstat_format": "json",
            "timeout": 5,
            "absent_is_gone": True,
            "name_length": 236,
        },
        PBSOptions,
    )
    assert options.timeout == 5.0 and options.qstat_format == "json"
    assert structure({"qstat_format": "table", "dialect": "torque"}, PBSOptions).qstat_format == "table"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("qsub", ""),
        ("qsub", "-x"),
        ("qsub", "q sub"),
        ("qstat", "qstat;id"),
        ("qdel", 3),
        ("job_dir", ""),
        ("job_dir", "~/jobs"),
        ("job_dir", "../elsewhere"),
        ("job_dir", "jobs/../../etc"),
        ("job_dir", "/with space"),
        ("job_dir", "$HOME/jobs"),
        ("job_dir", "-jobs"),
        ("job_dir", "jobs\n#PBS -N x"),
        ("dialect", "sge"),
        ("dialect", "PBSPro"),
        ("qstat_format", "xml"),
        ("timeout", 0),
        ("timeout", -1),
        ("timeout", 3601),
        ("timeout", True),
        ("timeout", float("nan")),
        ("absent_is_gone", "yes"),
        ("name_length", 14),
        ("name_length", 237),
        ("name_length", True),
        ("unknown_option", 1),
    ],
)
def test_nonsense_is_refused(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        structure({field: value}, PBSOptions)
    assert f"$.{field}" in str(caught.value)


def test_json_needs_the_pbspro_dialect() -> None:
    with pytest.raises(ValidationError, match=r"\$\.qstat_format: 'json' needs the 'pbspro' dialect"):
        structure({"dialect": "torque", "qstat_format": "json"}, PBSOptions)
