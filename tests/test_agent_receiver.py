"""Agent reports over HTTP: a signed report moves its task; anything else is refused, changing nothing."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conftest import add_defaults
from rosetta_core import hookimpl
from rosetta_core.agent.receiver import ReportServer
from rosetta_core.agent.reports import signature, task_secret
from rosetta_core.engines import Observation, Observed
from rosetta_core.kernel import Kernel
from rosetta_core.model import ComputingKind, Task, TaskStatus
from rosetta_core.testing import FakeEngine, FakeWorkloadManager


class Plugin:
    def __init__(self) -> None:
        self.wm = FakeWorkloadManager()

    @hookimpl
    def rosetta_register_engines(self, register: Callable[[str, Any], None]) -> None:
        register("fake", FakeEngine())

    @hookimpl
    def rosetta_register_workload_managers(self, register: Callable[[str, Any], None]) -> None:
        register("fakebatch", self.wm)


@pytest.fixture
def kernel(rosetta_kernel_factory: Callable[..., Kernel]) -> Kernel:
    kernel = rosetta_kernel_factory([Plugin()])
    add_defaults(kernel, workload_manager="fakebatch", kind=ComputingKind.CLUSTER)
    return kernel


@pytest.fixture
def server(kernel: Kernel) -> Iterator[str]:
    receiver = ReportServer(kernel, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{receiver.address[1]}/agent"
    receiver.close()


def starting_task(kernel: Kernel, wm: FakeWorkloadManager | None = None) -> Task:
    task = kernel.orchestrator.run_task(owner="ada", software="web", computing="box")
    task = kernel.orchestrator.apply(task, Observation(state=Observed.RUNNING), batch=True)
    assert task.status is TaskStatus.STARTING
    return task


def post(url: str, task: str, report: dict[str, Any], *, key_task: str | None = None,
         secret: str = "", nonce: str | None = None) -> int:  # fmt: skip
    body = json.dumps({"task": task, **report}).encode()
    stamp, nonce = str(int(time.time())), nonce or uuid.uuid4().hex
    headers = {
        "X-Rosetta-Task": task,
        "X-Rosetta-Timestamp": stamp,
        "X-Rosetta-Nonce": nonce,
        "X-Rosetta-Signature": signature(task_secret(secret, key_task or task), task, stamp, nonce, body),
    }
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def test_a_signed_report_gives_the_task_its_address(kernel: Kernel, server: str) -> None:
    task = starting_task(kernel)
    code = post(server, task.id, {"state": "running", "host": "node7", "port": 40123}, secret=kernel.secret)
    assert code == 204
    got = kernel.store.get_task(task.id)
    assert (got.status, got.interface_host, got.interface_port) == (TaskStatus.RUNNING, "node7", 40123)
    ended = post(
        server, task.id, {"state": "exited", "exit_code": 3, "reason": "failed"}, secret=kernel.secret
    )
    assert ended == 204 and kernel.store.get_task(task.id).status is TaskStatus.FAILED


def test_forged_replayed_and_foreign_reports_change_nothing(kernel: Kernel, server: str) -> None:
    mine, other = starting_task(kernel), starting_task(kernel)
    running = {"state": "running", "host": "evil", "port": 4444}
    assert post(server, mine.id, running, secret="not-the-platform-secret") == 403
    assert post(server, mine.id, running, secret=kernel.secret, key_task=other.id) == 403  # other's key
    assert post(server, "0" * 32, running, secret=kernel.secret) == 403  # no such task
    assert kernel.store.get_task(mine.id).status is TaskStatus.STARTING
    assert post(server, mine.id, running, secret=kernel.secret, nonce="n1") == 204
    kernel.store.update_task(mine.id, interface_host="node1", interface_port=1)
    assert post(server, mine.id, running, secret=kernel.secret, nonce="n1") == 403  # replayed
    assert kernel.store.get_task(mine.id).interface_port == 1
    assert kernel.store.get_task(other.id).status is TaskStatus.STARTING


def test_unsigned_and_oversized_bodies_are_refused(kernel: Kernel, server: str) -> None:
    plain = urllib.request.Request(server, data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(plain, timeout=10)
    assert refused.value.code == 403 and b"unsigned" in refused.value.read()
    refused.value.close()
    big = urllib.request.Request(server, data=b"x" * (65 * 1024), method="POST")
    with pytest.raises(urllib.error.HTTPError) as too_big:
        urllib.request.urlopen(big, timeout=10)
    assert too_big.value.code == 413
    too_big.value.close()
