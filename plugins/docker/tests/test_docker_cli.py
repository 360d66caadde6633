"""The command-line path: which executors take it, the docker commands it runs through them, how it
reads their output, and how it classes failures.

Most tests script the executor (:class:`ScriptedExecutor`, whose name is not ``"local"``, so the
engine takes the command-line path) with what docker prints. The last ones run the real ``docker``
program against a dead daemon socket, and are skipped, saying why, without the program.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from rosetta_core.engines import Observed, TaskSpec
from rosetta_core.errors import (
    BackendError,
    BackendUnavailable,
    CommandNotFound,
    CommandTimeout,
    ExecutorError,
    HostKeyError,
)
from rosetta_core.executors import DEFAULT_TIMEOUT, CommandResult, LocalExecutor
from rosetta_core.testing.fakes import ScriptedExecutor
from rosetta_docker.cli import LOCAL_EXECUTOR, runs_command_line
from rosetta_docker.engine import DockerEngine
from rosetta_docker.options import DockerOptions

NAME = "rosetta-0123abcd"
IMAGE = "localhost/testbed-busybox:latest"
CONTAINER_ID = "9f875d46ec9620d9faebbe299e9242d29e49f0a141b575eb5aa2273626f98f25"
DAEMON_DOWN = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"
)
NO_SUCH = f"Error response from daemon: No such container: {NAME}\n"
NO_SUCH_IMAGE = f"Error response from daemon: No such image: {IMAGE}\n"
RUN_HINT = "\nRun 'docker run --help' for more information\n"
AMD64 = json.dumps([{"Id": "sha256:1", "Architecture": "amd64", "Os": "linux"}])


def spec(**overrides: Any) -> TaskSpec:
    fields: dict[str, Any] = {
        "task_id": "0123abcd",
        "name": NAME,
        "image": IMAGE,
        "interface_port": 8080,
        "labels": {"rosetta.task": "0123abcd"},
        "arch": "amd64",
    }
    fields.update(overrides)
    return TaskSpec(**fields)


MANAGED = {"rosetta.managed": "1", "rosetta.interface_port": "8080"}


def record(status: str, labels: Mapping[str, str] = MANAGED, **state: Any) -> str:
    """What ``docker container inspect`` prints for one container."""
    return json.dumps(
        [
            {
                "Name": f"/{NAME}",
                "State": {"Status": status, "ExitCode": 0, "Error": "", "OOMKilled": False, **state},
                "Config": {"Labels": dict(labels)},
                "NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "34917"}]}},
            }
        ]
    )


def never_connect(_options: DockerOptions) -> Any:
    raise AssertionError("the command-line path must not make an SDK client")


def make(**options: Any) -> tuple[DockerEngine, ScriptedExecutor]:
    """An engine whose SDK client cannot be made, and a scripted remote executor."""
    engine = DockerEngine(DockerOptions(**options), client_factory=never_connect)
    return engine, ScriptedExecutor()


def commands(executor: ScriptedExecutor) -> list[tuple[str, ...]]:
    """The docker subcommands run, without the program name and the changing arguments."""
    return [call.argv[1:3] for call in executor.calls]


# ---------------------------------------------------------------- the rule


class RemoteNamed(LocalExecutor):
    """A test double: this machine's executor under the SSH executor's name."""

    name = "ssh"


def test_the_local_executor_means_the_sdk_any_other_the_command_line() -> None:
    assert LOCAL_EXECUTOR == LocalExecutor.name == "local"
    assert not runs_command_line(DockerOptions(), LocalExecutor())
    assert runs_command_line(DockerOptions(), RemoteNamed())
    assert runs_command_line(DockerOptions(), ScriptedExecutor())
    engine = DockerEngine()
    assert engine.uses_command_line(RemoteNamed()) and not engine.uses_command_line(LocalExecutor())


def test_a_base_url_keeps_the_sdk_whatever_the_executor() -> None:
    options = DockerOptions(base_url="ssh://ada@gpu-node-1")
    assert not runs_command_line(options, RemoteNamed())
    assert not runs_command_line(options, LocalExecutor())


def test_every_operation_goes_through_the_executor_and_never_the_sdk() -> None:
    engine, executor = make(pull_policy="missing")
    executor.expect(["docker", "image", "inspect"], stdout=AMD64)
    executor.expect(["docker", "run"], stdout=CONTAINER_ID + "\n")
    executor.expect(["docker", "container", "inspect"], stdout=record("running"))
    executor.expect(["docker", "ps"], stdout=f"{NAME}\n")
    executor.expect(["docker", "logs"], stdout="2026-11-25T06:36:13.760880464Z hello\n")
    executor.expect(["docker", "stop"])
    executor.expect(["docker", "rm"])
    engine.pull(spec(), executor, print)
    assert engine.start(spec(), executor) == NAME
    assert engine.poll(NAME, executor).state is Observed.RUNNING
    assert engine.list_handles(executor) == [NAME]
    assert engine.logs(NAME, executor, tail=5) == "hello\n"
    engine.stop(NAME, executor)
    assert commands(executor) == [
        ("image", "inspect"),
        ("run", "-d"),
        ("container", "inspect"),
        ("ps", "-a"),
        ("logs", "--timestamps"),
        ("stop", "-t"),
        ("rm", "-f"),
    ]
    assert all(call.timeout == 120.0 for call in executor.calls[:-2])
    assert executor.calls[-2].timeout == 125.0  # stop waits stop_timeout longer
    assert engine._client is None


def test_the_binary_option_names_the_program() -> None:
    engine, executor = make(binary="/opt/docker/bin/docker")
    executor.expect(["/opt/docker/bin/docker", "ps"], stdout="")
    assert engine.list_handles(executor) == []


# ---------------------------------------------------------------- start and the pull policy


def test_start_under_never_looks_for_the_image_then_runs_detached_without_pulling() -> None:
    engine, executor = make(pull_policy="never")
    executor.expect(["docker", "image", "inspect"], stdout=AMD64)
    executor.expect(["docker", "run"], stdout=CONTAINER_ID + "\n")
    assert engine.start(spec(), executor) == NAME
    inspect, run = executor.argvs()
    assert inspect == ("docker", "image", "inspect", IMAGE)
    assert run[:4] == ("docker", "run", "-d", "--pull=never")
    assert run[-3:] == ("-p", "127.0.0.1::8080", IMAGE)


def test_never_refuses_a_missing_image_without_running_anything() -> None:
    engine, executor = make(pull_policy="never")
    executor.expect(["docker", "image", "inspect"], stdout="[]\n", stderr=NO_SUCH_IMAGE, returncode=1)
    with pytest.raises(
        BackendError, match=f"^docker: image {IMAGE} not found locally, and pull_policy is 'never'$"
    ):
        engine.start(spec(), executor)
    with pytest.raises(BackendError, match="not found locally") as info:
        engine.pull(spec(), executor, print)
    assert not isinstance(info.value, BackendUnavailable)
    assert commands(executor) == [("image", "inspect")] * 2


def test_missing_pulls_an_absent_image_or_one_of_another_architecture_reporting_progress() -> None:
    engine, executor = make(pull_policy="missing")
    executor.expect(["docker", "image", "inspect"], stdout=AMD64)
    executor.expect(
        ["docker", "pull"],
        stdout=(
            "v8: Pulling from testbed/busybox\n46bbfdf5c16b: Pull complete\n"
            f"Status: Downloaded newer image for {IMAGE}\n{IMAGE}\n"
        ),
    )
    lines: list[str] = []
    engine.pull(spec(), executor, lines.append)
    assert lines == [] and commands(executor) == [("image", "inspect")]
    engine.pull(spec(arch="arm64/v8"), executor, lines.append)
    assert executor.argvs()[-1] == ("docker", "pull", "--platform", "linux/arm64/v8", IMAGE)
    assert executor.calls[-1].timeout == 900.0
    assert lines == [
        f"pulling {IMAGE} for linux/arm64/v8",
        "v8: Pulling from testbed/busybox",
        "46bbfdf5c16b: Pull complete",
        f"Status: Downloaded newer image for {IMAGE}",
        f"pulled {IMAGE}",
    ]


def test_always_pulls_and_start_after_a_pull_does_not_look_again() -> None:
    engine, executor = make(pull_policy="always", pull_timeout=30)
    executor.expect(["docker", "pull"], stdout=f"{IMAGE}\n")
    executor.expect(["docker", "run"], stdout=CONTAINER_ID + "\n")
    engine.pull(spec(arch=None), executor, print)
    engine.start(spec(arch=None), executor)
    assert commands(executor) == [("pull", IMAGE), ("run", "-d")]
    assert executor.calls[0].timeout == 30
    engine.start(spec(arch=None), executor)  # alone, start applies the policy itself
    assert commands(executor)[2:] == [("pull", IMAGE), ("run", "-d")]


def test_a_failed_pull_says_why_and_is_not_unavailable() -> None:
    engine, executor = make(pull_policy="always")
    executor.expect(
        ["docker", "pull"],
        stderr='Error response from daemon: Get "http://127.0.0.1:9/v2/": dial tcp 127.0.0.1:9: '
        "connect: connection refused\n",
        returncode=1,
    )
    lines: list[str] = []
    with pytest.raises(
        BackendError, match=rf"^docker: cannot pull image {IMAGE}: Get .*connection refused$"
    ) as info:
        engine.pull(spec(), executor, lines.append)
    assert not isinstance(info.value, BackendUnavailable)
    assert lines == [f"pulling {IMAGE} for linux/amd64"]
    with pytest.raises(BackendError, match="connection refused"):
        engine.start(spec(), executor)  # a failed pull does not count as pulled
    assert commands(executor) == [("pull", "--platform")] * 2


@pytest.mark.parametrize(("printed_id", "stage"), [(CONTAINER_ID + "\n", "start"), ("", "create")])
def test_a_failed_run_says_why_and_removes_what_it_created(printed_id: str, stage: str) -> None:
    engine, executor = make(pull_policy="never")
    executor.expect(["docker", "image", "inspect"], stdout=AMD64)
    words = 'failed to create shim task: exec: "/no/such/program": stat /no/such/program: no such file'
    executor.expect(
        ["docker", "run"],
        stdout=printed_id,
        stderr=f"docker: Error response from daemon: {words}\n{RUN_HINT}",
        returncode=127,
    )
    executor.expect(["docker", "rm"])
    with pytest.raises(BackendError) as info:
        engine.start(spec(command=("/no/such/program",)), executor)
    assert str(info.value) == f"docker: cannot {stage} container {NAME}: {words}"
    assert not isinstance(info.value, BackendUnavailable)
    assert executor.argvs()[-1] == ("docker", "rm", "-f", "-v", NAME)


def test_a_run_that_cannot_reach_the_daemon_is_unavailable_and_removes_nothing() -> None:
    engine, executor = make(pull_policy="never")
    executor.expect(["docker", "image", "inspect"], stdout=AMD64)
    executor.expect(["docker", "run"], stderr=f"docker: {DAEMON_DOWN}{RUN_HINT}", returncode=1)
    with pytest.raises(BackendUnavailable, match="Cannot connect to the Docker daemon"):
        engine.start(spec(), executor)
    assert commands(executor) == [("image", "inspect"), ("run", "-d")]


CONFLICT = (
    'docker: Error response from daemon: Conflict. The container name "/rosetta-0123abcd" is already in '
    f'use by container "{CONTAINER_ID}". You have to remove (or rename) that container to be able to '
    f"reuse that name.\n{RUN_HINT}"
)


def test_an_existing_container_counts_as_started() -> None:
    engine, executor = make(pull_policy="never")
    executor.expect(["docker", "image", "inspect"], stdout=AMD64)
    executor.expect(["docker", "run"], stderr=CONFLICT, returncode=125)
    executor.expect(["docker", "container", "inspect"], stdout=record("running"))
    assert engine.start(spec(), executor) == NAME
    assert commands(executor) == [("image", "inspect"), ("run", "-d"), ("container", "inspect")]


def test_a_container_left_created_is_started() -> None:
    engine, executor = make(pull_policy="never")
    executor.expect(["docker", "image", "inspect"], stdout=AMD64)
    executor.expect(["docker", "run"], stderr=CONFLICT, returncode=125)
    executor.expect(["docker", "container", "inspect"], stdout=record("created"))
    executor.expect(["docker", "start"], stdout=NAME + "\n")
    assert engine.start(spec(), executor) == NAME
    assert executor.argvs()[-1] == ("docker", "start", NAME)
    # and if it cannot be started, it is removed
    executor.expect(
        ["docker", "start"], stderr="Error response from daemon: OCI runtime error\n", returncode=1
    )
    executor.expect(["docker", "rm"])
    with pytest.raises(BackendError, match=f"^docker: cannot start container {NAME}: OCI runtime error$"):
        engine.start(spec(), executor)
    assert executor.argvs()[-1] == ("docker", "rm", "-f", "-v", NAME)


def test_a_container_of_that_name_not_started_by_the_platform_is_left_alone() -> None:
    engine, executor = make(pull_policy="never")
    executor.expect(["docker", "image", "inspect"], stdout=AMD64)
    executor.expect(["docker", "run"], stderr=CONFLICT, returncode=125)
    executor.expect(["docker", "container", "inspect"], stdout=record("running", labels={}))
    with pytest.raises(BackendError, match="exists and rosetta did not start it"):
        engine.start(spec(), executor)
    executor.expect(["docker", "container", "inspect"], stdout="[]", stderr=NO_SUCH, returncode=1)
    with pytest.raises(BackendUnavailable, match="vanished while starting"):
        engine.start(spec(), executor)
    assert ("rm", "-f") not in commands(executor)


# ---------------------------------------------------------------- poll, stop, logs, list


def test_poll_reads_the_record_as_the_sdk_path_does() -> None:
    engine, executor = make()
    executor.expect(["docker", "container", "inspect"], stdout=record("running"))
    obs = engine.poll(NAME, executor)
    assert (obs.state, obs.host, obs.port) == (Observed.RUNNING, "127.0.0.1", 34917)
    assert obs.labels["rosetta.managed"] == "1"
    executor.expect(["docker", "container", "inspect"], stdout=record("exited", ExitCode=137, OOMKilled=True))
    obs = engine.poll(NAME, executor)
    assert (obs.state, obs.exit_code, obs.detail) == (
        Observed.EXITED,
        137,
        "killed for exceeding its memory limit",
    )
    executor.expect(["docker", "container", "inspect"], stdout=record("created"))
    assert engine.poll(NAME, executor).state is Observed.PENDING
    assert executor.argvs()[0] == ("docker", "container", "inspect", NAME)


@pytest.mark.parametrize("stderr", [NO_SUCH, f"Error: No such object: {NAME}\n"])
def test_poll_of_a_container_docker_does_not_know_is_gone(stderr: str) -> None:
    engine, executor = make()
    executor.expect(["docker", "container", "inspect"], stdout="[]\n", stderr=stderr, returncode=1)
    assert engine.poll(NAME, executor).state is Observed.GONE
    assert engine.poll("../images", executor).state is Observed.GONE
    assert len(executor.calls) == 1


@pytest.mark.parametrize(
    ("stderr", "stdout"),
    [
        (DAEMON_DOWN, ""),
        ('error during connect: Get "http://docker.example:2375/v1.41/containers/json": EOF\n', ""),
        ("Error response from daemon: i/o timeout\n", ""),  # any refusal: poll cannot say
        ("", "not json"),
    ],
)
def test_poll_when_docker_cannot_say_is_unavailable(stderr: str, stdout: str) -> None:
    engine, executor = make()
    executor.expect(
        ["docker", "container", "inspect"], stdout=stdout, stderr=stderr, returncode=1 if stderr else 0
    )
    with pytest.raises(BackendUnavailable, match=f"^docker: cannot inspect container {NAME}: "):
        engine.poll(NAME, executor)


@pytest.mark.parametrize(
    "raised",
    [
        BackendUnavailable("ssh://tbuser@127.0.0.1:2222: the connection was lost while starting docker"),
        ExecutorError("the connection was lost"),
        CommandTimeout("docker did not finish within 120 s"),
    ],
)
def test_an_executor_that_cannot_reach_its_host_makes_every_operation_unavailable(
    raised: BaseException,
) -> None:
    engine, executor = make()
    executor.expect(["docker"], raises=raised)
    calls: list[Callable[[], object]] = [
        lambda: engine.poll(NAME, executor),
        lambda: engine.list_handles(executor),
        lambda: engine.start(spec(), executor),
        lambda: engine.pull(spec(), executor, print),
        lambda: engine.stop(NAME, executor),
        lambda: engine.logs(NAME, executor),
    ]
    for call in calls:
        with pytest.raises(BackendUnavailable, match=r"^docker: ") as info:
            call()
        assert info.value.__cause__ is raised


def test_a_missing_docker_program_is_a_lasting_error() -> None:
    engine, executor = make()
    executor.expect(["docker"], raises=CommandNotFound("program not found: docker"))
    with pytest.raises(BackendError, match="is docker installed on this computing resource") as info:
        engine.start(spec(), executor)
    assert not isinstance(info.value, BackendUnavailable)


def test_a_user_who_may_not_use_the_daemon_is_a_lasting_error() -> None:
    engine, executor = make()
    denied = (
        "permission denied while trying to connect to the Docker daemon socket at "
        'unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.41/containers/json": '
        "dial unix /var/run/docker.sock: connect: permission denied\n"
    )
    executor.expect(["docker"], stderr=denied, returncode=1)
    with pytest.raises(BackendError, match="the docker group") as info:
        engine.list_handles(executor)
    assert not isinstance(info.value, BackendUnavailable)


def test_errors_about_the_host_itself_pass_through() -> None:
    engine, executor = make()
    raised = HostKeyError("the host key of 127.0.0.1:2222 changed")
    executor.expect(["docker"], raises=raised)
    with pytest.raises(HostKeyError) as info:
        engine.poll(NAME, executor)
    assert info.value is raised


def test_stop_stops_then_removes_and_gone_is_fine() -> None:
    engine, executor = make(stop_timeout=7, timeout=10)
    executor.expect(["docker", "stop"], stdout=NAME + "\n")
    executor.expect(["docker", "rm"], stdout=NAME + "\n")
    engine.stop(NAME, executor)
    assert executor.argvs() == [("docker", "stop", "-t", "7", NAME), ("docker", "rm", "-f", "-v", NAME)]
    assert [call.timeout for call in executor.calls] == [17, 10]
    executor.expect(["docker", "stop"], stderr=NO_SUCH, returncode=1)
    engine.stop(NAME, executor)
    assert len(executor.calls) == 3  # gone at the stop: nothing to remove
    executor.expect(
        ["docker", "stop"], stderr="Error response from daemon: cannot kill container\n", returncode=1
    )
    executor.expect(
        ["docker", "rm"],
        stderr=f"Error response from daemon: removal of container {NAME} is already in progress\n",
        returncode=1,
    )
    engine.stop(NAME, executor)  # a refused stop is followed by the forced removal; a racing stop is fine
    executor.expect(["docker", "rm"], stderr=NO_SUCH, returncode=1)  # older docker: rm -f of a gone one fails
    engine.stop(NAME, executor)


def test_stop_failures() -> None:
    engine, executor = make(stop_timeout=0)
    executor.expect(
        ["docker", "rm"], stderr="Error response from daemon: cannot remove: device busy\n", returncode=1
    )
    with pytest.raises(
        BackendError, match=f"^docker: cannot remove container {NAME}: cannot remove: device busy$"
    ) as info:
        engine.stop(NAME, executor)
    assert not isinstance(info.value, BackendUnavailable)
    assert commands(executor) == [("rm", "-f")]  # stop_timeout 0: no stop, killed at once
    engine, executor = make()
    executor.expect(["docker", "stop"], stderr=DAEMON_DOWN, returncode=1)
    with pytest.raises(BackendUnavailable, match=f"^docker: cannot stop container {NAME}: Cannot connect"):
        engine.stop(NAME, executor)
    assert commands(executor) == [("stop", "-t")]


def test_logs_merge_both_streams_in_order() -> None:
    engine, executor = make()
    executor.expect(
        ["docker", "logs"],
        stdout="2026-11-25T06:36:13.760880464Z out1\n2026-11-25T06:36:13.862192987Z out2\n",
        stderr="2026-11-25T06:36:13.760999671Z err1\n",
    )
    assert engine.logs(NAME, executor, tail=2) == "err1\nout2\n"
    assert executor.argvs() == [("docker", "logs", "--timestamps", "--tail", "2", NAME)]
    assert engine.logs(NAME, executor, tail=0) == "" and len(executor.calls) == 1


def test_logs_of_a_gone_container_are_empty_and_other_failures_say_why() -> None:
    engine, executor = make()
    # the container's own stderr comes before docker's error: only the last line is docker's
    executor.expect(
        ["docker", "logs"], stderr=f"2026-11-25T06:36:13Z no such object\n{NO_SUCH}", returncode=1
    )
    assert engine.logs(NAME, executor) == ""
    refused = "Error response from daemon: configured logging driver does not support reading\n"
    executor.expect(
        ["docker", "logs"], stderr=f"2026-11-25T06:36:13Z no such object\n{refused}", returncode=1
    )
    with pytest.raises(
        BackendError, match=r"logs of container .*: configured logging driver does not support reading$"
    ):
        engine.logs(NAME, executor)


def test_list_handles_keeps_platform_names_and_failure_is_unavailable() -> None:
    engine, executor = make()
    executor.expect(["docker", "ps"], stdout="rosetta-b\nsomeone-else\nrosetta-a,other/link\n")
    assert engine.list_handles(executor) == ["rosetta-a", "rosetta-b"]
    executor.expect(
        ["docker", "ps"], stderr="Error response from daemon: daemon is shutting down\n", returncode=1
    )
    with pytest.raises(
        BackendUnavailable, match=r"^docker: cannot list containers: daemon is shutting down$"
    ):
        engine.list_handles(executor)


def test_a_failure_without_words_still_says_something() -> None:
    engine, executor = make()
    executor.expect(["docker", "ps"], returncode=2)
    with pytest.raises(BackendUnavailable, match="docker exited with 2 and said nothing"):
        engine.list_handles(executor)


# ---------------------------------------------------------------- the real program, no daemon


class DeadDaemonExecutor(LocalExecutor):
    """A test double: this machine's executor under another name (so the engine takes the
    command-line path), pointing the docker program at ``socket_url`` through the environment."""

    name = "local-dead-daemon"

    def __init__(self, socket_url: str) -> None:
        self.socket_url = socket_url

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        return super().run(
            argv, timeout=timeout, input=input, env={**(env or {}), "DOCKER_HOST": self.socket_url}
        )


@pytest.fixture
def dead_daemon(tmp_path: Path) -> Iterator[DeadDaemonExecutor]:
    """An executor whose docker program finds a socket that refuses connections."""
    if shutil.which("docker") is None:
        pytest.skip("no docker program on this machine (run testbed/setup.sh)")
    path = tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))  # bound, never listening: connections are refused
        yield DeadDaemonExecutor(f"unix://{path}")


@pytest.mark.testbed
def test_a_daemon_that_cannot_be_reached_is_unavailable_through_the_real_program(
    dead_daemon: DeadDaemonExecutor,
) -> None:
    engine = DockerEngine(DockerOptions(pull_policy="missing", timeout=30), client_factory=never_connect)
    calls: list[Callable[[], object]] = [
        lambda: engine.poll(NAME, dead_daemon),
        lambda: engine.list_handles(dead_daemon),
        lambda: engine.start(spec(), dead_daemon),
        lambda: engine.pull(spec(), dead_daemon, print),
        lambda: engine.stop(NAME, dead_daemon),
        lambda: engine.logs(NAME, dead_daemon),
    ]
    for call in calls:
        with pytest.raises(
            BackendUnavailable,
            match=f"^docker: .*Cannot connect to the Docker daemon at {dead_daemon.socket_url}",
        ):
            call()
