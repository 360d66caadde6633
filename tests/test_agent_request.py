"""The agent's request and launcher: one argv entry of JSON, and a source that runs on Python 3.6."""

from __future__ import annotations

import ast
import json
import sys

from rosetta_core.agent.request import AGENT_SOURCE, AgentRequest, launch_argv, status_path
from rosetta_core.testing.contracts import HOSTILE


def request(**changes: object) -> AgentRequest:
    fields: dict[str, object] = {
        "task": "t1",
        "name": "rosetta-t1",
        "engine": "podman",
        "argv": ("podman", "run", "--rm", "-e", f"X={HOSTILE}", "img"),
        "status": "/home/ada/.rosetta/agent/rosetta-t1.json",
        "port": 8080,
    }
    fields.update(changes)
    return AgentRequest(**fields)  # type: ignore[arg-type]


def test_the_request_is_one_json_argument() -> None:
    argv = launch_argv(request(), python="/usr/bin/python3")
    assert argv[:3] == ["/usr/bin/python3", "-c", AGENT_SOURCE] and len(argv) == 4
    data = json.loads(argv[3])
    assert data["argv"] == ["podman", "run", "--rm", "-e", f"X={HOSTILE}", "img"]
    assert data["callback"] is None and data["port"] == 8080 and data["bind"] == "127.0.0.1"


def test_the_callback_carries_the_secret_but_the_repr_does_not() -> None:
    req = request(callback_url="https://platform.example.org/agent", callback_secret="s3cret")
    assert json.loads(req.to_json())["callback"] == {
        "url": "https://platform.example.org/agent",
        "secret": "s3cret",
    }
    assert "s3cret" not in repr(req)


def test_the_agent_is_python_36_and_standard_library_only() -> None:
    tree = ast.parse(AGENT_SOURCE, feature_version=(3, 6))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.module is not None and node.level == 0
            imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
    assert "__future__" not in imported  # "annotations" does not exist on 3.6


def test_status_files_live_under_the_accounts_home() -> None:
    assert status_path("/home/ada/", "rosetta-t1") == "/home/ada/.rosetta/agent/rosetta-t1.json"
