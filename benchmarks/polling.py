"""Polling benchmark: one reconcile pass over many batch tasks, against per-task polling.

Run: ``.venv/bin/python benchmarks/polling.py [--tasks 300] [--latency 0.01]``

A fake scheduler charges ``--latency`` seconds per call (what an ``squeue`` costs, over SSH on a
busy login node often far more). The platform's pass asks it once for all of a resource's jobs;
the peer, measured in the same run, asks once per job, as batch spawners that poll each server on
its own do. Prints both times, the number of scheduler calls and the ratio; target: a pass over
300 running batch tasks within 0.5 s (the peer needs at least tasks times latency).
Exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rosetta_core import hookimpl
from rosetta_core.config import parse_config
from rosetta_core.engines import Observation, Observed
from rosetta_core.executors import Executor
from rosetta_core.kernel import create_kernel
from rosetta_core.model import Computing, ComputingKind, Software, TaskStatus
from rosetta_core.testing import FakeEngine, FakeWorkloadManager

TARGET = 0.5


class SlowScheduler(FakeWorkloadManager):
    """A fake scheduler that costs ``latency`` seconds per query, like a real one over the wire."""

    def __init__(self, latency: float) -> None:
        super().__init__()
        self.latency = latency
        self.calls = 0

    def query_many(self, job_ids: Sequence[str], executor: Executor) -> Mapping[str, Observation]:
        self.calls += 1
        time.sleep(self.latency)
        return super().query_many(job_ids, executor)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.01, help="seconds per scheduler call")
    args = parser.parse_args()
    wm = SlowScheduler(args.latency)

    class Plugin:
        @hookimpl
        def rosetta_register_engines(self, register: Callable[[str, Any], None]) -> None:
            register("fake", FakeEngine())

        @hookimpl
        def rosetta_register_workload_managers(self, register: Callable[[str, Any], None]) -> None:
            register("slow", wm)

    with tempfile.TemporaryDirectory() as tmp:
        config = parse_config({"rosetta": {"store": str(Path(tmp) / "s.sqlite")}})
        with create_kernel(config, plugins={"bench": Plugin()}) as kernel:
            kernel.start(reconcile=False)
            kernel.store.add(Software(name="web", image="local/web", interface_port=8080))
            kernel.store.add(
                Computing(name="hpc", kind=ComputingKind.CLUSTER, engines=("fake",), workload_manager="slow")
            )
            tasks = [
                kernel.orchestrator.run_task(owner="ada", software="web", computing="hpc")
                for _ in range(args.tasks)
            ]
            for port, task in enumerate(tasks, start=40000):
                wm.jobs[task.handle or ""] = Observation(state=Observed.RUNNING, host="node1", port=port)
            kernel.orchestrator.reconcile()  # every task running with its address
            assert all(t.status is TaskStatus.RUNNING for t in kernel.store.list_tasks())
            wm.calls = 0
            t0 = time.perf_counter()
            kernel.orchestrator.reconcile()
            ours, our_calls = time.perf_counter() - t0, wm.calls
            wm.calls = 0
            executor = kernel.executor_for(kernel.store.get(Computing, "hpc"), "ada")
            t0 = time.perf_counter()
            for task in kernel.store.list_tasks():
                wm.query_many([task.handle or ""], executor)  # the peer: one query per task
            peer, peer_calls = time.perf_counter() - t0, wm.calls
    ok = ours < TARGET
    print(f"{'measurement':46} {'time':>10} {'calls':>6} {'target':>9} {'ratio':>7}")
    print(f"{f'reconcile pass, {args.tasks} running batch tasks':46} {ours * 1000:8.1f} ms {our_calls:6} "
          f"{f'< {TARGET * 1000:.0f} ms':>9} {ours / peer:6.3f}x{'' if ok else '  MISSED'}")  # fmt: skip
    print(
        f"{'peer: one scheduler query per task':46} {peer * 1000:8.1f} ms {peer_calls:6} {'-':>9} {1:6.3f}x"
    )
    print(f"(scheduler latency {args.latency * 1000:.0f} ms per call)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
