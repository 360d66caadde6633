"""The TaskSpec: platform conventions (BASE_PORT, AUTH_*), storage binds with $USER/$SSH_USER."""

from __future__ import annotations

import attrs
import pytest

from rosetta_core.engines import INSTANCE_LABEL, Bind
from rosetta_core.errors import ValidationError
from rosetta_core.model import AuthConvention, Computing, Software, Storage, Task, TaskOptions
from rosetta_core.serde import structure
from rosetta_core.specs import build_spec, convention_env, expand_path, new_token

COMPUTING = Computing(name="c", engines=("podman",), options={"user": "ada_remote"})


def task(**fields: object) -> Task:
    return Task(**{"name": "t", "owner": "ada", "software": "s", "computing": "c", **fields})  # type: ignore[arg-type]


def test_tokens_are_long_and_fresh() -> None:
    assert len(new_token()) == 32 and new_token() != new_token()


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        (AuthConvention.NONE, {"BASE_PORT": "8888"}),
        (AuthConvention.PASSWORD, {"BASE_PORT": "8888", "AUTH_PASS": "tok"}),
        (AuthConvention.USER_PASSWORD, {"BASE_PORT": "8888", "AUTH_PASS": "tok", "AUTH_USER": "ada"}),
    ],
)
def test_convention_env(auth: AuthConvention, expected: dict[str, str]) -> None:
    sw = Software(name="s", image="x", interface_port=8888, auth=auth)
    assert convention_env(task(auth_token="tok"), sw) == expected


def test_platform_variables_win_over_the_software_env() -> None:
    sw = Software(
        name="s",
        image="x",
        interface_port=80,
        auth=AuthConvention.PASSWORD,
        env={"AUTH_PASS": "guessable", "OTHER": "kept"},
    )
    spec = build_spec(task(auth_token="secret"), sw, COMPUTING, [], "inst")
    assert spec.env == {"AUTH_PASS": "secret", "OTHER": "kept", "BASE_PORT": "80"}
    assert spec.labels[INSTANCE_LABEL] == "inst"


def test_spec_fields() -> None:
    sw = Software(
        name="s", image="jupyter/base", registry="localhost", tag="1", interface_port=8888, arch="arm64"
    )
    spec = build_spec(task(options=TaskOptions(cpus=2, memory_mb=512)), sw, COMPUTING, [], "i")
    assert spec.image == "localhost/jupyter/base:1" and spec.arch == "arm64"
    assert (spec.resources.cpus, spec.resources.memory_mb) == (2, 512)
    assert spec.name == f"rosetta-{spec.task_id}"
    assert spec.needs_root is False
    rooted = build_spec(task(), attrs.evolve(sw, needs_root=True), COMPUTING, [], "i")
    assert rooted.needs_root is True


def test_storage_binds_expand_users() -> None:
    storages = [
        Storage(name="home", base_path="/home/$USER", bind_path="/home/$USER", read_only=False),
        Storage(
            name="data", base_path="/data/$SSH_USER/shared", bind_path="/data", read_only=True, computing="c"
        ),
        Storage(name="elsewhere", base_path="/x", bind_path="/x", computing="other"),
    ]
    spec = build_spec(task(), Software(name="s", image="x"), COMPUTING, storages, "i")
    assert spec.binds == (
        Bind(source="/home/ada", target="/home/ada", read_only=False),
        Bind(source="/data/ada_remote/shared", target="/data", read_only=True),
    )


def test_ssh_user_defaults_to_the_owner() -> None:
    comp = Computing(name="c", engines=("podman",))
    spec = build_spec(
        task(),
        Software(name="s", image="x"),
        comp,
        [Storage(name="d", base_path="/d/$SSH_USER", bind_path="/d")],
        "i",
    )
    assert spec.binds[0].source == "/d/ada"


@pytest.mark.parametrize("path", ["/home/$HOME", "/a/$(id)", "/a/../$USER", "relative/$USER", "/a/${USER}"])
def test_storage_templates_refuse_anything_else(path: str) -> None:
    with pytest.raises(ValidationError, match=r"\$\.base_path"):
        structure({"name": "s", "base_path": path, "bind_path": "/x"}, Storage)


def test_expansion_is_checked_again() -> None:
    assert expand_path("/home/$USER", user="ada", ssh_user="x") == "/home/ada"
    with pytest.raises(ValidationError, match="not a clean absolute path"):
        expand_path("/home/$USER", user="a b", ssh_user="x")


def test_ssh_user_is_the_owners_account_on_the_resource() -> None:
    storages = [Storage(name="d", base_path="/d/$SSH_USER", bind_path="/d")]
    sw = Software(name="s", image="x")
    platform = Computing(name="c", engines=("podman",), options={"account": "rosetta"})
    assert build_spec(task(), sw, platform, storages, "i").binds[0].source == "/d/rosetta"
    own = build_spec(task(), sw, platform, storages, "i", account="ada_hpc")
    assert own.binds[0].source == "/d/ada_hpc"


def test_scheduler_settings_come_from_the_task_and_the_resource() -> None:
    cluster = Computing(
        name="c",
        engines=("podman",),
        workload_manager="slurm",
        options={
            "partition": "debug",
            "scheduler_account": "astro",
            "directives": "--qos=low\n\n--constraint=x",
        },
    )
    sw = Software(name="s", image="x")
    spec = build_spec(task(options=TaskOptions(gpus=2, walltime_minutes=30)), sw, cluster, [], "i")
    assert spec.resources.partition == "debug" and spec.resources.account == "astro"
    assert spec.resources.gpus == 2 and spec.resources.walltime_minutes == 30
    assert spec.resources.directives == ("--qos=low", "--constraint=x")
    chosen = build_spec(task(options=TaskOptions(partition="gpu")), sw, cluster, [], "i")
    assert chosen.resources.partition == "gpu"


def test_base_url_for_software_that_keeps_the_prefix() -> None:
    t = task()
    plain = Software(name="s", image="x", interface_port=80)
    assert "BASE_URL" not in convention_env(t, plain)
    kept = attrs.evolve(plain, keeps_prefix=True)
    assert convention_env(t, kept)["BASE_URL"] == f"/t/{t.id}/"
