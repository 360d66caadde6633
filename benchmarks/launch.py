"""Launch-to-ready through the platform against the bare engine, measured in the same run.

Run: ``.venv/bin/python benchmarks/launch.py [--runs N] [--engines podman,docker]``

For each engine found (its plugin installed, the engine answering, the image present):

- bare: ``<engine> run -d --pull=never -p 127.0.0.1::PORT IMAGE``, ``<engine> port``, then HTTP GETs
  until the interface answers;
- platform: ``orchestrator.run_task(...)`` (create, queue, start, poll) on a fresh kernel store,
  then the same HTTP probe on the address the task reports.

Prints the medians, the platform's overhead (platform - bare) and the ratio. Target: overhead under
0.3 s median. Exits 1 when a target is missed, 0 when met or when no engine could be measured.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from rosetta_core.config import parse_config
from rosetta_core.kernel import create_kernel
from rosetta_core.model import Computing, Software, TaskStatus
from rosetta_core.plugins import discover

IMAGE_REPO, IMAGE_TAG, PORT = "testbed-busybox", "latest", 8080
IMAGE = f"localhost/{IMAGE_REPO}:{IMAGE_TAG}"
TARGET_OVERHEAD = 0.3


def wait_http(port: int, timeout: float = 20.0) -> None:
    """GET until a 200 comes back (an engine's port proxy may accept before the server listens)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer on port {port}")
        time.sleep(0.01)


def bare(engine: str) -> float:
    name = f"rosetta-bench-{time.perf_counter_ns()}"
    t0 = time.perf_counter()
    subprocess.run(
        [engine, "run", "-d", "--pull=never", "--init", "--name", name, "-p", f"127.0.0.1::{PORT}", IMAGE],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [engine, "port", name, f"{PORT}/tcp"], check=True, capture_output=True, text=True
    ).stdout
    wait_http(int(out.splitlines()[0].rsplit(":", 1)[1]))
    elapsed = time.perf_counter() - t0
    subprocess.run([engine, "rm", "-f", name], capture_output=True, check=False)
    return elapsed


def through_platform(engine: str, tmp: Path) -> float:
    config = parse_config(
        {
            "rosetta": {"store": str(tmp / f"s{time.perf_counter_ns()}.sqlite")},
            "plugins": {"enabled": ["core", engine]},
            "plugin": {
                engine: {"pull_policy": "never", "extra_args": ["--init"]}
                if engine == "podman"
                else {"pull_policy": "never"}
            },
        }
    )
    with create_kernel(config) as kernel:
        kernel.start()
        kernel.store.add(
            Software(name="bb", image=IMAGE_REPO, registry="localhost", tag=IMAGE_TAG, interface_port=PORT)
        )
        kernel.store.add(Computing(name="here", engines=(engine,)))
        t0 = time.perf_counter()
        task = kernel.orchestrator.run_task(owner="bench", software="bb", computing="here")
        while task.status is not TaskStatus.RUNNING:
            if task.status.is_terminal:
                raise RuntimeError(f"task ended {task.status.value}: {task.error}")
            time.sleep(0.01)
            kernel.orchestrator.reconcile()
            task = kernel.store.get_task(task.id)
        assert task.interface_port is not None
        wait_http(task.interface_port)
        elapsed = time.perf_counter() - t0
        kernel.orchestrator.stop_task(task.id)
    return elapsed


def available(engine: str) -> str | None:
    """Why ``engine`` cannot be measured, or ``None``."""
    if shutil.which(engine) is None:
        return "not installed"
    probe = subprocess.run([engine, "image", "inspect", IMAGE], capture_output=True, check=False)
    if probe.returncode != 0:
        return f"image {IMAGE} missing or engine not answering (run testbed/setup.sh)"
    if engine not in {ep.name for ep in discover()}:
        return "its plugin is not installed"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--engines", default="podman,docker")
    args = parser.parse_args()
    missed = 0
    header = f"{'engine':8} {'bare':>9} {'platform':>9} {'overhead':>9} {'ratio':>6}"
    print(f"{header}  target: overhead < {TARGET_OVERHEAD} s")
    with tempfile.TemporaryDirectory() as tmp_name:
        for engine in args.engines.split(","):
            reason = available(engine)
            if reason:
                print(f"{engine:8} skipped: {reason}")
                continue
            bare(engine)  # warm the engine's caches once, for both sides alike
            bare_runs, platform_runs = [], []
            for _ in range(args.runs):  # interleaved, so drift hits both sides alike
                bare_runs.append(bare(engine))
                platform_runs.append(through_platform(engine, Path(tmp_name)))
            b, p = statistics.median(bare_runs), statistics.median(platform_runs)
            ok = p - b < TARGET_OVERHEAD
            missed += not ok
            print(
                f"{engine:8} {b * 1000:7.0f}ms {p * 1000:7.0f}ms {(p - b) * 1000:7.0f}ms {p / b:6.2f}x"
                + ("" if ok else "  MISSED")
            )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
