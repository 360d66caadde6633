"""Pure tests of the Docker engine's SDK path: argv and API arguments it builds, errors it
translates, options and registration (what docker reports is read in ``test_docker_records.py``).

No daemon is asked here: the engine gets an autospecced fake of ``docker.APIClient`` (so a call
with a keyword the SDK does not have fails), or a socket path where nothing listens.
"""

from __future__ import annotations

import importlib.metadata
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import docker
import docker.errors
import pytest
import requests
import requests.exceptions

import rosetta_docker.plugin
from rosetta_core.engines import Bind, ContainerEngine, Observed, Resources, TaskSpec
from rosetta_core.errors import BackendError, BackendUnavailable, ConfigError
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, Software, TaskStatus
from rosetta_core.testing.contracts import HOSTILE
from rosetta_core.testing.fakes import ScriptedExecutor
from rosetta_docker.engine import (
    DEFAULT_URL,
    DockerEngine,
    DockerOptions,
    connect,
    daemon_url,
)
from rosetta_docker.plugin import LazyDockerEngine

NAME = "rosetta-0123abcd"
IMAGE = "localhost/testbed-busybox:latest"
NOWHERE = "unix:///tmp/nonexistent-docker.sock"


def sdk_executor() -> ScriptedExecutor:
    """A scripted executor named as the local one, so calls take the SDK path; any command run
    through it would fail the test (it has no answers)."""
    executor = ScriptedExecutor()
    executor.name = "local"
    return executor


def full_spec(**overrides: Any) -> TaskSpec:
    fields: dict[str, Any] = {
        "task_id": "0123abcd",
        "name": NAME,
        "image": IMAGE,
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


def api_error(status: int, explanation: str) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    return docker.errors.APIError(f"{status} Server Error", response=response, explanation=explanation)


def not_found(what: str = NAME) -> docker.errors.NotFound:
    return docker.errors.NotFound(f"No such container: {what}", explanation=f"No such container: {what}")


class Fakes:
    """A fake client per connection, and how many connections the engine made."""

    def __init__(self) -> None:
        self.clients: list[Any] = []

    def factory(self, _options: DockerOptions) -> Any:
        api = mock.create_autospec(docker.APIClient, instance=True)
        api.create_host_config.side_effect = lambda **kwargs: {"host": kwargs}
        api.create_container.return_value = {"Id": "52a272cafb43", "Warnings": []}
        api.inspect_image.return_value = {"Id": "sha256:1", "Architecture": "amd64", "Os": "linux"}
        api.pull.return_value = iter([{"status": "Pulling from x"}, {"status": "Downloaded newer image"}])
        api.containers.return_value = []
        api.logs.return_value = b""
        self.clients.append(api)
        return api

    @property
    def api(self) -> Any:
        return self.clients[-1]


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


def make_engine(fakes: Fakes, **options: Any) -> tuple[DockerEngine, Any]:
    """An engine on a fake client, which is made at once so the test can script it."""
    engine = DockerEngine(DockerOptions(**options), client_factory=fakes.factory)
    return engine, engine._api()


@pytest.fixture
def engine_api(fakes: Fakes) -> tuple[DockerEngine, Any]:
    return make_engine(fakes, pull_policy="never", stop_timeout=5)


# ---------------------------------------------------------------- argv for batch scripts

LABELS = [
    "--label",
    "rosetta.interface_port=8080",
    "--label",
    "rosetta.managed=1",
    "--label",
    "rosetta.owner=ada",
    "--label",
    "rosetta.task=0123abcd",
]


def test_build_command_golden() -> None:
    spec = full_spec()
    argv = DockerEngine(DockerOptions(pull_policy="never")).build_command(spec)
    assert argv == [
        "docker",
        "run",
        "--rm",
        "--pull=never",
        "--name",
        NAME,
        "--platform",
        "linux/amd64",
        *LABELS,
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
        IMAGE,
        "sh",
        "-c",
        "echo $HOME; exit 3",
    ]
    assert argv == DockerEngine(DockerOptions(pull_policy="never")).build_command(spec)


def test_minimal_spec_and_options_placement() -> None:
    engine = DockerEngine(DockerOptions(binary="/opt/bin/docker", init=True, labels={"site": "x"}))
    spec = TaskSpec(task_id="x", name="rosetta-x", image="docker.io/library/busybox:1")
    assert engine.build_command(spec) == [
        "/opt/bin/docker",
        "run",
        "--rm",
        "--pull=missing",
        "--name",
        "rosetta-x",
        "--init",
        "--label",
        "rosetta.managed=1",
        "--label",
        "site=x",
        "docker.io/library/busybox:1",
    ]


def test_arch_variant_is_part_of_the_platform() -> None:
    argv = DockerEngine().build_command(full_spec(arch="arm64/v8"))
    assert argv[argv.index("--platform") + 1] == "linux/arm64/v8"


def test_spec_labels_cannot_unset_managed_and_win_over_the_sites() -> None:
    engine = DockerEngine(DockerOptions(labels={"rosetta-site": "a", "team": "site"}))
    labels = engine.labels_for(full_spec(labels={"rosetta.managed": "0", "team": "spec"}))
    assert labels["rosetta.managed"] == "1" and labels["team"] == "spec" and labels["rosetta-site"] == "a"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"env": {"A=B": "x"}}, "environment variable name"),
        ({"binds": (Bind(source="/a:b", target="/in"),)}, "bind path"),
        ({"binds": (Bind(source="relative", target="/in"),)}, "bind path"),
        ({"image": "--privileged"}, "not an image reference"),
        ({"image": "busybox latest"}, "not an image reference"),
        ({"name": "-rm"}, "cannot name a docker container"),
        ({"name": "../images"}, "cannot name a docker container"),
        ({"labels": {"a=b": "c"}}, "cannot be a label name"),
    ],
)
def test_unrepresentable_specs_are_refused(overrides: dict[str, Any], message: str) -> None:
    engine = DockerEngine()
    with pytest.raises(BackendError, match=message):
        engine.build_command(full_spec(**overrides))
    with pytest.raises(BackendError, match=message):
        engine.create_args(full_spec(**overrides))


# ---------------------------------------------------------------- API arguments


def test_create_args_golden() -> None:
    container, host = DockerEngine(DockerOptions(init=True)).create_args(full_spec())
    assert container == {
        "image": IMAGE,
        "command": ["sh", "-c", "echo $HOME; exit 3"],
        "name": NAME,
        "labels": {
            "rosetta.task": "0123abcd",
            "rosetta.owner": "ada",
            "rosetta.managed": "1",
            "rosetta.interface_port": "8080",
        },
        "environment": [f"ROSETTA_CONTRACT={HOSTILE}", "ZED=last"],
        "detach": True,
        "platform": "linux/amd64",
        "ports": ["8080/tcp"],
    }
    assert host == {
        "port_bindings": {"8080/tcp": ("127.0.0.1", None)},
        "binds": ["/data/in:/in:ro", "/data/out:/out"],
        "nano_cpus": 2_000_000_000,
        "mem_limit": "512m",
        "init": True,
    }


def test_create_args_of_a_minimal_spec_keep_the_images_command() -> None:
    spec = TaskSpec(task_id="x", name="rosetta-x", image=IMAGE)
    container, host = DockerEngine().create_args(spec)
    assert container["command"] is None and "ports" not in container and "platform" not in container
    assert host == {}


def test_the_sdk_turns_the_arguments_into_what_docker_run_would_send() -> None:
    # a real APIClient (never connected: a fixed API version) builds the request bodies
    api = docker.APIClient(base_url=NOWHERE, version="1.41")
    try:
        _, host = DockerEngine(DockerOptions(init=True)).create_args(full_spec())
        config = api.create_host_config(**host)
        assert config["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
        assert (config["NanoCpus"], config["Memory"], config["Init"]) == (2_000_000_000, 512 * 2**20, True)
        assert config["Binds"] == ["/data/in:/in:ro", "/data/out:/out"]
    finally:
        api.close()


# ---------------------------------------------------------------- start


def inspect_record(status: str, **state: Any) -> dict[str, Any]:
    return {
        "Name": f"/{NAME}",
        "State": {"Status": status, "ExitCode": 0, "Error": "", "OOMKilled": False, **state},
        "Config": {"Labels": {"rosetta.managed": "1", "rosetta.interface_port": "8080", "rosetta.task": "t"}},
        "NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "34917"}]}},
    }


def test_start_creates_then_starts_and_ignores_the_local_executor(
    engine_api: tuple[DockerEngine, Any],
) -> None:
    engine, api = engine_api
    spec = full_spec()
    local = sdk_executor()
    assert engine.start(spec, local) == NAME
    container, host = engine.create_args(spec)
    api.create_container.assert_called_once_with(**container, host_config={"host": host})
    api.start.assert_called_once_with(NAME)
    api.pull.assert_not_called()
    assert local.calls == []


def test_pull_never_refuses_a_missing_image_without_a_pull(engine_api: tuple[DockerEngine, Any]) -> None:
    engine, api = engine_api
    api.inspect_image.side_effect = docker.errors.ImageNotFound("No such image")
    with pytest.raises(BackendError, match=r"image localhost/nope:1 not found locally") as info:
        engine.start(full_spec(image="localhost/nope:1"), sdk_executor())
    assert not isinstance(info.value, BackendUnavailable)
    api.pull.assert_not_called()
    api.create_container.assert_not_called()


def test_pull_missing_pulls_for_the_specs_platform(fakes: Fakes) -> None:
    engine, api = make_engine(fakes, pull_policy="missing")
    api.inspect_image.side_effect = docker.errors.ImageNotFound("No such image")
    engine.start(full_spec(), sdk_executor())
    api.pull.assert_called_once_with(IMAGE, stream=True, decode=True, platform="linux/amd64")
    api.start.assert_called_once_with(NAME)


def test_pull_missing_keeps_a_local_image_of_the_right_architecture(fakes: Fakes) -> None:
    engine, api = make_engine(fakes, pull_policy="missing")
    engine.start(full_spec(), sdk_executor())
    api.pull.assert_not_called()
    api.inspect_image.return_value = {"Architecture": "amd64"}
    engine.start(full_spec(arch="arm64/v8"), sdk_executor())
    api.pull.assert_called_once_with(IMAGE, stream=True, decode=True, platform="linux/arm64/v8")


def test_pull_always_pulls_without_looking(fakes: Fakes) -> None:
    engine, api = make_engine(fakes, pull_policy="always")
    engine.start(full_spec(arch=None), sdk_executor())
    api.inspect_image.assert_not_called()
    api.pull.assert_called_once_with(IMAGE, stream=True, decode=True, platform=None)


def test_a_pull_that_fails_midway_is_a_readable_error(fakes: Fakes) -> None:
    engine, api = make_engine(fakes, pull_policy="always")
    api.pull.return_value = iter([{"status": "Pulling"}, {"error": "manifest unknown", "errorDetail": {}}])
    with pytest.raises(BackendError, match=r"cannot pull image .*: manifest unknown"):
        engine.start(full_spec(), sdk_executor())
    api.create_container.assert_not_called()
    api.pull.side_effect = api_error(404, "pull access denied for nope")
    with pytest.raises(BackendError, match="pull access denied"):
        engine.start(full_spec(), sdk_executor())


def test_start_of_an_existing_container_is_not_an_error(engine_api: tuple[DockerEngine, Any]) -> None:
    engine, api = engine_api
    api.create_container.side_effect = api_error(409, f'Conflict. The container name "/{NAME}" is in use')
    api.inspect_container.return_value = inspect_record("running")
    assert engine.start(full_spec(), sdk_executor()) == NAME
    api.start.assert_not_called()
    # an earlier attempt cut short between create and start: start it now
    api.inspect_container.return_value = inspect_record("created")
    assert engine.start(full_spec(), sdk_executor()) == NAME
    api.start.assert_called_once_with(NAME)


def test_a_foreign_container_on_the_name_is_refused(engine_api: tuple[DockerEngine, Any]) -> None:
    engine, api = engine_api
    api.create_container.side_effect = api_error(409, "Conflict.")
    api.inspect_container.return_value = {"State": {"Status": "running"}, "Config": {"Labels": {}}}
    with pytest.raises(BackendError, match="rosetta did not start it"):
        engine.start(full_spec(), sdk_executor())


def test_failed_start_says_why_and_removes_the_container(engine_api: tuple[DockerEngine, Any]) -> None:
    engine, api = engine_api
    api.start.side_effect = api_error(400, 'exec: "/no/such/program": no such file or directory')
    with pytest.raises(BackendError, match=r"cannot start container .*/no/such/program") as info:
        engine.start(full_spec(), sdk_executor())
    assert not isinstance(info.value, BackendUnavailable)
    api.remove_container.assert_called_once_with(NAME, force=True, v=True)


def test_start_without_an_answer_is_unavailable_and_removes(engine_api: tuple[DockerEngine, Any]) -> None:
    engine, api = engine_api
    api.start.side_effect = requests.exceptions.ReadTimeout("read timed out")
    with pytest.raises(BackendUnavailable, match="did not answer within 120 s"):
        engine.start(full_spec(), sdk_executor())
    api.remove_container.assert_called_once_with(NAME, force=True, v=True)


def test_refused_create_is_an_error(engine_api: tuple[DockerEngine, Any]) -> None:
    engine, api = engine_api
    api.create_container.side_effect = api_error(400, "invalid reference format")
    with pytest.raises(BackendError, match=r"cannot create container .*: invalid reference format") as info:
        engine.start(full_spec(), sdk_executor())
    assert not isinstance(info.value, BackendUnavailable)


# ---------------------------------------------------------------- poll, stop, logs, list


def test_poll_parses_inspect(engine_api: tuple[DockerEngine, Any]) -> None:
    engine, api = engine_api
    api.inspect_container.return_value = inspect_record("running")
    assert engine.poll(NAME, sdk_executor()).port == 34917
    api.inspect_container.assert_called_once_with(NAME)


def test_poll_no_such_container_is_gone(engine_api: tuple[DockerEngine, Any]) -> None:
    engine, api = engine_api
    api.inspect_container.side_effect = not_found()
    assert engine.poll(NAME, sdk_executor()).state is Observed.GONE


def test_poll_of_an_impossible_name_is_gone_without_asking(fakes: Fakes) -> None:
    engine = DockerEngine(client_factory=fakes.factory)
    assert engine.poll("../images/json", sdk_executor()).state is Observed.GONE
    assert fakes.clients == []


@pytest.mark.parametrize(
    ("raised", "message"),
    [
        (api_error(500, "database is locked"), "database is locked"),
        (requests.exceptions.ReadTimeout("timed out"), "did not answer within 120 s"),
        (
            requests.exceptions.ConnectionError(ConnectionRefusedError(111, "Connection refused")),
            r"cannot reach the daemon at .*: Connection refused",
        ),
    ],
)
def test_poll_that_gets_no_answer_is_unavailable(
    engine_api: tuple[DockerEngine, Any], raised: Exception, message: str
) -> None:
    engine, api = engine_api
    api.inspect_container.side_effect = raised
    with pytest.raises(BackendUnavailable, match=message) as info:
        engine.poll(NAME, sdk_executor())
    assert info.value.__cause__ is raised
    assert str(info.value).startswith("docker: cannot inspect container")


def test_a_lost_daemon_drops_the_client_and_the_next_call_connects_again(
    engine_api: tuple[DockerEngine, Any], fakes: Fakes
) -> None:
    engine, api = engine_api
    api.containers.side_effect = requests.exceptions.ConnectionError("Connection aborted.")
    with pytest.raises(BackendUnavailable):
        engine.list_handles(sdk_executor())
    api.close.assert_called_once_with()
    assert engine.list_handles(sdk_executor()) == []
    assert len(fakes.clients) == 2


def test_stop_stops_then_removes_and_tolerates_gone(engine_api: tuple[DockerEngine, Any]) -> None:
    engine, api = engine_api
    engine.stop(NAME, sdk_executor())
    api.stop.assert_called_once_with(NAME, timeout=5)
    api.remove_container.assert_called_once_with(NAME, force=True, v=True)
    api.stop.side_effect = not_found()
    engine.stop(NAME, sdk_executor())
    api.stop.side_effect = None
    api.remove_container.side_effect = not_found()
    engine.stop(NAME, sdk_executor())
    api.remove_container.side_effect = api_error(409, f"removal of container {NAME} is already in progress")
    engine.stop(NAME, sdk_executor())


def test_stop_timeout_zero_kills_at_once(fakes: Fakes) -> None:
    engine, api = make_engine(fakes, stop_timeout=0)
    engine.stop(NAME, sdk_executor())
    api.stop.assert_not_called()
    api.remove_container.assert_called_once_with(NAME, force=True, v=True)


def test_stop_failure_is_an_error(engine_api: tuple[DockerEngine, Any]) -> None:
    engine, api = engine_api
    api.stop.side_effect = api_error(500, "cannot kill container: permission denied")
    api.remove_container.side_effect = api_error(500, "cannot remove container: permission denied")
    with pytest.raises(
        BackendError, match=r"cannot remove container .*: cannot remove container: permission"
    ):
        engine.stop(NAME, sdk_executor())
    api.stop.side_effect = requests.exceptions.ConnectionError("gone")
    with pytest.raises(BackendUnavailable, match="cannot stop container"):
        engine.stop(NAME, sdk_executor())


def test_logs_are_merged_text_of_the_last_lines(engine_api: tuple[DockerEngine, Any]) -> None:
    engine, api = engine_api
    api.logs.return_value = b"out1\nerr1\nout2\n"
    assert engine.logs(NAME, sdk_executor(), tail=2) == "err1\nout2\n"
    api.logs.assert_called_once_with(NAME, stdout=True, stderr=True, tail=2)


def test_logs_of_a_gone_container_are_empty(engine_api: tuple[DockerEngine, Any]) -> None:
    engine, api = engine_api
    api.logs.side_effect = not_found()
    assert engine.logs(NAME, sdk_executor()) == ""
    assert engine.logs(NAME, sdk_executor(), tail=0) == ""
    assert api.logs.call_count == 1
    api.logs.side_effect = api_error(501, "configured logging driver does not support reading")
    with pytest.raises(BackendError, match="does not support reading"):
        engine.logs(NAME, sdk_executor())


def test_list_handles_keeps_platform_names(engine_api: tuple[DockerEngine, Any]) -> None:
    engine, api = engine_api
    api.containers.return_value = [
        {"Names": ["/rosetta-b"]},
        {"Names": ["/someone-else"]},
        {"Names": ["/rosetta-a"]},
        {"Names": None},
    ]
    assert engine.list_handles(sdk_executor()) == ["rosetta-a", "rosetta-b"]
    api.containers.assert_called_once_with(all=True, filters={"label": "rosetta.managed=1"})


def test_list_handles_failure_is_unavailable(engine_api: tuple[DockerEngine, Any]) -> None:
    engine, api = engine_api
    api.containers.side_effect = api_error(500, "daemon is shutting down")
    with pytest.raises(BackendUnavailable, match="shutting down"):
        engine.list_handles(sdk_executor())


# ---------------------------------------------------------------- connecting


def test_the_client_is_made_on_first_use_and_closed(fakes: Fakes) -> None:
    engine = DockerEngine(client_factory=fakes.factory)
    assert fakes.clients == []
    engine.list_handles(sdk_executor())
    engine.list_handles(sdk_executor())
    assert len(fakes.clients) == 1
    engine.close()
    fakes.api.close.assert_called_once_with()
    engine.close()


def test_daemon_url_prefers_the_option_then_docker_host() -> None:
    assert (
        daemon_url(DockerOptions(base_url="ssh://ada@hpc"), {"DOCKER_HOST": "tcp://x:2375"})
        == "ssh://ada@hpc"
    )
    assert daemon_url(DockerOptions(), {"DOCKER_HOST": "tcp://x:2375"}) == "tcp://x:2375"
    assert daemon_url(DockerOptions(), {}) == DEFAULT_URL == "unix:///var/run/docker.sock"


def test_no_daemon_at_a_socket_path_is_unavailable() -> None:
    with pytest.raises(BackendUnavailable, match=f"cannot reach the daemon at {NOWHERE}: No such file"):
        connect(DockerOptions(base_url=NOWHERE))


def test_no_daemon_at_a_tcp_port_is_unavailable() -> None:
    # the SDK asks the daemon's API version while it builds the client: that failure is translated
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(BackendUnavailable, match=rf"at tcp://127\.0\.0\.1:{port}: Connection refused"):
        connect(DockerOptions(base_url=f"tcp://127.0.0.1:{port}", timeout=5))


def test_a_docker_host_the_sdk_cannot_parse_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:notaport")
    with pytest.raises(BackendError, match=r"cannot use the daemon at tcp://127\.0\.0\.1:notaport") as info:
        connect(DockerOptions())
    assert not isinstance(info.value, BackendUnavailable)


@pytest.fixture
def dead_socket(tmp_path: Path) -> Iterator[str]:
    """A socket file that refuses connections (a daemon that died without cleaning up)."""
    path = tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
    yield f"unix://{path}"


def test_a_refusing_socket_is_unavailable(dead_socket: str) -> None:
    engine = DockerEngine(DockerOptions(base_url=dead_socket))
    with pytest.raises(BackendUnavailable, match="Connection refused; is dockerd running"):
        engine.poll(NAME, sdk_executor())
    with pytest.raises(BackendUnavailable):
        engine.start(full_spec(), sdk_executor())
    engine.close()


# ---------------------------------------------------------------- plugin and options


def test_entry_point_is_installed() -> None:
    (entry,) = [e for e in importlib.metadata.entry_points(group="rosetta") if e.name == "docker"]
    assert entry.load() is rosetta_docker.plugin


def test_kernel_registers_the_engine_with_site_options(rosetta_kernel_factory: Callable[..., Kernel]) -> None:
    kernel = rosetta_kernel_factory(
        {"docker": rosetta_docker.plugin},
        plugin_options={
            "docker": {
                "base_url": "ssh://ada@hpc.example.org",
                "pull_policy": "never",
                "timeout": 30,
                "stop_timeout": 0,
                "init": True,
                "labels": {"site": "here"},
            }
        },
    )
    assert kernel.plugin_registrations("docker") == {"engines": ["docker"], "options": ["DockerOptions"]}
    lazy = kernel.engines.get("docker")
    assert isinstance(lazy, ContainerEngine) and isinstance(lazy, LazyDockerEngine)
    engine = lazy.engine  # the real engine, built on first use
    assert isinstance(engine, DockerEngine)
    assert engine.options == DockerOptions(
        base_url="ssh://ada@hpc.example.org",
        pull_policy="never",
        timeout=30.0,
        stop_timeout=0,
        init=True,
        labels={"site": "here"},
    )
    assert engine._client is None  # nothing was asked of a daemon


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ({"pull_policy": "newer"}, "$.plugin.docker.pull_policy"),
        ({"timeout": 0}, "$.plugin.docker.timeout"),
        ({"stop_timeout": 1.5}, "$.plugin.docker.stop_timeout"),
        ({"base_url": "/var/run/docker.sock"}, "$.plugin.docker.base_url"),
        ({"base_url": "tcp://127.0.0.1:notaport"}, "$.plugin.docker.base_url"),
        ({"base_url": "https://no-port"}, "$.plugin.docker.base_url"),
        ({"base_url": "unix://"}, "$.plugin.docker.base_url"),
        ({"init": "yes"}, "$.plugin.docker.init"),
        ({"labels": {"rosetta.managed": "0"}}, "$.plugin.docker.labels"),
        ({"labels": ["a=b"]}, "$.plugin.docker.labels"),
        ({"binary": ""}, "$.plugin.docker.binary"),
        ({"registry": "x"}, "$.plugin.docker.registry"),
    ],
)
def test_bad_options_stop_start_up_naming_the_field(
    rosetta_kernel_factory: Callable[..., Kernel], section: dict[str, Any], path: str
) -> None:
    with pytest.raises(ConfigError, match=path.replace("$", r"\$")):
        rosetta_kernel_factory({"docker": rosetta_docker.plugin}, plugin_options={"docker": section})


def test_shutdown_closes_the_client(rosetta_kernel_factory: Callable[..., Kernel], fakes: Fakes) -> None:
    kernel = rosetta_kernel_factory({"docker": rosetta_docker.plugin})
    lazy = kernel.engines.get("docker")
    assert isinstance(lazy, LazyDockerEngine)
    engine = lazy.engine
    engine._factory = fakes.factory
    engine.list_handles(sdk_executor())
    kernel.close()
    fakes.api.close.assert_called_once_with()


def test_an_unreachable_daemon_fails_new_tasks_and_leaves_running_ones_unknown(
    rosetta_kernel_factory: Callable[..., Kernel],
) -> None:
    # start-up does not ask the daemon
    kernel = rosetta_kernel_factory(
        {"docker": rosetta_docker.plugin}, plugin_options={"docker": {"base_url": NOWHERE}}
    )
    kernel.store.add(Software(name="bb", image="testbed-busybox", registry="localhost", interface_port=8080))
    kernel.store.add(Computing(name="here", engines=("docker",)))
    task = kernel.orchestrator.run_task(owner="ada", software="bb", computing="here")
    # a new task fails at once, naming the engine and the cause
    assert task.status is TaskStatus.FAILED, task
    assert task.error is not None and task.error.startswith("engine 'docker' is not available")
    assert f"cannot reach the daemon at {NOWHERE}" in task.error
    # a task that was running when the daemon went away is unknown, never failed
    running = kernel.orchestrator.create_task(owner="ada", software="bb", computing="here")
    kernel.store.transition(running.id, TaskStatus.CREATED, TaskStatus.QUEUED)
    kernel.store.transition(
        running.id, TaskStatus.QUEUED, TaskStatus.STARTING, handle=f"rosetta-{running.id}"
    )
    kernel.store.transition(running.id, TaskStatus.STARTING, TaskStatus.RUNNING)
    report = kernel.orchestrator.reconcile()
    assert kernel.store.get_task(running.id).status is TaskStatus.UNKNOWN
    assert any("cannot reach the daemon" in error for error in report.errors) or report.unknown == 1
    engine = kernel.engines.get("docker")
    executor = kernel.executor_for(kernel.store.get(Computing, "here"))
    with pytest.raises(BackendUnavailable, match=f"cannot reach the daemon at {NOWHERE}"):
        engine.poll(f"rosetta-{running.id}", executor)


def test_the_plugin_does_not_import_the_sdk() -> None:
    # kernel start-up must not pay for the docker SDK (and paramiko) until the engine is used
    import subprocess
    import sys

    code = (
        "import sys, rosetta_docker.plugin; "
        "print('docker' in sys.modules, 'rosetta_docker.engine' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
