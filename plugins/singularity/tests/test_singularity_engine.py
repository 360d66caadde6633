"""Pure tests of the Singularity engine: the argv it builds, the helper calls it makes, the answers
it parses and the errors it translates.

No apptainer is run here: effects go through a ScriptedExecutor (or a LocalExecutor pointed at a
missing program).
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
from collections.abc import Callable
from typing import Any

import attrs
import pytest

import rosetta_singularity.plugin
from rosetta_core.engines import Bind, ContainerEngine, Observed, Resources, TaskSpec
from rosetta_core.errors import (
    BackendError,
    BackendUnavailable,
    CommandNotFound,
    CommandTimeout,
    ConfigError,
    ExecutorError,
)
from rosetta_core.executors import LocalExecutor
from rosetta_core.kernel import Kernel
from rosetta_core.testing.contracts import HOSTILE
from rosetta_core.testing.fakes import ScriptedExecutor
from rosetta_singularity.engine import (
    HELPER_SOURCE,
    SingularityEngine,
    SingularityOptions,
    env_flag_keeps,
    image_candidates,
    parse_poll,
    sif_file_name,
)

NAME = "rosetta-0123abcd"
SCRATCH = "/scratch/rs"
DIR = f"{SCRATCH}/{NAME}"
HELPER = ["python3", "-I", "-c", HELPER_SOURCE]
CONTAIN = ["--containall", "--cleanenv", "--no-eval", "--writable-tmpfs"]


@pytest.fixture
def engine() -> SingularityEngine:
    return SingularityEngine(SingularityOptions(scratch_dir=SCRATCH, timeout=7.0))


def full_spec(**overrides: Any) -> TaskSpec:
    fields: dict[str, Any] = {
        "task_id": "0123abcd",
        "name": NAME,
        "image": "/sif/app.sif",
        "interface_port": 8080,
        "env": {"ZED": "last", "ROSETTA_CONTRACT": HOSTILE},
        "labels": {"rosetta.task": "0123abcd", "rosetta.owner": "ada"},
        "resources": Resources(cpus=2, memory_mb=512),
        "binds": (
            Bind(source="/data/in", target="/in", read_only=True),
            Bind(source="/data/out", target="/out"),
        ),
        "arch": "amd64",
        "command": ("sh", "-c", "echo $HOME; exit 3"),
    }
    fields.update(overrides)
    return TaskSpec(**fields)


BINDS = ["--bind", "/data/in:/in:ro", "--bind", "/data/out:/out"]
COMMAND = ["sh", "-c", "echo $HOME; exit 3"]

# ---------------------------------------------------------------- build_command


def test_build_command_golden(engine: SingularityEngine) -> None:
    spec = full_spec()
    argv = engine.build_command(spec)
    assert argv == [
        "apptainer",
        "exec",
        *CONTAIN,
        "--env",
        f"ROSETTA_CONTRACT={HOSTILE}",
        "--env",
        "ZED=last",
        *BINDS,
        "/sif/app.sif",
        *COMMAND,
    ]
    assert argv == engine.build_command(spec)


def test_build_command_without_command_runs_the_runscript_and_picks_no_port(
    engine: SingularityEngine,
) -> None:
    spec = TaskSpec(task_id="x", name="rosetta-x", image="/sif/app.sif", interface_port=8080)
    assert engine.build_command(spec) == ["apptainer", "run", *CONTAIN, "/sif/app.sif"]


def test_needs_root_runs_as_user_namespace_root(engine: SingularityEngine) -> None:
    spec = TaskSpec(task_id="x", name="rosetta-x", image="/sif/sshd.sif", needs_root=True)
    assert engine.build_command(spec) == ["apptainer", "run", *CONTAIN, "--fakeroot", "/sif/sshd.sif"]
    assert "--fakeroot" in engine.start_request(spec)["head"]
    assert "--fakeroot" not in engine.start_request(full_spec())["head"]


def test_values_env_flag_would_alter_go_to_env_inside_the_container() -> None:
    engine = SingularityEngine(SingularityOptions(binary="/opt/bin/singularity", extra_args=("--nv",)))
    spec = TaskSpec(
        task_id="x",
        name="rosetta-x",
        image="docker.io/library/busybox:1",
        env={"A": "x,B=y", "B": 'ends with "', "C": "plain"},
    )
    assert engine.build_command(spec) == [
        "/opt/bin/singularity",
        "exec",
        *CONTAIN,
        "--env",
        "C=plain",
        "--nv",
        "docker://docker.io/library/busybox:1",
        "env",
        "A=x,B=y",
        'B=ends with "',
        "/.singularity.d/runscript",
    ]
    with_command = engine.build_command(attrs.evolve(spec, command=("sh", "-c", "echo $A")))
    assert with_command[-6:] == ["env", "A=x,B=y", 'B=ends with "', "sh", "-c", "echo $A"]
    with pytest.raises(BackendError, match="taken for a variable"):
        engine.build_command(attrs.evolve(spec, command=("X=1", "sh")))


def test_limits_are_passed_only_when_enabled(engine: SingularityEngine) -> None:
    assert "--cpus" not in engine.build_command(full_spec())
    limited = SingularityEngine(SingularityOptions(resource_limits=True))
    argv = limited.build_command(full_spec())
    assert argv[argv.index("--cpus") : argv.index("--cpus") + 4] == [
        "--cpus",
        "2",
        "--memory",
        str(512 * 1024 * 1024),
    ]


def test_sif_dir_maps_references_in_build_command() -> None:
    engine = SingularityEngine(SingularityOptions(sif_dir="/sifs"))
    argv = engine.build_command(full_spec(image="localhost/testbed-busybox:latest", command=()))
    assert argv[-1] == "/sifs/testbed-busybox_latest.sif"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"env": {"A=B": "x"}}, "environment variable name"),
        ({"env": {"A": "x\x00y"}}, "NUL"),
        ({"binds": (Bind(source="/a:b", target="/in"),)}, "bind path"),
        ({"binds": (Bind(source="/a,b", target="/in"),)}, "bind path"),
        ({"binds": (Bind(source="relative", target="/in"),)}, "bind path"),
        ({"image": "--writable"}, "not an image reference"),
        ({"image": "app.sif"}, "absolute path"),
        ({"image": "bad image"}, "not an image reference"),
        ({"name": "../etc"}, "cannot name"),
        ({"name": "-rm"}, "cannot name"),
    ],
)
def test_unrepresentable_specs_are_refused(
    engine: SingularityEngine, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(BackendError, match=message):
        engine.build_command(full_spec(**overrides))


# ---------------------------------------------------------------- pure rules


@pytest.mark.parametrize(
    ("image", "sif_dir", "expected"),
    [
        ("/sif/app.sif", "/sifs", ["/sif/app.sif"]),
        ("/sandboxes/app", "", ["/sandboxes/app"]),
        ("docker://busybox:1", "/sifs", ["docker://busybox:1"]),
        ("oras://ghcr.io/a/b:1", "", ["oras://ghcr.io/a/b:1"]),
        ("docker-daemon:tb-busybox:latest", "", ["docker-daemon:tb-busybox:latest"]),
        ("oci-archive:/x/bb.tar", "", ["oci-archive:/x/bb.tar"]),
        ("busybox", "", ["docker://busybox"]),
        ("localhost/testbed-busybox:latest", "", ["docker://localhost/testbed-busybox:latest"]),
        (
            "registry:5000/a/b/jupyter:4.1@sha256:" + "0" * 64,
            "/sifs/",
            ["/sifs/jupyter_4.1.sif", "docker://registry:5000/a/b/jupyter:4.1@sha256:" + "0" * 64],
        ),
    ],
)
def test_image_candidates(image: str, sif_dir: str, expected: list[str]) -> None:
    assert image_candidates(image, sif_dir) == expected


@pytest.mark.parametrize(
    ("reference", "name"),
    [
        ("busybox", "busybox_latest.sif"),
        ("localhost:5000/ns/app:2.0", "app_2.0.sif"),
        ("ns/app@sha256:" + "a" * 64, "app_latest.sif"),
    ],
)
def test_sif_file_name(reference: str, name: str) -> None:
    assert sif_file_name(reference) == name


@pytest.mark.parametrize(
    ("value", "keeps"),
    [
        (HOSTILE, True),
        ("", True),
        ("plain words", True),
        ('"leading', True),
        ('trailing"', False),
        ("a=b", True),
        ("x,y", True),
        ("line1\nline2", True),
        ("a=b,c", False),
        ('a="b"', False),
        ("a=b\nc", False),
    ],
)
def test_env_flag_keeps(value: str, keeps: bool) -> None:
    assert env_flag_keeps(value) is keeps


def test_the_helper_is_python_3_6_grammar() -> None:
    ast.parse(HELPER_SOURCE, feature_version=(3, 6))
    assert "from __future__" not in HELPER_SOURCE


# ---------------------------------------------------------------- start


def test_start_request_golden(engine: SingularityEngine) -> None:
    assert engine.start_request(full_spec()) == {
        "root": SCRATCH,
        "head": ["apptainer", "exec", *CONTAIN, "--home", f"{DIR}/home", *BINDS],
        "images": ["/sif/app.sif"],
        "tail": COMMAND,
        "env": {"ROSETTA_CONTRACT": HOSTILE, "ZED": "last"},
        "env_prefix": "APPTAINERENV_",
        "labels": {"rosetta.task": "0123abcd", "rosetta.owner": "ada"},
        "port": True,
    }


def test_start_sends_the_request_on_stdin_not_in_argv(
    engine: SingularityEngine, scripted_executor: ScriptedExecutor
) -> None:
    spec = full_spec()
    scripted_executor.expect([*HELPER, "start"], stdout='{"started": true}\n')
    assert engine.start(spec, scripted_executor) == NAME
    (call,) = scripted_executor.calls
    assert call.argv == (*HELPER, "start", DIR)
    assert not any(HOSTILE in arg for arg in call.argv)
    assert call.input is not None and json.loads(call.input) == engine.start_request(spec)
    assert call.timeout == 17.0


def test_start_without_apptainer_is_a_lasting_error_naming_it(
    engine: SingularityEngine, scripted_executor: ScriptedExecutor
) -> None:
    scripted_executor.expect([*HELPER, "start"], stderr="program not found: apptainer\n", returncode=127)
    with pytest.raises(BackendError, match=r"program not found: apptainer.*is apptainer installed") as info:
        engine.start(full_spec(), scripted_executor)
    assert not isinstance(info.value, BackendUnavailable)


def test_start_without_python_is_a_lasting_error_naming_apptainer(
    engine: SingularityEngine, scripted_executor: ScriptedExecutor
) -> None:
    scripted_executor.expect(HELPER, raises=CommandNotFound("program not found: python3"))
    with pytest.raises(BackendError, match=r"python3.*apptainer") as info:
        engine.start(full_spec(), scripted_executor)
    assert not isinstance(info.value, BackendUnavailable)


def test_missing_programs_on_a_real_executor() -> None:
    executor = LocalExecutor()
    engine = SingularityEngine(SingularityOptions(binary="/nonexistent/rosetta/apptainer"))
    with pytest.raises(BackendError, match=r"/nonexistent/rosetta/apptainer") as info:
        engine.start(full_spec(), executor)
    assert not isinstance(info.value, BackendUnavailable)
    no_python = SingularityEngine(SingularityOptions(python="/nonexistent/rosetta/python3"))
    with pytest.raises(BackendError, match="apptainer") as info:
        no_python.start(full_spec(), executor)
    assert not isinstance(info.value, BackendUnavailable)


def test_start_failure_says_why(engine: SingularityEngine, scripted_executor: ScriptedExecutor) -> None:
    scripted_executor.expect([*HELPER, "start"], stderr="no such image file: /sif/app.sif\n", returncode=2)
    with pytest.raises(BackendError, match="no such image file") as info:
        engine.start(full_spec(), scripted_executor)
    assert not isinstance(info.value, BackendUnavailable)


@pytest.mark.parametrize("raised", [ExecutorError("connection lost"), CommandTimeout("slow")])
def test_start_when_the_resource_cannot_be_reached_is_unavailable(
    engine: SingularityEngine, scripted_executor: ScriptedExecutor, raised: Exception
) -> None:
    scripted_executor.expect(HELPER, raises=raised)
    with pytest.raises(BackendUnavailable) as info:
        engine.start(full_spec(), scripted_executor)
    assert info.value.__cause__ is raised


# ---------------------------------------------------------------- poll


def answer(state: str, **fields: Any) -> str:
    return json.dumps({"state": state, "exit_code": None, "port": None, "labels": {"a": "b"}, **fields})


def test_poll_running_reports_the_recorded_port(
    engine: SingularityEngine, scripted_executor: ScriptedExecutor
) -> None:
    scripted_executor.expect([*HELPER, "poll", DIR], stdout=answer("running", port=34917))
    obs = engine.poll(NAME, scripted_executor)
    assert (obs.state, obs.host, obs.port, dict(obs.labels)) == (
        Observed.RUNNING,
        "127.0.0.1",
        34917,
        {"a": "b"},
    )
    assert scripted_executor.calls[0].timeout == 7.0


def test_parse_poll_states() -> None:
    exited = parse_poll(answer("exited", exit_code=3, detail="exited with code 3"))
    assert (exited.state, exited.exit_code, exited.detail) == (Observed.EXITED, 3, "exited with code 3")
    assert parse_poll(answer("failed", detail="vanished")).state is Observed.FAILED
    gone = parse_poll(answer("gone"))
    assert gone.state is Observed.GONE and dict(gone.labels) == {"a": "b"}
    assert parse_poll(answer("running")).port is None
    assert parse_poll(answer("running", port=70000)).port is None


@pytest.mark.parametrize("stdout", ["not json", "[]", "", answer("mystery")])
def test_poll_garbage_is_unavailable(stdout: str) -> None:
    with pytest.raises(BackendUnavailable):
        parse_poll(stdout)


def test_poll_helper_failure_is_unavailable(
    engine: SingularityEngine, scripted_executor: ScriptedExecutor
) -> None:
    scripted_executor.expect([*HELPER, "poll"], stderr="PermissionError: denied\n", returncode=1)
    with pytest.raises(BackendUnavailable, match="denied"):
        engine.poll(NAME, scripted_executor)


@pytest.mark.parametrize("raised", [ExecutorError("connection lost"), CommandTimeout("slow")])
def test_poll_unreachable_is_unavailable(
    engine: SingularityEngine, scripted_executor: ScriptedExecutor, raised: Exception
) -> None:
    scripted_executor.expect(HELPER, raises=raised)
    with pytest.raises(BackendUnavailable):
        engine.poll(NAME, scripted_executor)


def test_poll_of_an_impossible_name_is_gone_without_asking(
    engine: SingularityEngine, scripted_executor: ScriptedExecutor
) -> None:
    assert engine.poll("../x", scripted_executor).state is Observed.GONE
    assert scripted_executor.calls == []


# ---------------------------------------------------------------- stop, logs, list


def test_stop_asks_the_helper_with_room_for_the_grace_period(
    engine: SingularityEngine, scripted_executor: ScriptedExecutor
) -> None:
    scripted_executor.expect([*HELPER, "stop"])
    engine.stop(NAME, scripted_executor)
    assert scripted_executor.argvs() == [(*HELPER, "stop", DIR, "5")]
    assert scripted_executor.calls[0].timeout == 17.0
    engine.stop("/etc", scripted_executor)
    assert len(scripted_executor.calls) == 1


def test_stop_failure_is_an_error(engine: SingularityEngine, scripted_executor: ScriptedExecutor) -> None:
    scripted_executor.expect([*HELPER, "stop"], stderr="OSError: busy\n", returncode=1)
    with pytest.raises(BackendError, match="busy"):
        engine.stop(NAME, scripted_executor)


def test_logs_pass_the_tail_through(engine: SingularityEngine, scripted_executor: ScriptedExecutor) -> None:
    scripted_executor.expect([*HELPER, "logs"], stdout="a\nb\n")
    assert engine.logs(NAME, scripted_executor, tail=2) == "a\nb\n"
    assert scripted_executor.argvs() == [(*HELPER, "logs", DIR, "2")]
    assert engine.logs(NAME, scripted_executor, tail=0) == ""
    assert len(scripted_executor.calls) == 1


def test_list_handles_keeps_platform_names(
    engine: SingularityEngine, scripted_executor: ScriptedExecutor
) -> None:
    scripted_executor.expect([*HELPER, "list"], stdout='["rosetta-b", "other", "rosetta-a", 3]\n')
    assert engine.list_handles(scripted_executor) == ["rosetta-a", "rosetta-b"]
    assert scripted_executor.argvs() == [(*HELPER, "list", SCRATCH)]


@pytest.mark.parametrize(("stdout", "returncode"), [("", 1), ("nope", 0), ("{}", 0)])
def test_list_handles_failure_is_unavailable(
    engine: SingularityEngine, scripted_executor: ScriptedExecutor, stdout: str, returncode: int
) -> None:
    scripted_executor.expect([*HELPER, "list"], stdout=stdout, returncode=returncode)
    with pytest.raises(BackendUnavailable):
        engine.list_handles(scripted_executor)


# ---------------------------------------------------------------- plugin and options


def test_entry_point_is_installed() -> None:
    (entry,) = [e for e in importlib.metadata.entry_points(group="rosetta") if e.name == "singularity"]
    assert entry.load() is rosetta_singularity.plugin


def test_kernel_registers_the_engine_with_site_options(rosetta_kernel_factory: Callable[..., Kernel]) -> None:
    kernel = rosetta_kernel_factory(
        {"singularity": rosetta_singularity.plugin},
        plugin_options={
            "singularity": {
                "binary": "singularity",
                "scratch_dir": "/var/tmp/rs",
                "sif_dir": "/sifs",
                "extra_args": ["--nv"],
                "timeout": 30,
                "resource_limits": True,
            }
        },
    )
    assert kernel.plugin_registrations("singularity") == {
        "engines": ["singularity"],
        "options": ["SingularityOptions"],
    }
    engine = kernel.engines.get("singularity")
    assert isinstance(engine, ContainerEngine) and isinstance(engine, SingularityEngine)
    assert engine.options == SingularityOptions(
        binary="singularity",
        scratch_dir="/var/tmp/rs",
        sif_dir="/sifs",
        extra_args=("--nv",),
        timeout=30.0,
        resource_limits=True,
    )


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ({"timeout": 0}, "$.plugin.singularity.timeout"),
        ({"extra_args": "--nv"}, "$.plugin.singularity.extra_args"),
        ({"binary": ""}, "$.plugin.singularity.binary"),
        ({"scratch_dir": "relative"}, "$.plugin.singularity.scratch_dir"),
        ({"scratch_dir": "/"}, "$.plugin.singularity.scratch_dir"),
        ({"scratch_dir": "/a:b"}, "$.plugin.singularity.scratch_dir"),
        ({"sif_dir": "sifs"}, "$.plugin.singularity.sif_dir"),
        ({"registry": "x"}, "$.plugin.singularity.registry"),
    ],
)
def test_bad_options_stop_start_up_naming_the_field(
    rosetta_kernel_factory: Callable[..., Kernel], section: dict[str, Any], path: str
) -> None:
    with pytest.raises(ConfigError, match=path.replace("$", r"\$")):
        rosetta_kernel_factory(
            {"singularity": rosetta_singularity.plugin}, plugin_options={"singularity": section}
        )
