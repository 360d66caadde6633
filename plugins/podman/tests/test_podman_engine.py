"""Pure tests of the Podman engine: argv it builds, podman output it parses, errors it translates.

No podman is run here: effects go through a ScriptedExecutor (or a LocalExecutor pointed at a
missing program).
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Callable
from typing import Any

import pytest

import rosetta_podman.plugin
from rosetta_core.engines import Bind, ContainerEngine, Observed, Resources, TaskSpec
from rosetta_core.errors import BackendError, BackendUnavailable, CommandTimeout, ConfigError, ExecutorError
from rosetta_core.executors import LocalExecutor
from rosetta_core.kernel import Kernel
from rosetta_core.testing.contracts import HOSTILE
from rosetta_core.testing.fakes import ScriptedExecutor
from rosetta_podman.engine import PodmanEngine, PodmanOptions, merge_logs, parse_inspect

NAME = "rosetta-0123abcd"
INSPECT = ["podman", "container", "inspect", "--format", "json", NAME]


@pytest.fixture
def engine() -> PodmanEngine:
    return PodmanEngine(PodmanOptions(pull_policy="never", timeout=7.0))


def full_spec(**overrides: Any) -> TaskSpec:
    fields: dict[str, Any] = {
        "task_id": "0123abcd",
        "name": NAME,
        "image": "localhost/testbed-busybox:latest",
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


# ---------------------------------------------------------------- argv

COMMON = [
    "--pull=never",
    "--name",
    NAME,
    "--arch",
    "amd64",
    "--label",
    "rosetta.interface_port=8080",
    "--label",
    "rosetta.managed=1",
    "--label",
    "rosetta.owner=ada",
    "--label",
    "rosetta.task=0123abcd",
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
IMAGE_AND_COMMAND = ["localhost/testbed-busybox:latest", "sh", "-c", "echo $HOME; exit 3"]


def test_start_command_golden(engine: PodmanEngine) -> None:
    assert engine.start_command(full_spec()) == [
        "podman",
        "run",
        "-d",
        *COMMON,
        "-p",
        "127.0.0.1::8080",
        *IMAGE_AND_COMMAND,
    ]


def test_build_command_golden_is_foreground_and_publishes_nothing(engine: PodmanEngine) -> None:
    spec = full_spec()
    argv = engine.build_command(spec)
    assert argv == ["podman", "run", "--rm", *COMMON, *IMAGE_AND_COMMAND]
    assert argv == engine.build_command(spec)


def test_minimal_spec_and_options_placement() -> None:
    engine = PodmanEngine(
        PodmanOptions(binary="/opt/bin/podman", extra_args=("--init", "--ulimit", "nofile=64"))
    )
    spec = TaskSpec(task_id="x", name="rosetta-x", image="docker.io/library/busybox:1")
    assert engine.start_command(spec) == [
        "/opt/bin/podman",
        "run",
        "-d",
        "--pull=missing",
        "--name",
        "rosetta-x",
        "--label",
        "rosetta.managed=1",
        "--init",
        "--ulimit",
        "nofile=64",
        "docker.io/library/busybox:1",
    ]


def test_arch_variant_is_split(engine: PodmanEngine) -> None:
    argv = engine.build_command(full_spec(arch="arm64/v8"))
    assert argv[argv.index("--arch") : argv.index("--arch") + 4] == ["--arch", "arm64", "--variant", "v8"]


def test_spec_labels_cannot_unset_managed(engine: PodmanEngine) -> None:
    argv = engine.start_command(full_spec(labels={"rosetta.managed": "0"}))
    assert "rosetta.managed=1" in argv and "rosetta.managed=0" not in argv


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"env": {"A=B": "x"}}, "environment variable name"),
        ({"binds": (Bind(source="/a:b", target="/in"),)}, "bind path"),
        ({"binds": (Bind(source="relative", target="/in"),)}, "bind path"),
        ({"image": "--privileged"}, "not an image reference"),
        ({"name": "-rm"}, "cannot name a podman container"),
    ],
)
def test_unrepresentable_specs_are_refused(
    engine: PodmanEngine, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(BackendError, match=message):
        engine.build_command(full_spec(**overrides))


# ---------------------------------------------------------------- inspect parsing


def inspect_json(status: str, **state: Any) -> str:
    record = {
        "Name": NAME,
        "State": {"Status": status, "ExitCode": 0, "Error": "", "OOMKilled": False, **state},
        "Config": {"Labels": {"rosetta.managed": "1", "rosetta.interface_port": "8080"}},
        "NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "34917"}]}},
    }
    return json.dumps([record])


def test_running_reports_the_published_port() -> None:
    obs = parse_inspect(inspect_json("running"))
    assert (obs.state, obs.host, obs.port) == (Observed.RUNNING, "127.0.0.1", 34917)


def test_running_without_interface_has_no_port() -> None:
    record = json.loads(inspect_json("running"))
    record[0]["Config"]["Labels"] = {"rosetta.managed": "1"}
    obs = parse_inspect(json.dumps(record))
    assert (obs.state, obs.host, obs.port) == (Observed.RUNNING, "127.0.0.1", None)


def test_wildcard_binding_is_reached_on_loopback() -> None:
    record = json.loads(inspect_json("running"))
    record[0]["NetworkSettings"]["Ports"]["8080/tcp"] = [{"HostIp": "", "HostPort": "40000"}]
    assert parse_inspect(json.dumps(record)).port == 40000


@pytest.mark.parametrize("status", ["exited", "stopped"])
def test_exit_code_is_reported_whatever_it_is(status: str) -> None:
    obs = parse_inspect(inspect_json(status, ExitCode=3))
    assert (obs.state, obs.exit_code) == (Observed.EXITED, 3)
    assert "3" in obs.detail


def test_out_of_memory_is_said() -> None:
    obs = parse_inspect(inspect_json("exited", ExitCode=137, OOMKilled=True))
    assert (obs.state, obs.exit_code) == (Observed.EXITED, 137)
    assert "memory" in obs.detail


@pytest.mark.parametrize("status", ["created", "configured", "initialized"])
def test_not_started_yet_is_pending(status: str) -> None:
    assert parse_inspect(inspect_json(status)).state is Observed.PENDING


def test_created_with_an_error_failed() -> None:
    obs = parse_inspect(inspect_json("created", Error="OCI runtime error"))
    assert (obs.state, obs.detail) == (Observed.FAILED, "OCI runtime error")


def test_empty_answer_is_gone_and_odd_status_unknown() -> None:
    assert parse_inspect("[]").state is Observed.GONE
    assert parse_inspect(inspect_json("mystery")).state is Observed.UNKNOWN


@pytest.mark.parametrize("stdout", ["not json", "{}", ""])
def test_garbage_means_podman_cannot_be_understood(stdout: str) -> None:
    with pytest.raises(BackendUnavailable):
        parse_inspect(stdout)


# ---------------------------------------------------------------- actions through an executor


def test_poll_runs_inspect_with_the_configured_timeout(
    engine: PodmanEngine, scripted_executor: ScriptedExecutor
) -> None:
    scripted_executor.expect(INSPECT, stdout=inspect_json("running"))
    assert engine.poll(NAME, scripted_executor).port == 34917
    assert scripted_executor.calls[0].timeout == 7.0


def test_poll_no_such_container_is_gone(engine: PodmanEngine, scripted_executor: ScriptedExecutor) -> None:
    scripted_executor.expect(
        INSPECT, stdout="[]", stderr=f"Error: inspecting object: no such container {NAME}\n", returncode=125
    )
    assert engine.poll(NAME, scripted_executor).state is Observed.GONE


def test_poll_of_an_impossible_name_is_gone_without_asking(
    engine: PodmanEngine, scripted_executor: ScriptedExecutor
) -> None:
    assert engine.poll("--all", scripted_executor).state is Observed.GONE
    assert scripted_executor.calls == []


def test_poll_other_failure_is_unavailable_with_podmans_words(
    engine: PodmanEngine, scripted_executor: ScriptedExecutor
) -> None:
    scripted_executor.expect(INSPECT, stderr="Error: database is locked\n", returncode=125)
    with pytest.raises(BackendUnavailable, match="database is locked"):
        engine.poll(NAME, scripted_executor)


@pytest.mark.parametrize("raised", [ExecutorError("connection lost"), CommandTimeout("slow")])
def test_poll_when_podman_cannot_run_is_unavailable(
    engine: PodmanEngine, scripted_executor: ScriptedExecutor, raised: Exception
) -> None:
    scripted_executor.expect(INSPECT, raises=raised)
    with pytest.raises(BackendUnavailable) as info:
        engine.poll(NAME, scripted_executor)
    assert info.value.__cause__ is raised


def test_missing_podman_program_is_a_lasting_error() -> None:
    engine = PodmanEngine(PodmanOptions(binary="/nonexistent/rosetta/podman"))
    with pytest.raises(BackendError, match=r"program not found.*is podman installed") as info:
        engine.start(full_spec(), LocalExecutor())
    # not "unavailable": a start that cannot ever work fails the task instead of leaving it unknown
    assert not isinstance(info.value, BackendUnavailable)
    with pytest.raises(BackendError):
        engine.list_handles(LocalExecutor())


def test_start_returns_the_name(engine: PodmanEngine, scripted_executor: ScriptedExecutor) -> None:
    spec = full_spec()
    scripted_executor.expect(["podman", "run"], stdout="52a272cafb43\n")
    assert engine.start(spec, scripted_executor) == NAME
    assert scripted_executor.argvs() == [tuple(engine.start_command(spec))]


def test_start_of_an_existing_container_is_not_an_error(
    engine: PodmanEngine, scripted_executor: ScriptedExecutor
) -> None:
    scripted_executor.expect(
        ["podman", "run"],
        stderr=f'Error: creating container storage: the container name "{NAME}" is already in use by 5f.\n',
        returncode=125,
    )
    assert engine.start(full_spec(), scripted_executor) == NAME
    assert len(scripted_executor.calls) == 1


def test_failed_start_says_why_and_removes_leftovers(
    engine: PodmanEngine, scripted_executor: ScriptedExecutor
) -> None:
    scripted_executor.expect(
        ["podman", "run"], stderr="Error: localhost/nope:latest: image not known\n", returncode=125
    )
    scripted_executor.expect(["podman", "rm", "-f", NAME])
    with pytest.raises(BackendError, match="image not known") as info:
        engine.start(full_spec(), scripted_executor)
    assert not isinstance(info.value, BackendUnavailable)
    assert scripted_executor.argvs()[-1] == ("podman", "rm", "-f", NAME)


def test_start_when_podman_cannot_run_is_unavailable(
    engine: PodmanEngine, scripted_executor: ScriptedExecutor
) -> None:
    scripted_executor.expect(["podman", "run"], raises=CommandTimeout("slow"))
    with pytest.raises(BackendUnavailable, match="did not answer"):
        engine.start(full_spec(), scripted_executor)


def test_stop_removes_and_tolerates_gone(engine: PodmanEngine, scripted_executor: ScriptedExecutor) -> None:
    scripted_executor.expect(["podman", "rm"], stderr=f"Error: no such container {NAME}\n", returncode=1)
    engine.stop(NAME, scripted_executor)
    assert scripted_executor.argvs() == [("podman", "rm", "-f", "-t", "5", NAME)]
    # the executor's timeout leaves room for podman's own grace period
    assert scripted_executor.calls[0].timeout == 12.0


def test_stop_failure_is_an_error(engine: PodmanEngine, scripted_executor: ScriptedExecutor) -> None:
    scripted_executor.expect(["podman", "rm"], stderr="Error: container state improper\n", returncode=2)
    with pytest.raises(BackendError, match="state improper"):
        engine.stop(NAME, scripted_executor)


def test_logs_interleave_both_streams_in_time(
    engine: PodmanEngine, scripted_executor: ScriptedExecutor
) -> None:
    scripted_executor.expect(
        ["podman", "logs"],
        stdout="2026-11-25T03:18:59.1Z out1\n2026-11-25T03:18:59.3Z out2\n",
        stderr='2026-11-25T03:18:59.2Z err1\ntime="2026-11-25T03:19:00Z" level=warning msg="x"\n',
    )
    assert engine.logs(NAME, scripted_executor, tail=3) == "out1\nerr1\nout2\n"
    assert scripted_executor.argvs() == [("podman", "logs", "--timestamps", "--tail", "3", NAME)]


def test_logs_of_a_gone_container_are_empty(
    engine: PodmanEngine, scripted_executor: ScriptedExecutor
) -> None:
    scripted_executor.expect(["podman", "logs"], stderr=f"Error: no such container {NAME}\n", returncode=125)
    assert engine.logs(NAME, scripted_executor) == ""
    assert engine.logs(NAME, scripted_executor, tail=0) == ""


def test_merge_logs_keeps_the_last_lines_and_odd_lines() -> None:
    stdout = "\n".join(f"2026-11-25T03:18:5{i}.000000001+00:00 line {i}" for i in range(5))
    assert merge_logs(stdout + "\nno stamp", "", tail=2) == "line 4\nno stamp\n"
    # nanoseconds matter when the seconds are equal
    assert (
        merge_logs("2026-11-25T03:18:59.000000002Z b", "2026-11-25T03:18:59.000000001Z a", tail=5) == "a\nb\n"
    )


def test_list_handles_keeps_platform_names(engine: PodmanEngine, scripted_executor: ScriptedExecutor) -> None:
    scripted_executor.expect(["podman", "ps"], stdout="rosetta-b\nsomeone-else\nrosetta-a\n\n")
    assert engine.list_handles(scripted_executor) == ["rosetta-a", "rosetta-b"]
    assert scripted_executor.argvs() == [
        ("podman", "ps", "-a", "--filter", "label=rosetta.managed=1", "--format", "{{.Names}}")
    ]


def test_list_handles_failure_is_unavailable(
    engine: PodmanEngine, scripted_executor: ScriptedExecutor
) -> None:
    scripted_executor.expect(["podman", "ps"], stderr="Error: cannot connect\n", returncode=125)
    with pytest.raises(BackendUnavailable, match="cannot connect"):
        engine.list_handles(scripted_executor)


# ---------------------------------------------------------------- plugin and options


def test_entry_point_is_installed() -> None:
    (entry,) = [e for e in importlib.metadata.entry_points(group="rosetta") if e.name == "podman"]
    assert entry.load() is rosetta_podman.plugin


def test_kernel_registers_the_engine_with_site_options(rosetta_kernel_factory: Callable[..., Kernel]) -> None:
    kernel = rosetta_kernel_factory(
        {"podman": rosetta_podman.plugin},
        plugin_options={"podman": {"pull_policy": "never", "extra_args": ["--init"], "timeout": 30}},
    )
    assert kernel.plugin_registrations("podman") == {"engines": ["podman"], "options": ["PodmanOptions"]}
    engine = kernel.engines.get("podman")
    assert isinstance(engine, ContainerEngine) and isinstance(engine, PodmanEngine)
    assert engine.options == PodmanOptions(pull_policy="never", extra_args=("--init",), timeout=30.0)


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ({"pull_policy": "sometimes"}, "$.plugin.podman.pull_policy"),
        ({"timeout": -1}, "$.plugin.podman.timeout"),
        ({"extra_args": "--init"}, "$.plugin.podman.extra_args"),
        ({"binary": ""}, "$.plugin.podman.binary"),
        ({"registry": "x"}, "$.plugin.podman.registry"),
    ],
)
def test_bad_options_stop_start_up_naming_the_field(
    rosetta_kernel_factory: Callable[..., Kernel], section: dict[str, Any], path: str
) -> None:
    with pytest.raises(ConfigError, match=path.replace("$", r"\$")):
        rosetta_kernel_factory({"podman": rosetta_podman.plugin}, plugin_options={"podman": section})
