"""The docker command lines built from a task spec: golden argv, hostile values, and a property:
whatever the values, each arrives as its own argv entry, unchanged, and reads back to the spec.

Pure: no daemon, no docker program.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rosetta_core.engines import Bind, Resources, TaskSpec
from rosetta_core.errors import BackendError
from rosetta_core.testing.contracts import ARGUMENT_TEXT, HOSTILE
from rosetta_core.testing.fakes import ScriptedExecutor
from rosetta_docker import argv
from rosetta_docker.engine import DockerEngine
from rosetta_docker.options import DockerOptions

NAME = "rosetta-0123abcd"
IMAGE = "localhost/testbed-busybox:latest"
NASTY = "line one\nline two; $(rm -rf /) `id` 'q' \"d\" \\ | & > < * ? ~ #\t\r"


def full_spec(**overrides: Any) -> TaskSpec:
    fields: dict[str, Any] = {
        "task_id": "0123abcd",
        "name": NAME,
        "image": IMAGE,
        "interface_port": 8080,
        "env": {"ZED": "last", "ROSETTA_CONTRACT": HOSTILE, "NASTY": NASTY},
        "labels": {"rosetta.task": "0123abcd", "rosetta.owner": "ada"},
        "resources": Resources(cpus=2, memory_mb=512),
        "binds": (
            Bind(source="/data/in", target="/in", read_only=True),
            Bind(source="/data/out", target="/out"),
        ),
        "arch": "amd64",
        "command": ("sh", "-c", "echo $HOME; exit 3", NASTY),
    }
    fields.update(overrides)
    return TaskSpec(**fields)


SHARED = [
    "--name",
    NAME,
    "--init",
    "--platform",
    "linux/amd64",
    "--label",
    "rosetta.interface_port=8080",
    "--label",
    "rosetta.managed=1",
    "--label",
    "rosetta.owner=ada",
    "--label",
    "rosetta.task=0123abcd",
    "--label",
    "site=here",
    "-e",
    f"NASTY={NASTY}",
    "-e",
    f"ROSETTA_CONTRACT={HOSTILE}",
    "-e",
    "ZED=last",
    "--cpus",
    "2",
    "--memory",
    "512m",
    "-v",
    "/data/in:/in:ro",
    "-v",
    "/data/out:/out",
]
OPTIONS = DockerOptions(binary="/usr/bin/docker", init=True, labels={"site": "here"}, pull_policy="always")
COMMAND = ["sh", "-c", "echo $HOME; exit 3", NASTY]


# ---------------------------------------------------------------- golden argv


def test_start_argv_golden() -> None:
    assert argv.start_argv(OPTIONS, full_spec()) == [
        "/usr/bin/docker",
        "run",
        "-d",
        "--pull=never",
        *SHARED,
        "-p",
        "127.0.0.1::8080",
        IMAGE,
        *COMMAND,
    ]


def test_batch_and_start_share_everything_but_detaching_pulling_and_publishing() -> None:
    spec = full_spec()
    assert argv.batch_argv(OPTIONS, spec) == [
        "/usr/bin/docker",
        "run",
        "--rm",
        "--pull=always",
        *SHARED,
        IMAGE,
        *COMMAND,
    ]
    assert DockerEngine(OPTIONS).build_command(spec) == argv.batch_argv(OPTIONS, spec)


def test_start_argv_of_a_minimal_spec() -> None:
    spec = TaskSpec(task_id="x", name="rosetta-x", image=IMAGE)
    assert argv.start_argv(DockerOptions(), spec) == [
        "docker",
        "run",
        "-d",
        "--pull=never",
        "--name",
        "rosetta-x",
        "--label",
        "rosetta.managed=1",
        IMAGE,
    ]


def test_the_other_commands_golden() -> None:
    options = DockerOptions(stop_timeout=7)
    assert argv.pull_argv(options, full_spec()) == ["docker", "pull", "--platform", "linux/amd64", IMAGE]
    assert argv.pull_argv(options, full_spec(arch=None)) == ["docker", "pull", IMAGE]
    assert argv.image_inspect_argv(options, IMAGE) == ["docker", "image", "inspect", IMAGE]
    assert argv.inspect_argv(options, NAME) == ["docker", "container", "inspect", NAME]
    assert argv.start_created_argv(options, NAME) == ["docker", "start", NAME]
    assert argv.stop_argv(options, NAME) == ["docker", "stop", "-t", "7", NAME]
    assert argv.remove_argv(options, NAME) == ["docker", "rm", "-f", "-v", NAME]
    assert argv.logs_argv(options, NAME, 50) == ["docker", "logs", "--timestamps", "--tail", "50", NAME]
    assert argv.list_argv(options) == [
        "docker",
        "ps",
        "-a",
        "--filter",
        "label=rosetta.managed=1",
        "--format",
        "{{.Names}}",
    ]


def test_hostile_values_are_single_entries() -> None:
    run = argv.start_argv(OPTIONS, full_spec(labels={"note": HOSTILE}))
    assert [a for a in run if HOSTILE in a] == [f"note={HOSTILE}", f"ROSETTA_CONTRACT={HOSTILE}"]
    assert [a for a in run if NASTY in a] == [f"NASTY={NASTY}", NASTY]
    assert run[-1] == NASTY


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"env": {"A=B": "x"}}, "environment variable name"),
        ({"env": {"A B": "x"}}, "environment variable name"),
        ({"binds": (Bind(source="/a:b", target="/in"),)}, "bind path"),
        ({"binds": (Bind(source="/in", target="/a,b"),)}, "bind path"),
        ({"image": "--privileged"}, "not an image reference"),
        ({"image": ""}, "not an image reference"),
        ({"name": "-d"}, "cannot name a docker container"),
        ({"labels": {"a=b": "c"}}, "cannot be a label name"),
        ({"labels": {"a b": "c"}}, "cannot be a label name"),
        ({"labels": {"": "c"}}, "cannot be a label name"),
    ],
)
def test_specs_docker_cannot_express_are_refused_by_every_builder(
    overrides: dict[str, Any], message: str
) -> None:
    spec = full_spec(**overrides)
    for build in (argv.start_argv, argv.batch_argv, argv.pull_argv):
        with pytest.raises(BackendError, match=f"^docker: .*{message}"):
            build(DockerOptions(), spec)


# ---------------------------------------------------------------- the property


def read_back(run: list[str]) -> dict[str, Any]:
    """What a ``docker run`` argv says, read the way docker reads it (options, image, command)."""
    takes_value = {"--name", "--platform", "--label", "-e", "--cpus", "--memory", "-v", "-p"}
    found: dict[str, Any] = {"env": {}, "labels": {}, "flags": []}
    i = 2
    while run[i].startswith("-"):
        if run[i] in takes_value:
            flag, value = run[i], run[i + 1]
            if flag == "-e":
                key, _, val = value.partition("=")
                found["env"][key] = val
            elif flag == "--label":
                key, _, val = value.partition("=")
                found["labels"][key] = val
            else:
                found[flag] = value
            i += 2
        else:
            found["flags"].append(run[i])
            i += 1
    found["image"], found["command"] = run[i], run[i + 1 :]
    return found


ENV_NAMES = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,12}\Z")
LABEL_NAMES = st.from_regex(r"\A[a-z][a-z0-9.-]{0,12}\Z").filter(lambda k: not k.startswith("rosetta."))


@settings(max_examples=300, deadline=None)
@given(
    env=st.dictionaries(ENV_NAMES, ARGUMENT_TEXT, max_size=4),
    labels=st.dictionaries(LABEL_NAMES, ARGUMENT_TEXT, max_size=3),
    command=st.lists(ARGUMENT_TEXT, max_size=4),
)
def test_every_value_arrives_as_one_unchanged_entry(
    env: dict[str, str], labels: dict[str, str], command: list[str]
) -> None:
    spec = full_spec(env=env, labels=labels, command=tuple(command))
    options = DockerOptions(pull_policy="never")
    run = argv.start_argv(options, spec)
    assert all(isinstance(entry, str) for entry in run)
    back = read_back(run)
    assert back["env"] == env
    assert back["labels"] == argv.labels_for(options, spec)
    assert (back["image"], back["command"]) == (IMAGE, command)
    assert back["--name"] == NAME and back["-p"] == "127.0.0.1::8080"
    # and the executor is handed exactly that list: no entry joined, quoted or split on the way
    executor = ScriptedExecutor()
    executor.expect(["docker", "image", "inspect"], stdout='[{"Architecture": "amd64"}]')
    executor.expect(["docker", "run"], stdout="0123456789ab\n")
    assert DockerEngine(options).start(spec, executor) == NAME
    assert executor.argvs()[-1] == tuple(run)
