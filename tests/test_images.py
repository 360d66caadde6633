"""The real images (images/build.sh) run as tasks on every engine, through the whole kernel.

For each engine (Podman, Docker, Apptainer) and each image of the starter catalogue: a task is
started by the orchestrator, the interface is checked for real (the page; Jupyter runs code in a
kernel over its WebSocket; noVNC's page and websockify's RFB handshake; an SSH login with the
task's token), and the task is stopped, leaving nothing behind. An image or engine that is not
available is skipped with the reason (build them with ``bash images/build.sh``).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from rosetta_core.catalogue import load_catalogue
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, ComputingKind, Task, TaskStatus
from rosetta_core.specs import task_path

ROOT = Path(__file__).resolve().parent.parent
SIF_DIR = Path("/var/lib/rosetta-images/sif")
CATALOGUE = {s.name: s for s in load_catalogue(str(ROOT / "images" / "catalogue.toml"))}
ENGINES = ("podman", "docker", "singularity")

pytestmark = pytest.mark.testbed


def load_smoke() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rosetta_images_smoke", ROOT / "images" / "smoke.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


smoke = load_smoke()


def missing(engine: str, image: str) -> str | None:
    """Why ``image`` cannot run on ``engine`` here, or ``None``."""
    ref = f"localhost/rosetta-{image}:latest"
    if engine == "singularity":
        if shutil.which("apptainer") is None:
            return "apptainer is not installed (testbed/setup.sh)"
        sif = SIF_DIR / f"rosetta-{image}_latest.sif"
        return None if sif.exists() else f"{sif} is missing (bash images/build.sh)"
    if shutil.which(engine) is None:
        return f"{engine} is not installed (testbed/setup.sh)"
    probe = subprocess.run([engine, "image", "inspect", ref], capture_output=True, timeout=60, check=False)
    return None if probe.returncode == 0 else f"{ref} is not in {engine} (bash images/build.sh)"


def plugin_options(engine: str) -> dict[str, object]:
    if engine == "singularity":
        return {"sif_dir": str(SIF_DIR)}
    return {"pull_policy": "never"}


@pytest.fixture
def kernel_for(rosetta_kernel_factory: Callable[..., Kernel]) -> Callable[[str], Kernel]:
    def make(engine: str) -> Kernel:
        module = importlib.import_module(f"rosetta_{engine}.plugin")
        kernel = rosetta_kernel_factory({engine: module}, plugin_options={engine: plugin_options(engine)})
        for software in CATALOGUE.values():
            kernel.store.add(software)
        kernel.store.add(Computing(name="here", engines=(engine,)))
        return kernel

    return make


def check_when_running(kernel: Kernel, task: Task, image: str, timeout: float) -> Task:
    """Reconcile until ``task`` runs with an address, then check its interface for real (the
    image's smoke check); returns the running task. A task that ends first fails the test."""
    deadline = time.monotonic() + timeout
    while task.status is not TaskStatus.RUNNING and time.monotonic() < deadline:
        assert not task.status.is_terminal, f"{task.status.value}: {task.error}"
        time.sleep(0.3)
        kernel.orchestrator.reconcile()
        task = kernel.store.get_task(task.id)
    assert task.status is TaskStatus.RUNNING and task.interface_port is not None, task
    target = smoke.Target(
        image=image,
        host=task.interface_host or "127.0.0.1",
        port=task.interface_port,
        token=task.auth_token or "",
        user=task.owner,
        base_url=task_path(task.id) if CATALOGUE[image].keeps_prefix else "/",
        deadline=time.monotonic() + timeout,
    )
    getattr(smoke, CHECKS[image])(target)
    return task


CHECKS = {"http": "check_http", "jupyter": "check_jupyter", "desktop": "check_desktop", "ssh": "check_ssh"}


@pytest.mark.parametrize("image", sorted(CHECKS))
@pytest.mark.parametrize("engine", ENGINES)
def test_image_runs_as_a_task(kernel_for: Callable[[str], Kernel], engine: str, image: str) -> None:
    reason = missing(engine, image)
    if reason:
        pytest.skip(reason)
    kernel = kernel_for(engine)
    timeout = smoke.START_TIMEOUT[image]
    task = kernel.orchestrator.run_task(owner="ada", software=image, computing="here")
    try:
        task = check_when_running(kernel, task, image, timeout)
    finally:
        stopped = kernel.orchestrator.stop_task(task.id)
    assert stopped.status is TaskStatus.STOPPED
    executor = kernel.executor_for(kernel.store.get(Computing, "here"))
    assert task.handle not in kernel.engines.get(engine).list_handles(executor)


def remove_behind_the_platforms_back(engine: str, handle: str, kernel: Kernel) -> None:
    if engine == "singularity":
        executor = kernel.executor_for(kernel.store.get(Computing, "here"))
        kernel.engines.get(engine).stop(handle, executor)  # the engine's own removal, unrecorded
    else:
        subprocess.run([engine, "rm", "-f", handle], capture_output=True, timeout=60, check=True)


@pytest.mark.parametrize("engine", ENGINES)
def test_reconcile_on_a_real_engine(kernel_for: Callable[[str], Kernel], engine: str) -> None:
    """An orphan (this instance's label, no row) is removed; a vanished container fails its task."""
    reason = missing(engine, "http")
    if reason:
        pytest.skip(reason)
    kernel = kernel_for(engine)
    executor = kernel.executor_for(kernel.store.get(Computing, "here"))
    backend = kernel.engines.get(engine)
    # an orphan: started with this instance's label, but its row is gone
    doomed = kernel.orchestrator.run_task(owner="ada", software="http", computing="here")
    assert doomed.handle is not None
    with kernel.store.write() as db:
        db.execute("DELETE FROM task_events WHERE task_id = ?", [doomed.id])
        db.execute("DELETE FROM tasks WHERE id = ?", [doomed.id])
    # a task whose container vanishes
    victim = kernel.orchestrator.run_task(owner="ada", software="http", computing="here")
    assert victim.handle is not None
    remove_behind_the_platforms_back(engine, victim.handle, kernel)
    report = kernel.orchestrator.reconcile()
    assert report.orphans_stopped == [doomed.handle]
    assert doomed.handle not in backend.list_handles(executor)
    failed = kernel.store.get_task(victim.id)
    assert failed.status is TaskStatus.FAILED and failed.error == "the container disappeared"


def slurm_is_up() -> bool:
    if shutil.which("sbatch") is None:
        return False
    return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=10, check=False).returncode == 0


# the testbed's PBS-style commands: Torque syntax; an unknown job is answered by silence
BATCH_OPTIONS = {"slurm": {}, "pbs": {"dialect": "torque", "absent_is_gone": True}}


@pytest.mark.parametrize("image", ["http", "jupyter", "desktop"])
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("scheduler", sorted(BATCH_OPTIONS))
def test_image_runs_as_a_batch_job(
    rosetta_kernel_factory: Callable[..., Kernel], tmp_path: Path, scheduler: str, engine: str, image: str
) -> None:
    """The image as a Slurm or PBS job: the agent reports where it listens, the platform reaches
    the interface (a kernel runs code, noVNC answers), and after the stop no container is left."""
    submit = "sbatch" if scheduler == "slurm" else "qsub"
    if shutil.which(submit) is None or not slurm_is_up():
        pytest.skip(f"no {submit} or no running Slurm under it (testbed/setup.sh)")
    reason = missing(engine, image)
    if reason:
        pytest.skip(reason)
    batch = importlib.import_module(f"rosetta_{scheduler}.plugin")
    module = importlib.import_module(f"rosetta_{engine}.plugin")
    options = {**BATCH_OPTIONS[scheduler], "job_dir": str(tmp_path / "jobs")}
    kernel = rosetta_kernel_factory(
        {engine: module, scheduler: batch},
        plugin_options={engine: plugin_options(engine), scheduler: options},
        core_options={"agent_python": sys.executable},
    )
    kernel.store.add(CATALOGUE[image])
    kernel.store.add(
        Computing(name="cluster", kind=ComputingKind.CLUSTER, engines=(engine,), workload_manager=scheduler)
    )
    timeout = smoke.START_TIMEOUT[image] + 30
    task = kernel.orchestrator.run_task(owner="ada", software=image, computing="cluster")
    try:
        task = check_when_running(kernel, task, image, timeout)
    finally:
        stopped = kernel.orchestrator.stop_task(task.id)
    assert stopped.status is TaskStatus.STOPPED
    if engine == "singularity":
        # the agent passed the picked port as BASE_PORT=<port> on apptainer's command line
        probe = ["pgrep", "-f", f"BASE_PORT={task.interface_port}"]
    else:
        probe = [engine, "ps", "-aq", "--filter", f"name=rosetta-{task.id}"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        left = subprocess.run(probe, capture_output=True, text=True, check=False).stdout.strip()
        if not left:
            break
        time.sleep(0.5)
    assert not left, f"the {engine} container outlived its cancelled job"
