"""What docker reports, read into the engine's terms: inspect records, logs, pull output, names.

Pure: the same records come from the SDK and from ``docker container inspect``.
"""

from __future__ import annotations

from typing import Any

import pytest

from rosetta_core.engines import Observed
from rosetta_core.errors import BackendError, BackendUnavailable
from rosetta_docker.records import (
    container_names,
    inspect_list,
    last_lines,
    merge_logs,
    parse_inspect,
    pull_needed,
    pull_output_lines,
    same_arch,
)

NAME = "rosetta-0123abcd"

# ---------------------------------------------------------------- inspect records


def inspect_record(status: str, **state: Any) -> dict[str, Any]:
    return {
        "Name": f"/{NAME}",
        "State": {"Status": status, "ExitCode": 0, "Error": "", "OOMKilled": False, **state},
        "Config": {"Labels": {"rosetta.managed": "1", "rosetta.interface_port": "8080", "rosetta.task": "t"}},
        "NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "34917"}]}},
    }


@pytest.mark.parametrize("status", ["running", "paused"])
def test_running_reports_the_published_port_and_the_labels(status: str) -> None:
    obs = parse_inspect(inspect_record(status))
    assert (obs.state, obs.host, obs.port) == (Observed.RUNNING, "127.0.0.1", 34917)
    assert obs.labels["rosetta.task"] == "t"


def test_running_without_interface_has_no_port() -> None:
    record = inspect_record("running")
    record["Config"]["Labels"] = {"rosetta.managed": "1"}
    obs = parse_inspect(record)
    assert (obs.state, obs.host, obs.port) == (Observed.RUNNING, "127.0.0.1", None)


@pytest.mark.parametrize("ports", [None, {}, {"8080/tcp": None}, {"8080/tcp": [{"HostPort": "x"}]}])
def test_running_without_a_binding_yet_has_no_port(ports: Any) -> None:
    record = inspect_record("running")
    record["NetworkSettings"]["Ports"] = ports
    assert parse_inspect(record).port is None


def test_wildcard_binding_is_reached_on_loopback() -> None:
    record = inspect_record("running")
    record["NetworkSettings"]["Ports"]["8080/tcp"] = [{"HostIp": "0.0.0.0", "HostPort": "40000"}]
    assert (parse_inspect(record).host, parse_inspect(record).port) == ("127.0.0.1", 40000)


@pytest.mark.parametrize("status", ["exited", "dead"])
def test_exit_code_is_reported_whatever_it_is(status: str) -> None:
    obs = parse_inspect(inspect_record(status, ExitCode=3))
    assert (obs.state, obs.exit_code, obs.detail) == (Observed.EXITED, 3, "exited with code 3")


def test_out_of_memory_and_errors_are_said() -> None:
    obs = parse_inspect(inspect_record("exited", ExitCode=137, OOMKilled=True))
    assert (obs.state, obs.exit_code) == (Observed.EXITED, 137)
    assert "memory" in obs.detail
    obs = parse_inspect(inspect_record("exited", ExitCode=128, Error="mount failed"))
    assert obs.detail == "mount failed"


@pytest.mark.parametrize("status", ["created", "restarting"])
def test_not_running_yet_is_pending(status: str) -> None:
    assert parse_inspect(inspect_record(status)).state is Observed.PENDING


def test_created_with_an_error_failed() -> None:
    obs = parse_inspect(inspect_record("created", Error="OCI runtime error"))
    assert (obs.state, obs.detail) == (Observed.FAILED, "OCI runtime error")


def test_odd_status_is_unknown_and_garbage_unavailable() -> None:
    assert parse_inspect(inspect_record("mystery")).state is Observed.UNKNOWN
    for garbage in ("not a record", {}, {"State": "running"}, None):
        with pytest.raises(BackendUnavailable):
            parse_inspect(garbage)


def test_last_lines_keeps_the_tail_and_decodes_what_it_can() -> None:
    assert last_lines(b"a\nb\r\nc", 2) == "b\nc\n"
    assert last_lines(b"\xff\xfeok\n", 5) == "\ufffd\ufffdok\n"
    assert last_lines(b"a\n", 0) == "" and last_lines(b"", 3) == ""


def test_inspect_list_gives_the_first_record_or_none() -> None:
    assert inspect_list('[{"Id": "a"}, {"Id": "b"}]', "x") == {"Id": "a"}
    assert inspect_list("[]\n", "x") is None
    for garbage in ("", "not json", '{"Id": "a"}'):
        with pytest.raises(BackendUnavailable, match=r"^docker: cannot inspect: docker printed"):
            inspect_list(garbage, "cannot inspect")


@pytest.mark.parametrize(
    ("image", "arch", "same"),
    [
        ({"Architecture": "amd64"}, None, True),
        ({"Architecture": "amd64"}, "amd64", True),
        ({"Architecture": "amd64"}, "arm64", False),
        ({"Architecture": "arm64", "Variant": "v8"}, "arm64/v8", True),
        ({"Architecture": "arm64"}, "arm64/v8", True),
        ({"Architecture": "arm", "Variant": "v6"}, "arm/v7", False),
    ],
)
def test_same_arch(image: dict[str, str], arch: str | None, same: bool) -> None:
    assert same_arch(image, arch) is same


# ---------------------------------------------------------------- docker logs --timestamps


def test_merge_logs_interleaves_the_streams_by_time_and_keeps_the_tail() -> None:
    stdout = (
        "2026-11-25T06:36:13.760880464Z out1\n2026-11-25T06:36:13.862192987Z partial\n2026-11-25T06:36:14Z \n"
    )
    stderr = "2026-11-25T06:36:13.760999671Z err1\n2026-11-25T06:36:13.862354818Z err2\n"
    assert merge_logs(stdout, stderr, 10) == "out1\nerr1\npartial\nerr2\n\n"
    assert merge_logs(stdout, stderr, 2) == "err2\n\n"
    assert merge_logs(stdout, stderr, 0) == "" and merge_logs("", "", 5) == ""


def test_merge_logs_reads_offsets_and_keeps_what_the_container_wrote() -> None:
    # 06:00:01+02:00 is 04:00:01Z: earlier than the stdout line
    stdout = "2026-11-25T04:00:02.5Z a b  c\r\n"
    stderr = "2026-11-25T06:00:01.000000001+02:00 $(id) `x`\n"
    assert merge_logs(stdout, stderr, 5) == "$(id) `x`\na b  c\n"


# ---------------------------------------------------------------- docker pull and docker ps


def test_pull_output_lines_leave_out_the_bare_reference() -> None:
    stdout = (
        "latest: Pulling from testbed/busybox\n46bbfdf5c16b: Pull complete\n"
        "Digest: sha256:771c\nStatus: Downloaded newer image for 127.0.0.1:5000/testbed/busybox:latest\n"
        "127.0.0.1:5000/testbed/busybox:latest\n"
    )
    assert pull_output_lines(stdout) == [
        "latest: Pulling from testbed/busybox",
        "46bbfdf5c16b: Pull complete",
        "Digest: sha256:771c",
        "Status: Downloaded newer image for 127.0.0.1:5000/testbed/busybox:latest",
    ]


def test_container_names_split_lines_and_links() -> None:
    assert container_names("rosetta-a\nrosetta-b,other/alias\n\n") == [
        "rosetta-a",
        "rosetta-b",
        "other/alias",
    ]


@pytest.mark.parametrize(
    ("policy", "image", "arch", "pull"),
    [
        ("always", {"Architecture": "amd64"}, None, True),
        ("never", {"Architecture": "amd64"}, "arm64", False),
        ("missing", None, None, True),
        ("missing", {"Architecture": "amd64"}, None, False),
        ("missing", {"Architecture": "amd64"}, "arm64", True),
    ],
)
def test_pull_needed_follows_the_policy(
    policy: str, image: dict[str, str] | None, arch: str | None, pull: bool
) -> None:
    assert pull_needed(policy, image, "localhost/x:1", arch) is pull


def test_never_without_a_local_image_is_an_error() -> None:
    with pytest.raises(BackendError, match="not found locally, and pull_policy is 'never'"):
        pull_needed("never", None, "localhost/x:1", None)
