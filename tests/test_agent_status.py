"""Agent reports: parsed strictly; they complete the scheduler's observations."""

from __future__ import annotations

import json

import pytest

from rosetta_core.agent.status import AgentStatus, parse_status
from rosetta_core.engines import Observation, Observed


def report(**fields: object) -> str:
    return json.dumps({"task": "t1", "state": "running", "host": "node1", "port": 40000, **fields})


def test_a_running_report() -> None:
    status = parse_status(report(node="node1"), "t1")
    assert status == AgentStatus(task="t1", state="running", host="node1", port=40000, node="node1")


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        report(task="other"),
        report(state="dancing"),
        report(port=0),
        report(port=70000),
        report(port="40000"),
        report(port=True),
        report(exit_code="1"),
        report(host=""),
        report(host="a\nb"),
        report(host="x" * 300),
        b"\xff\xfe",
    ],
)
def test_anything_malformed_or_for_another_task_is_ignored(text: str | bytes) -> None:
    assert parse_status(text, "t1") is None


def test_refine_adds_the_address_only_when_the_agent_knows_it() -> None:
    running = Observation(state=Observed.RUNNING, host="node1")
    known = AgentStatus(task="t1", state="running", host="127.0.0.1", port=40000)
    assert known.refine(running) == Observation(state=Observed.RUNNING, host="127.0.0.1", port=40000)
    starting = AgentStatus(task="t1", state="starting")
    assert starting.refine(Observation(state=Observed.RUNNING, port=1)).port is None


def test_refine_takes_the_containers_exit_code() -> None:
    ended = AgentStatus(task="t1", state="exited", exit_code=3)
    assert ended.refine(Observation(state=Observed.EXITED, exit_code=0)) == Observation(
        state=Observed.FAILED, exit_code=3
    )
    ok = AgentStatus(task="t1", state="exited", exit_code=0)
    assert ok.refine(Observation(state=Observed.EXITED)).state is Observed.EXITED
    pending = Observation(state=Observed.PENDING)
    assert ended.refine(pending) is pending
