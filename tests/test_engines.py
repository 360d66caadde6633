"""Handles: known before the backend acts, and recognisable afterwards."""

from __future__ import annotations

from rosetta_core.engines import HANDLE_PREFIX, handle_for, task_id_of
from rosetta_core.model import new_id


def test_handle_round_trip() -> None:
    task_id = new_id()
    assert handle_for(task_id).startswith(HANDLE_PREFIX)
    assert task_id_of(handle_for(task_id)) == task_id
    assert task_id_of("someone-elses-container") is None


def test_published_address() -> None:
    from rosetta_core.engines import published_address

    ports = {
        "8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "40001"}],
        "22/tcp": [{"HostIp": "10.0.0.5", "HostPort": "2"}],
    }
    assert published_address(ports, 8080) == ("127.0.0.1", 40001)
    assert published_address(ports, "22") == ("10.0.0.5", 2)
    assert published_address(ports, 9999) == ("127.0.0.1", None)
    assert published_address(None, 8080) == ("127.0.0.1", None)
    assert published_address({"8080/tcp": [{"HostPort": "99999"}]}, 8080) == ("127.0.0.1", None)
