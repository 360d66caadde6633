"""render_script: golden scripts for both dialects, quoting, job names, and what is refused."""

from __future__ import annotations

import re
import shlex
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rosetta_core.engines import Resources, TaskSpec
from rosetta_core.errors import BackendError
from rosetta_core.testing.contracts import ARGUMENT_TEXT, HOSTILE
from rosetta_pbs.options import PBSOptions
from rosetta_pbs.script import check_directive, job_name, render_script, walltime

TASK = "0b5e2d1c9a8f4e7d6c5b4a3f2e1d0c9b"
SPEC = TaskSpec(
    task_id=TASK,
    name=f"rosetta-{TASK}",
    image="localhost/app:1",
    resources=Resources(
        cpus=2,
        memory_mb=4096,
        partition="workq",
        walltime_minutes=90,
        gpus=1,
        account="proj42",
        directives=("-l place=scatter", "-W group_list=physics"),
    ),
)
ARGV = ["python3", "-c", "print('hi')", HOSTILE]
# the exec line of both golden scripts
BODY = (
    "exec python3 -c 'print('\"'\"'hi'\"'\"')' "
    "'$(touch /tmp/rosetta-pwned); `id` | rm -rf / && echo '\"'\"'x\"y'\"'\"' > ~/z'"
)

PBSPRO_SCRIPT = (
    """\
#!/bin/bash
#PBS -S /bin/bash
#PBS -N rosetta-0b5e2d1c9a8f4e7d6c5b4a3f2e1d0c9b
#PBS -l walltime=01:30:00
#PBS -l select=1:ncpus=2:mem=4096mb:ngpus=1
#PBS -q workq
#PBS -A proj42
#PBS -l place=scatter
#PBS -W group_list=physics
# rosetta job rosetta-0b5e2d1c9a8f4e7d6c5b4a3f2e1d0c9b
cd -- "$HOME"/.rosetta/jobs || exit 1
"""
    + BODY
    + "\n"
)

TORQUE_SCRIPT = (
    """\
#!/bin/bash
#PBS -S /bin/bash
#PBS -N r0b5e2d1c9a8f4e
#PBS -l walltime=01:30:00
#PBS -l nodes=1:ppn=2:gpus=1
#PBS -l mem=4096mb
#PBS -q workq
#PBS -A proj42
#PBS -l place=scatter
#PBS -W group_list=physics
# rosetta job rosetta-0b5e2d1c9a8f4e7d6c5b4a3f2e1d0c9b
cd -- /scratch/jobs || exit 1
"""
    + BODY
    + "\n"
)


def with_resources(**fields: Any) -> TaskSpec:
    return attrs.evolve(SPEC, resources=attrs.evolve(SPEC.resources, **fields))


def test_golden_pbspro() -> None:
    assert render_script(SPEC, ARGV, PBSOptions()) == PBSPRO_SCRIPT


def test_golden_torque() -> None:
    options = PBSOptions(dialect="torque", job_dir="/scratch/jobs/")
    assert render_script(SPEC, ARGV, options) == TORQUE_SCRIPT


def test_rendering_is_deterministic() -> None:
    assert render_script(SPEC, ARGV, PBSOptions()) == render_script(SPEC, list(ARGV), PBSOptions())


def test_nothing_asked_means_no_resource_lines() -> None:
    spec = TaskSpec(task_id=TASK, name=f"rosetta-{TASK}", image="x")
    for dialect in ("pbspro", "torque"):
        script = render_script(spec, ["sleep", "1"], PBSOptions(dialect=dialect))
        assert [line for line in script.splitlines() if line.startswith("#PBS")] == [
            "#PBS -S /bin/bash",
            "#PBS -N " + job_name(spec.name, PBSOptions(dialect=dialect).name_limit),
        ]


@pytest.mark.parametrize(
    ("fields", "pbspro", "torque"),
    [
        ({"cpus": 4}, ["-l select=1:ncpus=4"], ["-l nodes=1:ppn=4"]),
        ({"memory_mb": 512}, ["-l select=1:mem=512mb"], ["-l mem=512mb"]),
        ({"gpus": 2}, ["-l select=1:ngpus=2"], ["-l nodes=1:gpus=2"]),
        ({"gpus": 0}, [], []),
    ],
)
def test_resource_syntax_per_dialect(fields: dict[str, Any], pbspro: list[str], torque: list[str]) -> None:
    spec = TaskSpec(task_id=TASK, name=f"rosetta-{TASK}", image="x", resources=Resources(**fields))
    for dialect, expected in (("pbspro", pbspro), ("torque", torque)):
        lines = render_script(spec, ["true"], PBSOptions(dialect=dialect)).splitlines()
        assert [line[5:] for line in lines if line.startswith("#PBS -l")] == expected


@pytest.mark.parametrize(("minutes", "text"), [(1, "00:01:00"), (90, "01:30:00"), (525600, "8760:00:00")])
def test_walltime(minutes: int, text: str) -> None:
    assert walltime(minutes) == text


@pytest.mark.parametrize(
    ("name", "limit", "expected"),
    [
        (f"rosetta-{TASK}", 236, f"rosetta-{TASK}"),
        (f"rosetta-{TASK}", 15, "r0b5e2d1c9a8f4e"),
        (f"rosetta-{TASK}", 20, "r0b5e2d1c9a8f4e7d6c5"),
        ("short", 15, "short"),
    ],
)
def test_job_name(name: str, limit: int, expected: str) -> None:
    assert job_name(name, limit) == expected


def test_a_name_that_is_no_platform_handle_is_hashed() -> None:
    long = "some-very-long-job-name-from-elsewhere"
    short = job_name(long, 15)
    assert re.fullmatch(r"r[0-9a-f]{14}", short) and short == job_name(long, 15)
    assert job_name("9lives", 236).startswith("r")  # Torque wants a letter first


@given(st.text(alphabet="0123456789abcdef", min_size=32, max_size=32))
def test_shortened_names_stay_distinct_and_valid(task: str) -> None:
    name = job_name(f"rosetta-{task}", 15)
    assert re.fullmatch(r"r[0-9a-f]{14}", name) and name[1:] == task[:14]


@settings(max_examples=300, deadline=None)
@given(argv=st.lists(ARGUMENT_TEXT, min_size=1, max_size=6))
def test_any_argv_survives_the_shell(argv: list[str]) -> None:
    script = render_script(SPEC, argv, PBSOptions())
    body = script[script.index("\nexec ") + 1 :]
    assert shlex.split(body) == ["exec", *argv]
    # the directives PBS reads (those before the first command) do not depend on the argv
    header = script[: script.index("\ncd -- ")]
    assert header == (plain := render_script(SPEC, ["true"], PBSOptions()))[: plain.index("\ncd -- ")]


@pytest.mark.parametrize(
    "directive",
    [
        "-l place=scatter",
        "-l select=2:ncpus=4:mpiprocs=4",
        "-l host=cn017",
        "-l software=matlab",
        "-W group_list=physics",
        "-W umask=077",
        "-W depend=afterok:4211.pbs01",
        "-W sandbox=PRIVATE",
        "-p 10",
        "-p -100",
        "-r n",
        "-m n",
        "-m abe",
    ],
)
def test_allowed_directives(directive: str) -> None:
    assert check_directive(directive, "torque") == directive
    assert (
        render_script(with_resources(directives=(directive,)), ["true"], PBSOptions()).count(
            f"#PBS {directive}\n"
        )
        == 1
    )


@pytest.mark.parametrize(
    "directive",
    [
        "-N other-name",
        "-o /tmp/elsewhere",
        "-e /tmp/elsewhere",
        "-j oe",
        "-k oed",
        "-S /bin/sh",
        "-I",
        "-V",
        "-v SECRET=1",
        "-q other",
        "-A other",
        "-J 1-10",
        "-t 1-10",
        "-W block=true",
        "-W stagein=/tmp/x@host:/etc/shadow",
        "-l walltime=01:00:00\n#PBS -N evil",
        "-l mem=1gb; id",
        "-l mem=$(id)",
        "-l mem=`id`",
        "-l mem=1gb #comment",
        "-l  mem=1gb",
        "-lmem=1gb",
        "-l mem",
        "-l =1gb",
        "-W group_list='x'",
        "-l mem=\x00",
        "-p 99999",
        "-r maybe",
        "-m xyz",
        "-P proj",  # Torque: a proxy user
        "",
        "# comment",
        "echo hi",
    ],
)
def test_hostile_or_unknown_directives_are_refused(directive: str) -> None:
    with pytest.raises(BackendError) as caught:
        render_script(with_resources(directives=(directive,)), ["true"], PBSOptions(dialect="torque"))
    assert repr(directive)[:40] in str(caught.value)


def test_project_is_allowed_for_pbspro_only() -> None:
    assert check_directive("-P climate", "pbspro") == "-P climate"
    with pytest.raises(BackendError, match="not allowed"):
        check_directive("-P climate", "torque")


@pytest.mark.parametrize(
    "queue", ["work q", "workq\n#PBS -N x", "-q", "q;id", "q$(id)", "", "q@", "@server", "a" * 64]
)
def test_hostile_queue_is_refused(queue: str) -> None:
    with pytest.raises(BackendError, match="queue"):
        render_script(with_resources(partition=queue), ["true"], PBSOptions())


def test_queue_at_a_server_is_accepted() -> None:
    assert "#PBS -q workq@pbs02.example.org\n" in render_script(
        with_resources(partition="workq@pbs02.example.org"), ["true"], PBSOptions()
    )


@pytest.mark.parametrize("account", ["proj 42", "proj\n#PBS -N x", "-x", "p;id", "p'q", "", "a" * 65])
def test_hostile_account_is_refused(account: str) -> None:
    with pytest.raises(BackendError, match="account"):
        render_script(with_resources(account=account), ["true"], PBSOptions())


@pytest.mark.parametrize("name", ["bad name", "x\n#PBS -q evil", "-N", "", "a/b", "a" * 237])
def test_a_handle_pbs_cannot_take_is_refused(name: str) -> None:
    with pytest.raises(BackendError, match="job name"):
        render_script(attrs.evolve(SPEC, name=name), ["true"], PBSOptions())


@pytest.mark.parametrize("argv", [[], "sleep 1", ["a\x00b"]])
def test_an_empty_or_unrunnable_command_is_refused(argv: Any) -> None:
    with pytest.raises(BackendError):
        render_script(SPEC, argv, PBSOptions())


@pytest.mark.parametrize("walltime_minutes", [0, -5, True])
def test_nonsense_resources_are_refused(walltime_minutes: Any) -> None:
    with pytest.raises(BackendError):
        render_script(with_resources(walltime_minutes=walltime_minutes), ["true"], PBSOptions())
    with pytest.raises(BackendError):
        render_script(with_resources(cpus=0), ["true"], PBSOptions())
