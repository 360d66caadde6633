"""A whole engine plugin in one file: "containers" are plain processes (``sleep`` by default).

It shows what a plugin author writes, and it is a real engine as far as the kernel can tell: it
acts only through the executor, keeps its state in files, survives the death of the process that
started it, and passes the engine contract suite. Its state folder comes from the site
configuration (``[plugin.sleep] state_dir = ...``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import attrs

from rosetta_core import hookimpl
from rosetta_core.engines import HANDLE_PREFIX, ContainerEngine, Observation, Observed, TaskSpec
from rosetta_core.errors import BackendError, ExecutorError
from rosetta_core.executors import Executor

# Run by the executor: detach a waiter that runs argv, records its pid, its output and its exit code.
LAUNCHER = r"""
import os, subprocess, sys, time
state, name, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
base = os.path.join(state, name)
if os.path.exists(base + ".pid"):
    sys.exit("already exists: " + name)
if os.fork() == 0:
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    with open(base + ".log", "wb") as out:
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        with open(base + ".pid.tmp", "w") as fh:
            fh.write(str(child.pid))
        os.replace(base + ".pid.tmp", base + ".pid")
        code = child.wait()
    with open(base + ".exit.tmp", "w") as fh:
        fh.write(str(code))
    os.replace(base + ".exit.tmp", base + ".exit")
    os._exit(0)
for _ in range(200):
    if os.path.exists(base + ".pid"):
        break
    time.sleep(0.01)
"""


@attrs.frozen(kw_only=True)
class SleepOptions:
    state_dir: str = "/tmp/rosetta-sleep-engine"


class SleepEngine:
    name = "sleep"

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir

    def build_command(self, spec: TaskSpec) -> list[str]:
        command = list(spec.command) or ["sleep", "3600"]
        # the environment rides along as argv entries of env(1), never through a shell
        return ["env", *(f"{k}={v}" for k, v in sorted(spec.env.items())), *command]

    def start(self, spec: TaskSpec, executor: Executor) -> str:
        executor.run(["mkdir", "-p", self.state_dir]).check()
        executor.put_file(f"{self.state_dir}/{spec.name}.labels", json.dumps(dict(spec.labels)).encode())
        result = executor.run(
            [sys.executable, "-c", LAUNCHER, self.state_dir, spec.name, *self.build_command(spec)]
        )
        if not result.ok:
            raise BackendError(f"cannot start {spec.name}: {result.stderr.strip()}")
        return spec.name

    def _read(self, executor: Executor, handle: str, suffix: str) -> str | None:
        try:
            return executor.get_file(f"{self.state_dir}/{handle}{suffix}").decode().strip()
        except ExecutorError:
            return None

    def poll(self, handle: str, executor: Executor) -> Observation:
        code = self._read(executor, handle, ".exit")
        if code is not None:
            labels = json.loads(self._read(executor, handle, ".labels") or "{}")
            return Observation(state=Observed.EXITED, exit_code=int(code), labels=labels)
        pid = self._read(executor, handle, ".pid")
        if pid is None:
            return Observation(state=Observed.GONE)
        labels = json.loads(self._read(executor, handle, ".labels") or "{}")
        if executor.run(["kill", "-0", pid]).ok:
            return Observation(state=Observed.RUNNING, host="127.0.0.1", labels=labels)
        return Observation(
            state=Observed.FAILED, detail="process vanished without an exit code", labels=labels
        )

    def stop(self, handle: str, executor: Executor) -> None:
        pid = self._read(executor, handle, ".pid")
        if pid is not None and self._read(executor, handle, ".exit") is None:
            executor.run(["kill", "-TERM", pid])
            for _ in range(100):
                if not executor.run(["kill", "-0", pid]).ok:
                    break
                executor.run(["sleep", "0.05"])
        base = f"{self.state_dir}/{handle}"
        executor.run(["rm", "-f", f"{base}.pid", f"{base}.exit", f"{base}.log", f"{base}.labels"])

    def logs(self, handle: str, executor: Executor, *, tail: int = 1000) -> str:
        text = self._read(executor, handle, ".log") or ""
        return "\n".join(text.splitlines()[-tail:])

    def list_handles(self, executor: Executor) -> list[str]:
        result = executor.run(["ls", "-1", self.state_dir])
        if not result.ok:
            return []
        names = result.stdout.split()
        return sorted(n[: -len(".pid")] for n in names if n.startswith(HANDLE_PREFIX) and n.endswith(".pid"))


@hookimpl
def rosetta_register_options(register: Callable[[type[Any]], None]) -> None:
    register(SleepOptions)


@hookimpl
def rosetta_register_engines(register: Callable[[str, ContainerEngine], None], kernel: Any) -> None:
    register("sleep", SleepEngine(kernel.options(SleepOptions).state_dir))
