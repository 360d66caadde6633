"""Idle keep-alive connections to upstreams, reused by later requests.

:class:`UpstreamPool` keeps at most ``per_upstream`` idle connections for each ``(host, port)``;
one idle for ``idle_timeout`` seconds is closed. A connection is only handed back (:meth:`release`)
when its last exchange left it clean (both bodies read to their end, no ``Connection: close``);
a connection the upstream closed while it was idle is dropped when it is taken. Everything runs on
the server's event loop: the pool is not thread-safe, and needs none.
"""

from __future__ import annotations

import asyncio
import contextlib

import attrs

from rosetta_proxy import http

Key = tuple[str, int]


@attrs.define(eq=False)
class Connection:
    """One upstream connection; ``reused``: it served an earlier request."""

    key: Key
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reused: bool = False
    idle_since: float = 0.0  # the loop's time when it was last handed back

    @property
    def usable(self) -> bool:
        """Neither side has closed it (as far as the event loop has seen)."""
        return not self.writer.is_closing() and not self.reader.at_eof()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class UpstreamPool:
    """Idle upstream connections by ``(host, port)``: at most ``per_upstream`` each, ``idle_timeout`` s.

    ``per_upstream = 0`` disables pooling (every request gets a fresh connection). A connection
    idle for ``idle_timeout`` seconds is closed then (one timer for the whole pool, not one per
    release: releases are on every request's path).
    """

    def __init__(self, *, per_upstream: int = 8, idle_timeout: float = 30.0) -> None:
        self.per_upstream, self.idle_timeout = per_upstream, idle_timeout
        self._idle: dict[Key, list[Connection]] = {}  # each list oldest first
        self._sweep: asyncio.TimerHandle | None = None
        self.opened = 0  # connections opened so far (for tests and logs)

    def idle(self, host: str, port: int) -> int:
        """How many idle connections to ``host:port`` are kept."""
        return len(self._idle.get((host, port), ()))

    async def acquire(self, host: str, port: int, *, timeout: float, fresh: bool = False) -> Connection:
        """An idle connection to ``host:port`` (the most recent first), or (``fresh``: always) a new one.

        Raises ``OSError`` or ``TimeoutError`` (after ``timeout`` s) when a new one cannot be opened.
        """
        idle = None if fresh else self._idle.get((host, port))
        while idle:
            conn = idle.pop()
            if conn.usable:
                conn.reused = True
                return conn
            await conn.close()
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, limit=http.MAX_HEAD)
        self.opened += 1
        return Connection((host, port), reader, writer)

    async def release(self, conn: Connection, *, reusable: bool) -> None:
        """Keep ``conn`` for a later request when ``reusable`` and there is room; else close it."""
        idle = self._idle.get(conn.key)
        if idle is None:
            idle = self._idle[conn.key] = []
        if not reusable or not conn.usable or len(idle) >= self.per_upstream:
            await conn.close()
            return
        loop = asyncio.get_running_loop()
        conn.idle_since = loop.time()
        idle.append(conn)
        if self._sweep is None:
            self._sweep = loop.call_at(conn.idle_since + self.idle_timeout, self._expire)

    def _expire(self) -> None:
        """Close the connections idle for ``idle_timeout``; come back when the next one will be."""
        loop = asyncio.get_running_loop()
        now, due = loop.time(), None
        for key, idle in list(self._idle.items()):
            while idle and idle[0].idle_since + self.idle_timeout <= now:
                idle.pop(0).writer.close()
            if idle:
                due = idle[0].idle_since if due is None else min(due, idle[0].idle_since)
            else:
                del self._idle[key]
        self._sweep = None if due is None else loop.call_at(due + self.idle_timeout, self._expire)

    async def close(self) -> None:
        """Close every idle connection."""
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                await conn.close()
