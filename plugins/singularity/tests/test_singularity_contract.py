"""The engine contract and end-to-end checks against the real apptainer of the testbed.

Needs ``apptainer`` and the testbed's busybox (``/var/lib/testbed/sif/testbed-busybox.sif``, and
its root folder ``/var/lib/testbed/rootfs/busybox`` if present); ``testbed/setup.sh`` provides
them. The module is skipped, saying which is missing, when either is absent. A session fixture
builds ``testbed-busybox-http_latest.sif`` from the busybox root folder: its runscript serves
``/www`` with busybox httpd on ``127.0.0.1:${BASE_PORT:-8080}``, so it honours ``BASE_PORT``. Every
task runs in a scratch directory of this run, and whatever is left there is stopped at the end,
even after a failure.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import rosetta_singularity.plugin
from rosetta_core.engines import Bind, Observed, Resources, TaskSpec, handle_for
from rosetta_core.errors import BackendError
from rosetta_core.executors import Executor, LocalExecutor
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, Software, TaskStatus, new_id
from rosetta_core.testing.contracts import HOSTILE, EngineContract, wait_for
from rosetta_singularity import launcher
from rosetta_singularity.engine import SingularityEngine, SingularityOptions

BUSYBOX_SIF = "/var/lib/testbed/sif/testbed-busybox.sif"
BUSYBOX_ROOTFS = "/var/lib/testbed/rootfs/busybox"
HTTP_NAME = "testbed-busybox-http"
PAGE = "testbed-busybox OK"
APPTAINER = shutil.which("apptainer")
if APPTAINER is None:
    pytest.skip("apptainer is not installed (run testbed/setup.sh)", allow_module_level=True)
if not os.path.exists(BUSYBOX_SIF):
    pytest.skip(f"the testbed image {BUSYBOX_SIF} is missing (run testbed/setup.sh)", allow_module_level=True)

pytestmark = pytest.mark.testbed

DEFINITION = """\
Bootstrap: localimage
From: {source}

%runscript
    exec httpd -f -p "127.0.0.1:${{BASE_PORT:-8080}}" -h /www
"""


@pytest.fixture(scope="session")
def sif_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A folder holding ``testbed-busybox-http_latest.sif``, built from the busybox root folder."""
    assert APPTAINER is not None
    folder = tmp_path_factory.mktemp("sif")
    source = BUSYBOX_ROOTFS if os.path.isdir(BUSYBOX_ROOTFS) else BUSYBOX_SIF
    definition = folder / "http.def"
    definition.write_text(DEFINITION.format(source=source))
    target = folder / f"{HTTP_NAME}_latest.sif"
    built = subprocess.run(
        [APPTAINER, "build", "--force", str(target), str(definition)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        assert built.returncode == 0, built.stderr
        yield str(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def http_sif(sif_dir: str) -> str:
    return f"{sif_dir}/{HTTP_NAME}_latest.sif"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This module's scratch directory; every task left in it is stopped at the end."""
    folder = tmp_path_factory.mktemp("scratch")
    yield str(folder)
    engine = SingularityEngine(SingularityOptions(scratch_dir=str(folder)))
    executor = LocalExecutor()
    for handle in engine.list_handles(executor):
        with contextlib.suppress(BackendError):
            engine.stop(handle, executor)
    shutil.rmtree(folder, ignore_errors=True)


def get(url: str, timeout: float) -> str:
    """The body at ``url``, retrying until ``timeout``: the server may not listen yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def nothing_left(engine: SingularityEngine, handle: str, pgid: int) -> bool:
    return launcher.members(pgid) == [] and not Path(engine.task_dir(handle)).exists()


class TestSingularityContract(EngineContract):
    """The kernel's engine contract, plus checks of what the contract cannot know about apptainer."""

    @pytest.fixture
    def engine(self, scratch: str) -> SingularityEngine:
        return SingularityEngine(SingularityOptions(scratch_dir=scratch))

    @pytest.fixture
    def image(self, http_sif: str) -> str:
        return http_sif

    @pytest.fixture
    def interface_port(self) -> int | None:
        return 8080

    @pytest.fixture
    def exit_command(self) -> tuple[str, ...]:
        return ("sh", "-c", "exit 3")

    def test_interface_answers_on_the_reported_port(
        self,
        engine: SingularityEngine,
        executor: Executor,
        make_spec: Callable[..., TaskSpec],
        started: list[str],
    ) -> None:
        handle = engine.start(make_spec(), executor)
        started.append(handle)
        obs = wait_for(lambda: engine.poll(handle, executor), lambda o: o.port is not None, 30)
        assert obs.state is Observed.RUNNING and obs.host == "127.0.0.1" and obs.port is not None
        assert PAGE in get(f"http://{obs.host}:{obs.port}/", timeout=10)

    def test_two_tasks_started_at_once_get_different_ports(
        self,
        engine: SingularityEngine,
        executor: Executor,
        make_spec: Callable[..., TaskSpec],
        started: list[str],
    ) -> None:
        specs = [make_spec(), make_spec()]
        with ThreadPoolExecutor(2) as pool:
            handles = list(pool.map(lambda s: engine.start(s, executor), specs))
        started.extend(handles)
        ports = []
        for handle in handles:
            obs = wait_for(functools.partial(engine.poll, handle, executor), lambda o: o.port is not None, 30)
            assert obs.state is Observed.RUNNING and obs.port is not None, obs
            ports.append(obs.port)
        assert ports[0] != ports[1]
        for port in ports:
            assert PAGE in get(f"http://127.0.0.1:{port}/", timeout=10)

    def test_busybox_sif_runs_a_command_with_intact_environment(
        self,
        engine: SingularityEngine,
        executor: Executor,
        make_spec: Callable[..., TaskSpec],
        started: list[str],
    ) -> None:
        env = {"ROSETTA_CONTRACT": HOSTILE, "COMMAS": "a=b,c", "QUOTED": '"q"', "LINES": "1\n2"}
        command = (
            "sh",
            "-c",
            'printf "[%s]\\n" "$ROSETTA_CONTRACT" "$COMMAS" "$QUOTED" "$LINES" "$HOME"; echo done >&2',
        )
        spec = make_spec(image=BUSYBOX_SIF, command=command, interface_port=None, env=env)
        handle = engine.start(spec, executor)
        started.append(handle)
        obs = wait_for(lambda: engine.poll(handle, executor), lambda o: o.state is Observed.EXITED, 30)
        assert obs.exit_code == 0, (obs, engine.logs(handle, executor))
        home = f"{engine.task_dir(handle)}/home"
        expected = "".join(f"[{v}]\n" for v in (*env.values(), home)) + "done\n"
        assert engine.logs(handle, executor) == expected
        assert engine.logs(handle, executor, tail=1) == "done\n"

    def test_read_only_bind_and_limits_left_to_the_site(
        self,
        engine: SingularityEngine,
        executor: Executor,
        make_spec: Callable[..., TaskSpec],
        started: list[str],
        tmp_path: Path,
    ) -> None:
        (tmp_path / "f").write_text("bound\n")
        spec = make_spec(
            image=BUSYBOX_SIF,
            interface_port=None,
            command=("sh", "-c", "cat /in/f; touch /in/g"),
            binds=(Bind(source=str(tmp_path), target="/in", read_only=True),),
            resources=Resources(cpus=1, memory_mb=64),  # ignored: resource_limits is off
        )
        handle = engine.start(spec, executor)
        started.append(handle)
        obs = wait_for(lambda: engine.poll(handle, executor), lambda o: o.state is Observed.EXITED, 30)
        assert obs.exit_code == 1 and "Read-only file system" in obs.detail
        assert engine.logs(handle, executor).startswith("bound\n")
        assert not (tmp_path / "g").exists()

    def test_apptainer_refusing_is_an_exit_with_its_words(
        self,
        scratch: str,
        executor: Executor,
        make_spec: Callable[..., TaskSpec],
        started: list[str],
    ) -> None:
        engine = SingularityEngine(
            SingularityOptions(scratch_dir=scratch, extra_args=("--no-such-apptainer-flag",))
        )
        handle = engine.start(make_spec(), executor)
        started.append(handle)
        obs = wait_for(lambda: engine.poll(handle, executor), lambda o: o.state is Observed.EXITED, 30)
        assert obs.exit_code not in (0, None) and "no-such-apptainer-flag" in obs.detail

    def test_missing_image_is_a_readable_error(
        self, engine: SingularityEngine, executor: Executor, make_spec: Callable[..., TaskSpec]
    ) -> None:
        spec = make_spec(image="/var/lib/testbed/sif/rosetta-no-such-image.sif")
        with pytest.raises(BackendError, match="no such image file"):
            engine.start(spec, executor)
        assert engine.poll(spec.name, executor).state is Observed.GONE
        assert spec.name not in engine.list_handles(executor)


@pytest.mark.parametrize(
    "value", [HOSTILE, "a=b,c", '"quoted"', 'trailing"', "x,y", "1\n2", "", " spaced ", "it's", "$HOME"]
)
def test_build_command_carries_values_intact(http_sif: str, value: str) -> None:
    engine = SingularityEngine()
    task_id = new_id()
    spec = TaskSpec(
        task_id=task_id,
        name=handle_for(task_id),
        image=BUSYBOX_SIF,
        env={"V": value},
        command=("sh", "-c", 'printf "[%s]" "$V"'),
    )
    result = LocalExecutor().run(engine.build_command(spec), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"[{value}]"


def test_a_task_runs_and_stops_through_the_orchestrator(
    rosetta_kernel_factory: Callable[..., Kernel], scratch: str, sif_dir: str
) -> None:
    kernel = rosetta_kernel_factory(
        {"singularity": rosetta_singularity.plugin},
        plugin_options={"singularity": {"scratch_dir": scratch, "sif_dir": sif_dir}},
    )
    kernel.store.add(Software(name="bb", image=HTTP_NAME, registry="localhost", interface_port=8080))
    kernel.store.add(Computing(name="here", engines=("singularity",)))
    engine = kernel.engines.get("singularity")
    assert isinstance(engine, SingularityEngine)
    executor = kernel.executor_for(kernel.store.get(Computing, "here"))
    task = kernel.orchestrator.run_task(owner="ada", software="bb", computing="here")
    handle = handle_for(task.id)
    try:
        assert task.handle == handle
        deadline = time.monotonic() + 30
        while task.status is not TaskStatus.RUNNING and time.monotonic() < deadline:
            assert task.status in (TaskStatus.QUEUED, TaskStatus.STARTING), task
            time.sleep(0.2)
            kernel.orchestrator.reconcile()
            task = kernel.store.get_task(task.id)
        assert task.status is TaskStatus.RUNNING, task
        assert task.interface_host == "127.0.0.1" and task.interface_port is not None
        assert PAGE in get(f"http://127.0.0.1:{task.interface_port}/", timeout=10)
        assert handle in engine.list_handles(executor)
        pgid = int(Path(engine.task_dir(handle), "pid").read_text())
        assert launcher.members(pgid)

        stopped = kernel.orchestrator.stop_task(task.id)
        assert stopped.status is TaskStatus.STOPPED
        assert engine.poll(handle, executor).state is Observed.GONE
        assert handle not in engine.list_handles(executor)
        assert nothing_left(engine, handle, pgid)
    finally:
        with contextlib.suppress(BackendError):
            engine.stop(handle, executor)
