"""The core's named migrations. Never edit one once shipped: add the next."""

from __future__ import annotations

import uuid

from sqlite_utils import Database, Migrations

CORE_SET = "rosetta_core"
core_migrations = Migrations(CORE_SET)


@core_migrations(name="0001_initial")
def _initial(db: Database) -> None:
    db.table("users").create(
        {"id": str, "name": str, "email": str, "is_admin": int, "created_at": str},
        pk="id",
        not_null={"name"},
    )
    db.table("users").create_index(["name"], unique=True)

    db.table("keypairs").create(
        {
            "id": str,
            "owner": str,
            "name": str,
            "public_key": str,
            "private_key_path": str,
            "created_at": str,
        },
        pk="id",
        not_null={"owner", "name"},
    )
    db.table("keypairs").create_index(["owner", "name"], unique=True)

    db.table("software").create(
        {
            "id": str,
            "name": str,
            "image": str,
            "registry": str,
            "tag": str,
            "digest": str,
            "interface_port": int,
            "protocol": str,
            "auth": str,
            "env": str,
            "arch": str,
            "description": str,
            "owner": str,
            "created_at": str,
        },
        pk="id",
        not_null={"name", "image"},
    )
    db.table("software").create_index(["name"], unique=True)

    db.table("computings").create(
        {
            "id": str,
            "name": str,
            "kind": str,
            "executor": str,
            "engines": str,
            "workload_manager": str,
            "options": str,
            "description": str,
            "owner": str,
            "created_at": str,
        },
        pk="id",
        not_null={"name"},
    )
    db.table("computings").create_index(["name"], unique=True)

    db.table("storages").create(
        {
            "id": str,
            "name": str,
            "kind": str,
            "base_path": str,
            "bind_path": str,
            "read_only": int,
            "browsable": int,
            "computing": str,
            "owner": str,
            "created_at": str,
        },
        pk="id",
        not_null={"name"},
    )
    db.table("storages").create_index(["name"], unique=True)

    db.table("tasks").create(
        {
            "id": str,
            "name": str,
            "owner": str,
            "software": str,
            "computing": str,
            "options": str,
            "status": str,
            "engine": str,
            "handle": str,
            "interface_host": str,
            "interface_port": int,
            "error": str,
            "exit_code": int,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"name", "owner", "status"},
    )
    db.table("tasks").create_index(["status"])
    db.table("tasks").create_index(["owner", "created_at"])

    db.table("task_events").create(
        {
            "task_id": str,
            "seq": int,
            "from_status": str,
            "to_status": str,
            "at": str,
            "detail": str,
        },
        pk=("task_id", "seq"),
        foreign_keys=[("task_id", "tasks", "id")],
    )


@core_migrations(name="0002_instance_id")
def _instance_id(db: Database) -> None:
    # one random id per store: containers started by this platform instance carry it as a label,
    # so two instances sharing an engine never take each other's containers for orphans
    db.table("meta").create({"key": str, "value": str}, pk="key")
    db.table("meta").insert({"key": "instance_id", "value": uuid.uuid4().hex[:12]})


@core_migrations(name="0003_task_stop_requested")
def _stop_requested(db: Database) -> None:
    db.table("tasks").add_column("stop_requested", int, not_null_default=0)


@core_migrations(name="0004_task_auth_token")
def _auth_token(db: Database) -> None:
    db.table("tasks").add_column("auth_token", str)


@core_migrations(name="0005_software_needs_root")
def _needs_root(db: Database) -> None:
    db.table("software").add_column("needs_root", int, not_null_default=0)


@core_migrations(name="0006_host_keys_and_accounts")
def _host_keys_and_accounts(db: Database) -> None:
    db.table("host_keys").create(
        {"computing": str, "key_type": str, "key": str, "created_at": str},
        pk=("computing", "key_type", "key"),
    )
    db.table("computing_accounts").create(
        {"owner": str, "computing": str, "account": str}, pk=("owner", "computing"), not_null={"account"}
    )


@core_migrations(name="0007_software_keeps_prefix")
def _keeps_prefix(db: Database) -> None:
    db.table("software").add_column("keeps_prefix", int, not_null_default=0)
