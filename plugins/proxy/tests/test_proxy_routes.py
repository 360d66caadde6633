"""The route table."""

from __future__ import annotations

import threading

from rosetta_proxy.routes import Route, RouteTable


def route(task_id: str, port: int = 1) -> Route:
    return Route(task_id=task_id, owner="alice", host="127.0.0.1", port=port)


def test_add_get_remove() -> None:
    table = RouteTable()
    assert table.get("a") is None and table.remove("a") is None
    added = table.add(route("a"))
    assert table.get("a") == added and len(table) == 1
    assert added.prefix == "/t/a/" and not added.strip_prefix
    table.add(route("a", port=2))
    assert table.get("a") == route("a", port=2) and len(table) == 1
    assert table.remove("a") == route("a", port=2)
    assert table.get("a") is None and len(table) == 0


def test_changes_from_many_threads() -> None:
    table = RouteTable()

    def work(n: int) -> None:
        for i in range(200):
            table.add(route(f"{n}-{i}"))
        for i in range(0, 200, 2):
            table.remove(f"{n}-{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(table) == 8 * 100
    assert table.get("3-1") is not None and table.get("3-2") is None
