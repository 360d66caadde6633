from __future__ import annotations

from rosetta_auth_local.tables import API_TOKENS, CREDENTIALS, FAILURES, SESSIONS, digest, migrations
from rosetta_core.kernel import Kernel


def test_migrations_make_the_tables(kernel: Kernel) -> None:
    names = set(kernel.store.db.table_names())
    assert {CREDENTIALS, FAILURES, SESSIONS, API_TOKENS} <= names
    assert [m.name for m in migrations.pending(kernel.store.db)] == []


def test_migrating_again_changes_nothing(kernel: Kernel) -> None:
    assert kernel.store.migrate([migrations]) == []


def test_digest() -> None:
    assert digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert len(digest("\udcff")) == 64
