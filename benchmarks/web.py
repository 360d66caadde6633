"""Web front benchmark: listing a user's 1,000 tasks through the API and the tasks page.

Run: ``.venv/bin/python benchmarks/web.py [--tasks 1000] [--requests 50]``

A store holds ``--tasks`` tasks of one user (every status, handles, interfaces, a few option
sets, as a busy user has them), written with ``Store.add_tasks``. In process, through Starlette's
``TestClient`` (no network: what is measured is the front's own time, from the request to the
whole body), ``GET /api/v1/tasks`` with an API token and the ``GET /tasks`` page with a session
cookie are each asked ``--requests`` times after a warm-up. Prints p50 and p95 of each, the
target (p50 < 50 ms), and the ratio of the p50 to the baseline measured in the same run: the
kernel's own ``store.list_tasks(owner=...)`` of the same tasks, which every listing has to pay.
Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from starlette.testclient import TestClient

import rosetta_auth_local.plugin
import rosetta_web.plugin
from rosetta_auth_local import create_api_token, start_session
from rosetta_auth_local import sign_up as sign_up_user
from rosetta_core import hookimpl
from rosetta_core.config import parse_config
from rosetta_core.kernel import create_kernel
from rosetta_core.model import Computing, Software, Task, TaskOptions, TaskStatus
from rosetta_core.testing import FakeEngine
from rosetta_web.app import create_app
from rosetta_web.auth import SESSION_COOKIE

TARGET = 0.050
OWNER = "ada"
PASSWORD = "a long benchmark password"


class EnginePlugin:
    @hookimpl
    def rosetta_register_engines(self, register: Callable[[str, Any], None]) -> None:
        register("fake", FakeEngine())


PLUGINS = {"auth-local": rosetta_auth_local.plugin, "web": rosetta_web.plugin, "bench": EnginePlugin()}


def make_tasks(count: int) -> list[Task]:
    """``count`` tasks of :data:`OWNER`: every status, handles, interfaces, a few option sets."""
    statuses = list(TaskStatus)
    option_sets = [TaskOptions(), TaskOptions(cpus=2), TaskOptions(cpus=4, memory_mb=8192)]
    tasks = []
    for i in range(count):
        task = Task(
            name=f"task-{i}",
            owner=OWNER,
            software="lab",
            computing="here",
            options=option_sets[i % len(option_sets)],
        )
        status = statuses[i % len(statuses)]
        extra: dict[str, object] = {"engine": "fake"}
        if status is not TaskStatus.CREATED:
            extra["handle"] = f"rosetta-{task.id}"
        if status is TaskStatus.RUNNING:
            extra.update(interface_host="127.0.0.1", interface_port=20000 + i % 40000)
        if status in (TaskStatus.EXITED, TaskStatus.FAILED):
            extra.update(exit_code=0 if status is TaskStatus.EXITED else 1)
        if status is TaskStatus.FAILED:
            extra["error"] = "exited with code 1"
        tasks.append(attrs.evolve(task, status=status, **extra))  # type: ignore[arg-type]
    return tasks


def timings(requests: int, call: Callable[[], Any]) -> list[float]:
    """Seconds of each of ``requests`` calls, after three not counted (warm caches, imports)."""
    for _ in range(3):
        call()
    times = []
    for _ in range(requests):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return times


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    rows: list[tuple[str, list[float], bool]] = []
    with tempfile.TemporaryDirectory() as tmp:
        config = parse_config({"rosetta": {"store": str(Path(tmp) / "s.sqlite")}})
        with create_kernel(config, plugins=PLUGINS) as kernel:
            kernel.start(reconcile=False)
            kernel.store.add(Computing(name="here", engines=("fake",)))
            kernel.store.add(Software(name="lab", image="jupyter/lab", interface_port=8888))
            user = sign_up_user(kernel, OWNER, PASSWORD)
            kernel.store.add_tasks(make_tasks(args.tasks))
            token = create_api_token(kernel, user, "benchmark")
            session, _csrf = start_session(kernel, user)
            with TestClient(create_app(kernel), follow_redirects=False) as client:
                bearer = {"Authorization": f"Bearer {token}"}
                assert len(client.get("/api/v1/tasks", headers=bearer).json()["tasks"]) == args.tasks

                def api() -> None:
                    # the body is not parsed here: that would be the client's time, not the front's
                    assert client.get("/api/v1/tasks", headers=bearer).status_code == 200

                rows.append((f"GET /api/v1/tasks, {args.tasks} tasks", timings(args.requests, api), True))
                client.cookies.set(SESSION_COOKIE, session)
                if client.get("/tasks").status_code == 200:

                    def page() -> None:
                        assert client.get("/tasks").status_code == 200

                    rows.append(
                        (f"GET /tasks (page), {args.tasks} tasks", timings(args.requests, page), True)
                    )
                else:
                    print("(no /tasks page in this build: only the API is measured)")
            baseline = timings(args.requests, lambda: kernel.store.list_tasks(owner=OWNER))
    base = statistics.median(baseline)
    failed = 0
    print(f"{'measurement':40} {'p50':>9} {'p95':>9} {'target':>9} {'ratio':>7}")
    for label, times, targeted in rows:
        p50 = statistics.median(times)
        ok = not targeted or p50 < TARGET
        failed += not ok
        print(
            f"{label:40} {p50 * 1000:6.1f} ms {p95(times) * 1000:6.1f} ms {f'< {TARGET * 1000:.0f} ms':>9} "
            f"{p50 / base:6.2f}x{'' if ok else '  MISSED'}"
        )
    print(
        f"{'baseline: store.list_tasks(owner=...)':40} {base * 1000:6.1f} ms {p95(baseline) * 1000:6.1f} ms "
        f"{'-':>9} {1:6.2f}x"
    )
    print(f"({args.requests} requests each, in process; p50 is the median)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
