"""Handles: known before the backend acts, and recognisable afterwards."""

from __future__ import annotations

from rosetta_core.engines import HANDLE_PREFIX, handle_for, task_id_of
from rosetta_core.model import new_id


def test_handle_round_trip() -> None:
    task_id = new_id()
    assert handle_for(task_id).startswith(HANDLE_PREFIX)
    assert task_id_of(handle_for(task_id)) == task_id
    assert task_id_of("someone-elses-container") is None
