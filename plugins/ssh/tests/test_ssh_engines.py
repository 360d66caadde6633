"""The engine contract through the SSH executor: the engine plugins on an SSH-reached host.

Podman (rootless, in the account's own storage), Docker (the daemon the account may use, through
its command line) and Apptainer run as the testbed's unprivileged account behind a private OpenSSH
server, driven only through ``SSHExecutor``. Whatever a failing
test leaves is removed by label or scratch folder at the end of the module.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest

import rosetta_podman.plugin
import rosetta_ssh.plugin
from rosetta_core.config import parse_config
from rosetta_core.errors import BackendError
from rosetta_core.executors import Executor
from rosetta_core.kernel import Kernel, create_kernel
from rosetta_core.model import Software, TaskStatus
from rosetta_core.testing.contracts import EngineContract
from rosetta_docker.engine import DockerEngine
from rosetta_docker.options import DockerOptions
from rosetta_podman.engine import PodmanEngine, PodmanOptions
from rosetta_singularity.engine import SingularityEngine, SingularityOptions
from rosetta_ssh.testing import PrivateSSHD, SSHRemote, make_remote, remote_workdir

pytestmark = pytest.mark.testbed

BUSYBOX = "localhost/testbed-busybox:latest"
BUSYBOX_ROOTFS = "/var/lib/testbed/rootfs/busybox"
RUN_ID = uuid.uuid4().hex
RUN_LABEL = f"rosetta.test-run={RUN_ID}"
HTTP_DEFINITION = """\
Bootstrap: localimage
From: {source}

%runscript
    exec httpd -f -p "127.0.0.1:${{BASE_PORT:-8080}}" -h /www
"""


@pytest.fixture(scope="module")
def module_remote(
    tbuser: str, sshd: PrivateSSHD, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SSHRemote]:
    """One kernel for the module (the contract makes many executors' worth of calls)."""
    folder = tmp_path_factory.mktemp("kernel")
    site = parse_config({"rosetta": {"store": str(folder / "rosetta.sqlite")}}, base_dir=folder)
    kernel = create_kernel(site, plugins={"ssh": rosetta_ssh.plugin})
    kernel.start()
    sshd.start()
    try:
        yield make_remote(kernel, sshd)
    finally:
        kernel.close()


@pytest.fixture
def remote_executor(module_remote: SSHRemote) -> Executor:
    module_remote.sshd.start()  # a test may have left it stopped
    return module_remote.executor()


@pytest.fixture(scope="module", autouse=True)
def remove_leftovers(module_remote: SSHRemote) -> Iterator[None]:
    yield
    module_remote.sshd.start()
    executor = module_remote.executor()
    with contextlib.suppress(BackendError):
        for program, label in (("podman", RUN_LABEL), ("docker", f"test-run={RUN_ID}")):
            found = executor.run([program, "ps", "-aq", "--filter", f"label={label}"]).stdout.split()
            if found:
                executor.run([program, "rm", "-f", *found], timeout=120)


class TestPodmanOverSSH(EngineContract):
    @pytest.fixture
    def executor(self, remote_executor: Executor) -> Executor:
        if remote_executor.run(["podman", "image", "exists", BUSYBOX], timeout=60).returncode != 0:
            pytest.skip(f"the account's podman has no {BUSYBOX} (testbed/setup.sh, component rootless)")
        return remote_executor

    @pytest.fixture
    def engine(self) -> PodmanEngine:
        return PodmanEngine(PodmanOptions(pull_policy="never", extra_args=("--init", "--label", RUN_LABEL)))

    @pytest.fixture
    def image(self) -> str:
        return BUSYBOX

    @pytest.fixture
    def interface_port(self) -> int | None:
        return 8080

    @pytest.fixture
    def exit_command(self) -> tuple[str, ...]:
        return ("sh", "-c", "exit 3")


class TestDockerOverSSH(EngineContract):
    @pytest.fixture
    def executor(self, remote_executor: Executor) -> Executor:
        probe = remote_executor.run(["docker", "image", "inspect", BUSYBOX], timeout=60)
        if probe.returncode != 0:
            pytest.skip(f"the account cannot use docker or it has no {BUSYBOX}: {probe.stderr.strip()[:200]}")
        return remote_executor

    @pytest.fixture
    def engine(self) -> DockerEngine:
        engine = DockerEngine(DockerOptions(pull_policy="never", init=True, labels={"test-run": RUN_ID}))
        return engine

    @pytest.fixture
    def image(self) -> str:
        return BUSYBOX

    @pytest.fixture
    def interface_port(self) -> int | None:
        return 8080

    @pytest.fixture
    def exit_command(self) -> tuple[str, ...]:
        return ("sh", "-c", "exit 3")


@pytest.fixture(scope="module")
def apptainer_home(tbuser: str) -> Iterator[str]:
    """A folder of the account holding an HTTP SIF and the scratch folder."""
    apptainer = shutil.which("apptainer")
    if apptainer is None or not os.path.isdir(BUSYBOX_ROOTFS):
        pytest.skip("apptainer or the testbed's busybox root folder is missing (testbed/setup.sh)")
    with remote_workdir(tbuser) as folder:
        definition = f"{folder}/http.def"
        with open(definition, "w", encoding="utf-8") as fh:
            fh.write(HTTP_DEFINITION.format(source=BUSYBOX_ROOTFS))
        built = subprocess.run(
            [apptainer, "build", "--force", f"{folder}/http.sif", definition],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert built.returncode == 0, built.stderr
        account = pwd.getpwnam(tbuser)
        for name in ("http.sif", "http.def"):
            os.chown(f"{folder}/{name}", account.pw_uid, account.pw_gid)
        yield folder


class TestApptainerOverSSH(EngineContract):
    @pytest.fixture
    def executor(self, remote_executor: Executor) -> Executor:
        return remote_executor

    @pytest.fixture
    def engine(self, apptainer_home: str) -> Iterator[SingularityEngine]:
        engine = SingularityEngine(SingularityOptions(scratch_dir=f"{apptainer_home}/scratch"))
        yield engine

    @pytest.fixture
    def image(self, apptainer_home: str) -> str:
        return f"{apptainer_home}/http.sif"

    @pytest.fixture
    def interface_port(self) -> int | None:
        return 8080

    @pytest.fixture
    def exit_command(self) -> tuple[str, ...]:
        return ("sh", "-c", "exit 3")


def test_the_ssh_kernel_runs_a_podman_task_on_the_host(
    rosetta_kernel_factory: Callable[..., Kernel], running_sshd: PrivateSSHD
) -> None:
    """Through the whole kernel: a task on the SSH resource runs, is observed, and stops."""
    kernel = rosetta_kernel_factory(
        {"ssh": rosetta_ssh.plugin, "podman": rosetta_podman.plugin},
        plugin_options={"podman": {"pull_policy": "never", "extra_args": ["--init", "--label", RUN_LABEL]}},
    )
    remote = make_remote(kernel, running_sshd)
    if remote.executor().run(["podman", "image", "exists", BUSYBOX], timeout=60).returncode != 0:
        pytest.skip(f"the account's podman has no {BUSYBOX}")
    kernel.store.add(Software(name="web", image="testbed-busybox", registry="localhost", interface_port=8080))
    task = kernel.orchestrator.run_task(owner=remote.user, software="web", computing=remote.computing.name)
    assert task.status is TaskStatus.RUNNING and task.interface_port is not None, task
    assert task.handle in kernel.engines.get("podman").list_handles(remote.executor())
    assert kernel.orchestrator.stop_task(task.id).status is TaskStatus.STOPPED
    assert task.handle not in kernel.engines.get("podman").list_handles(remote.executor())
