"""The store: records, task transitions with events, one write path, migrations."""

from __future__ import annotations

import base64
import sqlite3
import threading
from pathlib import Path

import pytest

from rosetta_core.errors import ConflictError, InvalidTransition, NotFoundError, ValidationError
from rosetta_core.model import (
    Computing,
    ComputingAccount,
    HostKey,
    KeyPair,
    Software,
    Storage,
    Task,
    TaskOptions,
    TaskStatus,
    User,
)
from rosetta_core.store import Store
from rosetta_core.store.rows import TASK_COLUMNS

S = TaskStatus


def make_task(**fields: object) -> Task:
    return Task(**{"name": "t", "owner": "ada", "software": "s", "computing": "c", **fields})  # type: ignore[arg-type]


def test_wal_and_durability(rosetta_store: Store) -> None:
    conn = rosetta_store.db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


@pytest.mark.parametrize(
    "record",
    [
        User(name="ada", email="ada@example.org"),
        KeyPair(owner="ada", name="default", public_key="ssh-ed25519 AAAA", private_key_path="/keys/ada"),
        Software(name="jup", image="jupyter/base", env={"A": "1"}, interface_port=8888),
        Software(name="sshd", image="rosetta-ssh", needs_root=True),
        Computing(name="c", engines=("podman", "docker"), options={"host": "h", "port": 22, "x": True}),
        Storage(name="home", base_path="/home", bind_path="/data", read_only=True),
    ],
)
def test_records_round_trip(rosetta_store: Store, record: object) -> None:
    rosetta_store.add(record)
    assert rosetta_store.get(type(record), record.name) == record  # type: ignore[attr-defined]
    assert rosetta_store.all(type(record)) == [record]
    with pytest.raises(ConflictError, match="already exists"):
        rosetta_store.add(record)
    rosetta_store.delete(type(record), record.name)  # type: ignore[attr-defined]
    with pytest.raises(NotFoundError):
        rosetta_store.get(type(record), record.name)  # type: ignore[attr-defined]
    with pytest.raises(NotFoundError):
        rosetta_store.delete(type(record), record.name)  # type: ignore[attr-defined]


def test_task_columns_match_the_model() -> None:
    import attrs

    assert tuple(f.name for f in attrs.fields(Task)) == TASK_COLUMNS


def test_task_round_trip_with_options(rosetta_store: Store) -> None:
    task = make_task(options=TaskOptions(cpus=2, partition="debug"), interface_port=8080, interface_host="h")
    rosetta_store.create_task(task)
    assert rosetta_store.get_task(task.id) == task
    assert rosetta_store.find_task(task.id[:6]) == task
    assert rosetta_store.find_task("t") == task


def test_transition_is_compare_and_set_with_event(rosetta_store: Store) -> None:
    task = make_task()
    rosetta_store.create_task(task)
    updated, event = rosetta_store.transition(task.id, S.CREATED, S.QUEUED, detail="go", handle="h1")
    assert updated.status is S.QUEUED and updated.handle == "h1" and event.seq == 2
    with pytest.raises(InvalidTransition):
        rosetta_store.transition(task.id, S.CREATED, S.FAILED)
    assert [e.to_status for e in rosetta_store.task_events(task.id)] == [S.CREATED, S.QUEUED]


def test_failed_write_changes_nothing(rosetta_store: Store) -> None:
    task = make_task()
    rosetta_store.create_task(task)
    with pytest.raises(RuntimeError), rosetta_store.write() as db:
        db.execute("UPDATE tasks SET status = 'running'")
        raise RuntimeError("crash mid-way")
    assert rosetta_store.get_task(task.id).status is S.CREATED


def test_create_task_is_atomic(rosetta_store: Store) -> None:
    task = make_task()
    rosetta_store.create_task(task)
    with pytest.raises(sqlite3.IntegrityError):
        rosetta_store.create_task(task)
    assert rosetta_store.count_events() == 1


def test_update_task_refuses_status(rosetta_store: Store) -> None:
    task = make_task()
    rosetta_store.create_task(task)
    with pytest.raises(ValueError, match="transition"):
        rosetta_store.update_task(task.id, status=S.RUNNING)
    assert rosetta_store.update_task(task.id, handle="x").handle == "x"


def test_list_tasks_filters_and_orders(rosetta_store: Store) -> None:
    tasks = [
        make_task(name=f"t{i}", owner="ada" if i % 2 else "bob", computing=f"c{i % 3}") for i in range(9)
    ]
    rosetta_store.add_tasks(tasks)
    assert [t.name for t in rosetta_store.list_tasks(limit=3)] == ["t8", "t7", "t6"]
    assert [t.name for t in rosetta_store.list_tasks(limit=3, offset=3)] == ["t5", "t4", "t3"]
    assert [t.name for t in rosetta_store.list_tasks(offset=7)] == ["t1", "t0"]
    assert {t.owner for t in rosetta_store.list_tasks(owner="ada")} == {"ada"}
    assert len(rosetta_store.list_tasks(computing="c0")) == 3
    rosetta_store.transition(tasks[0].id, S.CREATED, S.QUEUED)
    assert rosetta_store.list_tasks(statuses=[S.QUEUED]) == [rosetta_store.get_task(tasks[0].id)]
    assert rosetta_store.count_events() == 10


def test_find_task_ambiguity(rosetta_store: Store) -> None:
    rosetta_store.add_tasks([make_task(name="same"), make_task(name="same")])
    with pytest.raises(ConflictError, match="more than one"):
        rosetta_store.find_task("same")
    with pytest.raises(NotFoundError):
        rosetta_store.find_task("nothing")


def test_concurrent_transitions_keep_one_winner(rosetta_store: Store) -> None:
    task = make_task()
    rosetta_store.create_task(task)
    wins: list[TaskStatus] = []

    def attempt(to: TaskStatus) -> None:
        try:
            rosetta_store.transition(task.id, S.CREATED, to)
            wins.append(to)
        except InvalidTransition:
            pass

    threads = [threading.Thread(target=attempt, args=(s,)) for s in (S.QUEUED, S.STOPPED, S.FAILED) * 5]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert len(rosetta_store.task_events(task.id)) == 2


def test_two_processes_share_the_file(tmp_path: Path) -> None:
    one, two = Store(tmp_path / "s.sqlite"), Store(tmp_path / "s.sqlite")
    one.migrate()
    two.migrate()
    one.create_task(make_task())
    assert len(two.list_tasks()) == 1
    one.close()
    two.close()


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    applied = store.migrate()
    assert applied[:2] == ["rosetta_core:0001_initial", "rosetta_core:0002_instance_id"]
    assert "rosetta_core:0003_task_stop_requested" in applied
    assert "rosetta_core:0005_software_needs_root" in applied
    instance = store.instance_id
    assert len(instance) == 12
    assert store.migrate() == []
    assert store.instance_id == instance
    store.close()


def test_instance_id_needs_migrations(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    with pytest.raises(Exception):
        store.instance_id
    store.close()


def test_processes_starting_together_on_a_new_store(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from rosetta_core.store import Store; "
        "s = Store(sys.argv[1]); s.migrate(); print(s.instance_id); s.close()"
    )
    for attempt in range(20):
        path = tmp_path / f"new{attempt}.sqlite"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(path)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        outputs = [p.communicate(timeout=60) for p in procs]
        assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
        assert len({out.strip() for out, _ in outputs}) == 1  # one instance id, made once


def test_exact_name_wins_and_ambiguity_is_refused(rosetta_store: Store) -> None:
    other = make_task(owner="bob")
    rosetta_store.create_task(other)
    named = make_task(name=other.id[:6])  # a name that is also the prefix of another task's id
    rosetta_store.create_task(named)
    with pytest.raises(ConflictError, match="more than one"):
        rosetta_store.find_task(other.id[:6])
    assert rosetta_store.find_task(other.id[:8]) == other
    assert rosetta_store.find_task(named.id) == named


def test_note_records_progress_without_touching_the_row(rosetta_store: Store) -> None:
    task = make_task()
    rosetta_store.create_task(task)
    event = rosetta_store.note(task.id, "pulling: 40%")
    assert (event.seq, event.from_status, event.to_status, event.detail) == (
        2,
        S.CREATED,
        S.CREATED,
        "pulling: 40%",
    )
    assert rosetta_store.get_task(task.id) == task  # updated_at untouched: no compare-and-set disturbed


def test_host_keys_are_trusted_per_computing(rosetta_store: Store) -> None:
    key = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519" + b"k" * 36).decode()
    with pytest.raises(NotFoundError):
        rosetta_store.trust_host_keys("c", [HostKey(computing="c", key_type="ssh-ed25519", key=key)])
    rosetta_store.add(Computing(name="c", engines=("podman",)))
    trusted = HostKey(computing="c", key_type="ssh-ed25519", key=key)
    rosetta_store.trust_host_keys("c", [trusted])
    rosetta_store.trust_host_keys("c", [trusted])  # idempotent
    assert rosetta_store.host_keys("c") == [trusted]
    assert trusted.fingerprint.startswith("SHA256:") and "=" not in trusted.fingerprint
    with pytest.raises(ValidationError):
        rosetta_store.trust_host_keys("c", [HostKey(computing="d", key_type="ssh-ed25519", key=key)])
    rosetta_store.trust_host_keys("c", [], replace=True)
    assert rosetta_store.host_keys("c") == []


def test_accounts_per_owner_and_computing(rosetta_store: Store) -> None:
    rosetta_store.add(Computing(name="c", engines=("podman",)))
    assert rosetta_store.account("ada", "c") is None
    rosetta_store.set_account(ComputingAccount(owner="ada", computing="c", account="ada_remote"))
    rosetta_store.set_account(ComputingAccount(owner="ada", computing="c", account="ada2"))
    assert rosetta_store.account("ada", "c") == "ada2"
    assert rosetta_store.accounts("ada") == [ComputingAccount(owner="ada", computing="c", account="ada2")]
    with pytest.raises(NotFoundError):
        rosetta_store.set_account(ComputingAccount(owner="ada", computing="nope", account="ada"))
    with pytest.raises(ValueError, match="POSIX"):
        ComputingAccount(owner="ada", computing="c", account="-oProxyCommand=x")
