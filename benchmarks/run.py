"""Kernel benchmarks. Run: ``.venv/bin/python benchmarks/run.py`` (``--quick`` for fewer repeats).

Prints, for each measurement, the median of several runs, the target, and the ratio to a baseline
measured in the same run on the same machine:

- kernel start-up with every installed plugin of this repository, in a fresh process (imports
  included), against a bare ``python -c pass``; target < 0.3 s;
- the same start-up inside a warm process;
- writing 10,000 tasks (one transaction) against plain ``sqlite3.executemany`` of the same rows;
- listing 10,000 tasks as model records (every status, handles, interfaces, options, as a busy
  site has them) against plain ``sqlite3`` fetching the same rows as tuples; target < 50 ms.

Exits 1 when a target is missed, so it can gate a change.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import attrs

from rosetta_core.config import parse_config
from rosetta_core.kernel import create_kernel
from rosetta_core.model import Task, TaskOptions, TaskStatus
from rosetta_core.store import Store
from rosetta_core.store.rows import TASK_COLUMNS, to_row

N_TASKS = 10_000
STARTUP = """
import time, tempfile
t0 = time.perf_counter()
from rosetta_core import create_kernel
from rosetta_core.config import parse_config
d = tempfile.mkdtemp()
k = create_kernel(parse_config({"rosetta": {"store": d + "/s.sqlite"}}))
k.start()
print(time.perf_counter() - t0, len(k.plugins))
k.close()
"""


def median_of(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


def fresh_process(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - t0


def startup_in_process(tmp: Path) -> float:
    t0 = time.perf_counter()
    kernel = create_kernel(
        parse_config({"rosetta": {"store": str(tmp / f"s{time.perf_counter_ns()}.sqlite")}})
    )
    kernel.start()
    elapsed = time.perf_counter() - t0
    kernel.close()
    return elapsed


def make_tasks() -> list[Task]:
    """Tasks as a busy site has them: every status, handles, interfaces, a few option sets."""
    statuses = list(TaskStatus)
    option_sets = [
        TaskOptions(),
        TaskOptions(cpus=2),
        TaskOptions(cpus=4, memory_mb=8192),
        TaskOptions(engine="podman", partition="debug", walltime_minutes=60),
    ]
    tasks = []
    for i in range(N_TASKS):
        task = Task(
            name=f"task-{i}",
            owner=f"user{i % 50}",
            software=f"sw{i % 20}",
            computing=f"c{i % 3}",
            options=option_sets[i % len(option_sets)],
        )
        status = statuses[i % len(statuses)]
        extra: dict[str, object] = {}
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


def store_write(tmp: Path, tasks: list[Task]) -> float:
    store = Store(tmp / f"w{time.perf_counter_ns()}.sqlite")
    store.migrate()
    t0 = time.perf_counter()
    store.add_tasks(tasks)
    elapsed = time.perf_counter() - t0
    store.close()
    return elapsed


def raw_write(tmp: Path, tasks: list[Task]) -> float:
    conn = sqlite3.connect(tmp / f"r{time.perf_counter_ns()}.sqlite")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"CREATE TABLE tasks ({', '.join(TASK_COLUMNS)})")
    conn.execute("CREATE TABLE task_events (task_id, seq, from_status, to_status, at, detail)")
    rows = [tuple(to_row(t).values()) for t in tasks]
    t0 = time.perf_counter()
    with conn:
        conn.executemany(f"INSERT INTO tasks VALUES ({', '.join('?' * len(TASK_COLUMNS))})", rows)
        conn.executemany(
            "INSERT INTO task_events VALUES (?, 1, NULL, 'created', ?, '')",
            [(t.id, t.created_at.isoformat()) for t in tasks],
        )
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    runs = 3 if parser.parse_args().quick else 9
    results: list[tuple[str, float, float | None, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bare = median_of(runs, lambda: fresh_process("pass"))
        cold = median_of(runs, lambda: fresh_process(STARTUP))
        plugins = subprocess.run(
            [sys.executable, "-c", STARTUP], check=True, capture_output=True, text=True
        ).stdout.split()[1]
        results.append((f"start-up, fresh process, {plugins} plugins", cold, 0.3, bare, "python -c pass"))
        warm = median_of(runs, lambda: startup_in_process(tmp))
        results.append(("start-up, warm process", warm, 0.3, bare, "python -c pass"))

        tasks = make_tasks()
        results.append(
            (
                f"write {N_TASKS:,} tasks",
                median_of(runs, lambda: store_write(tmp, tasks)),
                None,
                median_of(runs, lambda: raw_write(tmp, tasks)),
                "sqlite3 executemany",
            )
        )

        store = Store(tmp / "list.sqlite")
        store.migrate()
        store.add_tasks(tasks)

        def list_ours() -> float:
            t0 = time.perf_counter()
            assert len(store.list_tasks()) == N_TASKS
            return time.perf_counter() - t0

        def list_raw() -> float:
            t0 = time.perf_counter()
            store.db.conn.execute(
                f"SELECT {', '.join(TASK_COLUMNS)} FROM tasks ORDER BY rowid DESC"
            ).fetchall()
            return time.perf_counter() - t0

        list_ours()
        results.append(
            (
                f"list {N_TASKS:,} tasks as records",
                median_of(runs, list_ours),
                0.05,
                median_of(runs, list_raw),
                "sqlite3 fetchall of tuples",
            )
        )
        store.close()

    failed = 0
    print(f"{'measurement':40} {'median':>10} {'target':>9} {'ratio':>7}  baseline")
    for label, value, target, baseline, baseline_label in results:
        ok = target is None or value < target
        failed += not ok
        target_text = f"< {target * 1000:.0f} ms" if target else "-"
        print(
            f"{label:40} {value * 1000:8.1f} ms {target_text:>9} {value / baseline:6.2f}x  "
            f"{baseline_label} {baseline * 1000:.1f} ms{'' if ok else '  MISSED'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
