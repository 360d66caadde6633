"""The helper the engine runs on the computing resource, driven for real through a LocalExecutor
with a stand-in for apptainer (a script that runs the command after the image), so these run where
apptainer is not installed: supervision, exit codes, port picking and retries, stop, leftovers.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rosetta_core.engines import Observation, Observed, TaskSpec, handle_for
from rosetta_core.errors import BackendError
from rosetta_core.executors import LocalExecutor
from rosetta_core.model import new_id
from rosetta_core.testing.contracts import HOSTILE, wait_for
from rosetta_singularity import launcher
from rosetta_singularity.engine import SingularityEngine, SingularityOptions

FAKE_APPTAINER = """\
import os, sys
args = sys.argv[1:]
at = next(i for i, a in enumerate(args) if a.endswith(".sif"))
env = {"PATH": os.environ["PATH"]}
env.update((k[len("APPTAINERENV_"):], v) for k, v in os.environ.items() if k.startswith("APPTAINERENV_"))
command = args[at + 1:] or ["sleep", "300"]
os.execvpe(command[0], command, env)
"""


@pytest.fixture
def fake_apptainer(tmp_path: Path) -> str:
    path = tmp_path / "apptainer"
    path.write_text(f"#!{sys.executable}\n{FAKE_APPTAINER}")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def image(tmp_path: Path) -> str:
    path = tmp_path / "app.sif"
    path.write_bytes(b"")
    return str(path)


@pytest.fixture
def executor() -> LocalExecutor:
    return LocalExecutor()


@pytest.fixture
def engine(tmp_path: Path, fake_apptainer: str, executor: LocalExecutor) -> Iterator[SingularityEngine]:
    engine = SingularityEngine(
        SingularityOptions(binary=fake_apptainer, scratch_dir=str(tmp_path / "scratch"))
    )
    yield engine
    for handle in engine.list_handles(executor):
        engine.stop(handle, executor)


def spec(image: str, **overrides: Any) -> TaskSpec:
    task_id = new_id()
    fields: dict[str, Any] = {
        "task_id": task_id,
        "name": handle_for(task_id),
        "image": image,
        "labels": {"rosetta.task": task_id},
    }
    fields.update(overrides)
    return TaskSpec(**fields)


def until(engine: SingularityEngine, handle: str, state: Observed, timeout: float = 10) -> Observation:
    obs = wait_for(lambda: engine.poll(handle, LocalExecutor()), lambda o: o.state is state, timeout)
    assert obs.state is state, obs
    return obs


def eventually(check: Callable[[], bool], timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    return check()


def pid_of(engine: SingularityEngine, handle: str) -> int:
    return int(Path(engine.task_dir(handle), "pid").read_text())


def test_exit_code_output_and_labels_are_recorded(
    engine: SingularityEngine, executor: LocalExecutor, image: str
) -> None:
    s = spec(image, command=("sh", "-c", "echo out; echo err >&2; exit 3"))
    handle = engine.start(s, executor)
    obs = until(engine, handle, Observed.EXITED)
    assert obs.exit_code == 3 and obs.detail == "exited with code 3: err"
    assert dict(obs.labels) == dict(s.labels)
    assert engine.logs(handle, executor) == "out\nerr\n"
    assert engine.logs(handle, executor, tail=1) == "err\n"
    assert handle in engine.list_handles(executor)
    engine.stop(handle, executor)
    assert engine.poll(handle, executor).state is Observed.GONE
    assert not Path(engine.task_dir(handle)).exists()


def test_environment_reaches_the_command_intact_and_out_of_argv(
    engine: SingularityEngine, executor: LocalExecutor, image: str
) -> None:
    values = {"A": HOSTILE, "B": "a=b,c", "C": '"q"', "D": "line1\nline2", "E": ""}
    command = ("sh", "-c", 'printf "[%s]\\n" "$A" "$B" "$C" "$D" "$E"')
    handle = engine.start(spec(image, env=values, command=command), executor)
    until(engine, handle, Observed.EXITED)
    assert engine.logs(handle, executor) == "".join(f"[{v}]\n" for v in values.values())


def test_stop_ends_the_whole_process_group_and_removes_the_directory(
    engine: SingularityEngine, executor: LocalExecutor, image: str
) -> None:
    handle = engine.start(spec(image, command=("sh", "-c", "sleep 300 & sleep 300")), executor)
    until(engine, handle, Observed.RUNNING)
    pgid = pid_of(engine, handle)
    assert eventually(lambda: len(launcher.members(pgid)) == 4)  # supervisor, sh, two sleeps
    began = time.monotonic()
    engine.stop(handle, executor)
    assert time.monotonic() - began < 3
    assert launcher.members(pgid) == []
    assert engine.poll(handle, executor).state is Observed.GONE
    assert handle not in engine.list_handles(executor)
    engine.stop(handle, executor)


def test_a_process_that_ignores_sigterm_is_killed(
    engine: SingularityEngine, executor: LocalExecutor, image: str
) -> None:
    handle = engine.start(spec(image, command=("sh", "-c", "trap '' TERM; sleep 300 & wait")), executor)
    until(engine, handle, Observed.RUNNING)
    pgid = pid_of(engine, handle)
    time.sleep(0.3)
    engine.stop(handle, executor)
    assert launcher.members(pgid) == []
    assert not Path(engine.task_dir(handle)).exists()


def test_interface_port_is_picked_recorded_and_passed(
    engine: SingularityEngine, executor: LocalExecutor, image: str, tmp_path: Path
) -> None:
    seen = tmp_path / "seen"
    command = ("sh", "-c", f'echo "$BASE_PORT" > {seen}; exec sleep 300')
    handles = [engine.start(spec(image, interface_port=8080, command=command), executor) for _ in range(2)]
    ports = []
    for handle in handles:
        obs = wait_for(functools.partial(engine.poll, handle, executor), lambda o: o.port is not None, 10)
        assert obs.state is Observed.RUNNING and obs.host == "127.0.0.1" and obs.port is not None
        ports.append(obs.port)
    assert ports[0] != ports[1]
    assert eventually(lambda: seen.exists() and seen.read_text().strip() != "")
    assert int(seen.read_text()) in ports


def test_a_port_in_use_is_retried_with_another(
    engine: SingularityEngine, executor: LocalExecutor, image: str, tmp_path: Path
) -> None:
    tried = tmp_path / "tried"
    script = (
        f'echo "$BASE_PORT" >> {tried}; '
        f'if [ "$(wc -l < {tried})" -lt 3 ]; then echo "bind: Address already in use" >&2; exit 1; fi; '
        "exec sleep 300"
    )
    handle = engine.start(spec(image, interface_port=8080, command=("sh", "-c", script)), executor)
    obs = wait_for(
        lambda: engine.poll(handle, executor),
        lambda o: tried.exists() and len(tried.read_text().split()) == 3 and o.port is not None,
        10,
    )
    ports = [int(p) for p in tried.read_text().split()]
    assert obs.state is Observed.RUNNING and obs.port == ports[-1]
    assert len(set(ports)) == 3
    assert engine.logs(handle, executor).count("the port was in use") == 2


def test_port_retries_are_bounded(
    engine: SingularityEngine, executor: LocalExecutor, image: str, tmp_path: Path
) -> None:
    tried = tmp_path / "tried"
    script = f'echo x >> {tried}; echo "OSError: [Errno 98] Address already in use" >&2; exit 1'
    handle = engine.start(spec(image, interface_port=8080, command=("sh", "-c", script)), executor)
    obs = until(engine, handle, Observed.EXITED)
    assert obs.exit_code == 1 and "Address already in use" in obs.detail
    assert len(tried.read_text().split()) == launcher.PORT_RETRIES + 1


def test_other_failures_are_not_retried(
    engine: SingularityEngine, executor: LocalExecutor, image: str, tmp_path: Path
) -> None:
    tried = tmp_path / "tried"
    handle = engine.start(
        spec(image, interface_port=8080, command=("sh", "-c", f"echo x >> {tried}; exit 1")), executor
    )
    until(engine, handle, Observed.EXITED)
    assert len(tried.read_text().split()) == 1


def test_starting_again_does_not_start_a_second_one(
    engine: SingularityEngine, executor: LocalExecutor, image: str
) -> None:
    s = spec(image)
    handle = engine.start(s, executor)
    until(engine, handle, Observed.RUNNING)
    pid = pid_of(engine, handle)
    assert engine.start(s, executor) == handle
    assert pid_of(engine, handle) == pid
    assert len(launcher.members(pid)) == 2  # the supervisor and one "container"


def test_a_start_cut_short_is_gone_and_taken_over(
    engine: SingularityEngine, executor: LocalExecutor, image: str
) -> None:
    s = spec(image)
    directory = Path(engine.task_dir(s.name))
    directory.mkdir(parents=True)
    (directory / "labels.json").write_text('{"rosetta.instance": "me"}')
    (directory / "log").write_text("stale\n")
    obs = engine.poll(s.name, executor)
    assert obs.state is Observed.GONE and dict(obs.labels) == {"rosetta.instance": "me"}
    assert s.name in engine.list_handles(executor)
    assert engine.start(s, executor) == s.name
    assert dict(until(engine, s.name, Observed.RUNNING).labels) == dict(s.labels)
    assert "stale" not in engine.logs(s.name, executor)


def test_a_vanished_supervisor_is_failed_and_a_reused_pid_is_left_alone(
    engine: SingularityEngine, executor: LocalExecutor, image: str
) -> None:
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        s = spec(image)
        directory = Path(engine.task_dir(s.name))
        directory.mkdir(parents=True)
        (directory / "pid").write_text(str(stranger.pid))
        obs = engine.poll(s.name, executor)
        assert obs.state is Observed.FAILED and "vanished" in obs.detail
        engine.stop(s.name, executor)
        assert stranger.poll() is None, "stop killed a process that was not the task's"
        assert not directory.exists()
    finally:
        stranger.send_signal(signal.SIGKILL)
        stranger.wait()


def test_a_missing_image_file_fails_the_start_and_leaves_nothing(
    engine: SingularityEngine, executor: LocalExecutor, tmp_path: Path
) -> None:
    s = spec(str(tmp_path / "missing.sif"))
    with pytest.raises(BackendError, match="no such image file"):
        engine.start(s, executor)
    assert engine.poll(s.name, executor).state is Observed.GONE
    assert engine.list_handles(executor) == []


def test_sif_dir_is_used_only_when_the_file_exists(
    fake_apptainer: str, executor: LocalExecutor, tmp_path: Path
) -> None:
    sifs = tmp_path / "sifs"
    sifs.mkdir()
    (sifs / "app_1.0.sif").write_bytes(b"")
    options = SingularityOptions(binary=fake_apptainer, scratch_dir=str(tmp_path / "s"), sif_dir=str(sifs))
    engine = SingularityEngine(options)
    handle = engine.start(spec("localhost/app:1.0", command=("echo", "hello")), executor)
    try:
        assert until(engine, handle, Observed.EXITED).exit_code == 0
        assert engine.logs(handle, executor) == "hello\n"
        # no app_2.0.sif: docker://... is passed, which the stand-in cannot run (no ".sif" in argv)
        other = engine.start(spec("localhost/app:2.0", command=("echo", "hello")), executor)
        assert until(engine, other, Observed.EXITED).exit_code != 0
    finally:
        for h in engine.list_handles(executor):
            engine.stop(h, executor)


def test_logs_and_list_of_nothing(engine: SingularityEngine, executor: LocalExecutor) -> None:
    assert engine.list_handles(executor) == []  # the scratch directory does not exist yet
    assert engine.logs(handle_for(new_id()), executor) == ""
    engine.stop(handle_for(new_id()), executor)


def old_pythons() -> list[str]:
    """Python 3.6 to 3.8 interpreters on this machine (on PATH, or installed by pyenv)."""
    found = [shutil.which(f"python3.{minor}") for minor in (6, 7, 8)]
    found += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.[678].*/bin/python3")))
    works = []
    for path in found:
        if path and subprocess.run([path, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            works.append(path)
    return works[:1]


@pytest.mark.parametrize(
    "python", old_pythons() or [pytest.param("", marks=pytest.mark.skip(reason="no Python 3.6-3.8 here"))]
)
def test_the_helper_runs_on_old_python(
    python: str, fake_apptainer: str, image: str, executor: LocalExecutor, tmp_path: Path
) -> None:
    options = SingularityOptions(binary=fake_apptainer, python=python, scratch_dir=str(tmp_path / "old"))
    engine = SingularityEngine(options)
    handle = engine.start(spec(image, interface_port=8080, env={"A": HOSTILE}), executor)
    try:
        assert until(engine, handle, Observed.RUNNING).port is not None
        assert engine.list_handles(executor) == [handle]
        assert engine.logs(handle, executor) == ""
    finally:
        engine.stop(handle, executor)
    assert engine.poll(handle, executor).state is Observed.GONE
    done = engine.start(spec(image, env={"A": HOSTILE}, command=("sh", "-c", 'echo "$A"; exit 4')), executor)
    try:
        assert until(engine, done, Observed.EXITED).exit_code == 4
        assert engine.logs(done, executor) == f"{HOSTILE}\n"
    finally:
        engine.stop(done, executor)


# ---------------------------------------------------------------- helper functions in-process


def test_pick_port_skips_ports_other_tasks_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rosetta-a").mkdir()
    (tmp_path / "rosetta-a" / "port").write_text("40001")
    (tmp_path / "rosetta-b").mkdir()
    offered = iter([40001, 40002])

    class FakeSocket:
        def __init__(self, *_args: object) -> None:
            self.port = next(offered)

        def bind(self, _address: object) -> None:
            pass

        def getsockname(self) -> tuple[str, int]:
            return ("0.0.0.0", self.port)

        def close(self) -> None:
            pass

    fake = types.SimpleNamespace(socket=FakeSocket, AF_INET=socket.AF_INET, SOCK_STREAM=socket.SOCK_STREAM)
    monkeypatch.setattr(launcher, "socket", fake)
    assert launcher.pick_port(str(tmp_path), str(tmp_path / "rosetta-b")) == 40002
    assert (tmp_path / "rosetta-b" / "port").read_text() == "40002"
    assert oct((tmp_path / ".ports.lock").stat().st_mode & 0o777) == "0o600"


def test_pick_port_gives_a_bindable_port(tmp_path: Path) -> None:
    (tmp_path / "rosetta-a").mkdir()
    port = launcher.pick_port(str(tmp_path), str(tmp_path / "rosetta-a"))
    assert 0 < port < 65536
    assert os.path.exists(tmp_path / "rosetta-a" / "port")
