"""The batch script: exact text for known specs, quoting of any argument, and every value that must
never reach a ``#SBATCH`` line refused."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rosetta_core.engines import Resources, TaskSpec
from rosetta_core.errors import BackendError
from rosetta_core.testing.contracts import ARGUMENT_TEXT, HOSTILE
from rosetta_slurm.script import check_directive, log_path, render_script

NAME = "rosetta-0123456789abcdef0123456789abcdef"


def spec(**resources: object) -> TaskSpec:
    return TaskSpec(
        task_id="0123456789abcdef0123456789abcdef",
        name=NAME,
        image="localhost/x:latest",
        resources=Resources(**resources),  # type: ignore[arg-type]
    )


def body(script: str) -> str:
    """What follows ``exec `` on the script's last command (which may span lines)."""
    _, sep, tail = script.partition("\n\nexec ")
    assert sep, script
    assert tail.endswith("\n")
    return tail[:-1]


def test_minimal_script() -> None:
    assert render_script(spec(), ["sleep", "300"], job_dir=".rosetta/jobs") == (
        "#!/bin/bash\n"
        f"#SBATCH --job-name={NAME}\n"
        "#SBATCH --chdir=.rosetta/jobs\n"
        "#SBATCH --output=%j.log\n"
        "\n"
        "exec sleep 300\n"
    )


def test_every_resource() -> None:
    resources = spec(
        cpus=4,
        memory_mb=8192,
        partition="debug",
        walltime_minutes=90,
        gpus=2,
        account="proj-42",
        directives=("--exclusive", "--constraint=haswell", "--exclude=node[01-03]", "--qos=high"),
    )
    script = render_script(resources, ["podman", "run", "--rm", "img", "echo", "a b"], job_dir="/scratch/j")
    assert script == (
        "#!/bin/bash\n"
        f"#SBATCH --job-name={NAME}\n"
        "#SBATCH --chdir=/scratch/j\n"
        "#SBATCH --output=%j.log\n"
        "#SBATCH --cpus-per-task=4\n"
        "#SBATCH --mem=8192M\n"
        "#SBATCH --partition=debug\n"
        "#SBATCH --time=90\n"
        "#SBATCH --gres=gpu:2\n"
        "#SBATCH --account=proj-42\n"
        "#SBATCH --exclusive\n"
        "#SBATCH --constraint=haswell\n"
        "#SBATCH --exclude=node[01-03]\n"
        "#SBATCH --qos=high\n"
        "\n"
        "exec podman run --rm img echo 'a b'\n"
    )


def test_zero_gpus_asks_for_none_and_partition_lists_pass() -> None:
    script = render_script(spec(gpus=0, partition="gpu,debug"), ["true"], job_dir="j")
    assert "--gres" not in script
    assert "#SBATCH --partition=gpu,debug\n" in script


def test_deterministic_and_hostile_argument_is_one_quoted_word() -> None:
    argv = ["sh", "-c", HOSTILE]
    first = render_script(spec(cpus=1), argv, job_dir="j")
    assert first == render_script(spec(cpus=1), argv, job_dir="j")
    assert shlex.split(body(first)) == argv
    assert f"exec {shlex.join(argv)}\n" in first


def test_no_trap_and_exec_is_the_only_command() -> None:
    script = render_script(spec(), ["a"], job_dir="j")
    commands = [line for line in script.splitlines() if line and not line.startswith("#")]
    assert commands == ["exec a"]
    assert "trap" not in script


@settings(max_examples=300, deadline=None)
@given(argv=st.lists(ARGUMENT_TEXT, min_size=1, max_size=6))
def test_any_argv_survives_the_body(argv: list[str]) -> None:
    script = render_script(spec(), argv, job_dir="j")
    assert shlex.split(body(script)) == argv
    # whatever the arguments hold, the directives are exactly the plugin's three
    header = script.partition("\n\nexec ")[0].split("\n")
    assert header[0] == "#!/bin/bash"
    assert [line.split("=")[0] for line in header[1:]] == [
        "#SBATCH --job-name",
        "#SBATCH --chdir",
        "#SBATCH --output",
    ]


@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=60))
def test_any_directive_is_refused_or_one_clean_line(value: str) -> None:
    try:
        script = render_script(spec(directives=(value,)), ["true"], job_dir="j")
    except BackendError:
        return
    assert f"#SBATCH {value}\n" in script
    assert value.startswith("--") and value.isprintable() and " " not in value


@pytest.mark.parametrize(
    "directive",
    [
        "--qos=high\n#SBATCH --uid=0",
        "--qos=high\n",
        "--qos=high\r",
        "--qos=a b",
        "--comment=$(id)",
        "--comment=`id`",
        "--comment='x'",
        '--comment="x"',
        "--comment=a;b",
        "--constraint=a&b",
        "--constraint=a|b",
        "--mail-user=a\x00b",
        "-N 2",
        "-J other",
        "N=2",
        "",
        "--",
        "--=x",
        "--Qos=high",
        "--qos=",
        "# comment",
        "--" + "a" * 65,
        "--comment=" + "x" * 401,
        "--qos=high\u2028x",
    ],
)
def test_hostile_directives_are_refused_naming_them(directive: str) -> None:
    with pytest.raises(BackendError, match="scheduler directive") as caught:
        render_script(spec(directives=("--exclusive", directive)), ["true"], job_dir="j")
    assert repr(directive[:120]) in str(caught.value)


@pytest.mark.parametrize(
    "directive",
    [
        "--job-name=other",
        "--job=other",
        "--output=/etc/x",
        "--out=x",
        "--error=x",
        "--chdir=/",
        "--array=1-100",
        "--wait",
        "--parsable",
        "--wrap=id",
        "--uid=0",
        "--gid=0",
        "--input=x",
        "--test-only",
    ],
)
def test_directives_may_not_set_what_the_plugin_relies_on(directive: str) -> None:
    with pytest.raises(BackendError, match="set by the platform"):
        check_directive(directive)


@pytest.mark.parametrize(
    "directive",
    ["--exclusive", "--wait-all-nodes=1", "--gres=gpu:a100:2", "--export=NONE", "--mail-user=a@b.org"],
)
def test_ordinary_directives_pass(directive: str) -> None:
    assert check_directive(directive) == directive


@pytest.mark.parametrize(
    ("resources", "what"),
    [
        ({"partition": "debug\n#SBATCH --uid=0"}, "partition"),
        ({"partition": "debug\n"}, "partition"),
        ({"partition": "de bug"}, "partition"),
        ({"partition": "-p"}, "partition"),
        ({"partition": ""}, "partition"),
        ({"partition": "a,,b"}, "partition"),
        ({"account": "proj\n#SBATCH --uid=0"}, "scheduler account"),
        ({"account": "proj;id"}, "scheduler account"),
        ({"account": "proj,other"}, "scheduler account"),
        ({"cpus": 0}, "cpus"),
        ({"cpus": -1}, "cpus"),
        ({"cpus": True}, "cpus"),
        ({"cpus": "4"}, "cpus"),
        ({"memory_mb": 1.5}, "memory_mb"),
        ({"walltime_minutes": 0}, "walltime_minutes"),
        ({"gpus": -1}, "gpus"),
        ({"gpus": 10**12}, "gpus"),
    ],
)
def test_hostile_resources_are_refused(resources: dict[str, object], what: str) -> None:
    with pytest.raises(BackendError, match=what):
        render_script(spec(**resources), ["true"], job_dir="j")


@pytest.mark.parametrize("name", ["x\n#SBATCH --uid=0", "rosetta-x\n", "a b", "", "-x", "x" * 129])
def test_hostile_job_name_is_refused(name: str) -> None:
    hostile = TaskSpec(task_id="t", name=name, image="i")
    with pytest.raises(BackendError, match="job name"):
        render_script(hostile, ["true"], job_dir="j")


@pytest.mark.parametrize("job_dir", ["a b", "j\n#SBATCH --uid=0", "j/%u", "", "~/j"])
def test_hostile_job_dir_is_refused(job_dir: str) -> None:
    with pytest.raises(BackendError, match="job folder"):
        render_script(spec(), ["true"], job_dir=job_dir)


@pytest.mark.parametrize("argv", [[], "sleep 300", ["a\x00b"], ["ok", 3]])
def test_bad_argv_is_refused(argv: object) -> None:
    with pytest.raises(BackendError, match="argument"):
        render_script(spec(), argv, job_dir="j")  # type: ignore[arg-type]


def test_log_path() -> None:
    assert log_path("/scratch/jobs", "42") == "/scratch/jobs/42.log"
    assert log_path(".rosetta/jobs/", "42") == ".rosetta/jobs/42.log"
