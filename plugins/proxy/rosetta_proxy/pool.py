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
    _expiry: asyncio.TimerHandle | None = None

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

    ``per_upstream = 0`` disables pooling (every request gets a fresh connection).
    """

    def __init__(self, *, per_upstream: int = 8, idle_timeout: float = 30.0) -> None:
        self.per_upstream, self.idle_timeout = per_upstream, idle_timeout
        self._idle: dict[Key, list[Connection]] = {}
        self.opened = 0  # connections opened so far (for tests and logs)

    def idle(self, host: str, port: int) -> int:
        """How many idle connections to ``host:port`` are kept."""
        return len(self._idle.get((host, port), ()))

    async def acquire(self, host: str, port: int, *, timeout: float, fresh: bool = False) -> Connection:
        """An idle connection to ``host:port`` (the most recent first), or (``fresh``: always) a new one.

        Raises ``OSError`` or ``TimeoutError`` (after ``timeout`` s) when a new one cannot be opened.
        """
        idle = [] if fresh else self._idle.get((host, port), [])
        while idle:
            conn = idle.pop()
            if conn._expiry is not None:
                conn._expiry.cancel()
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
        idle = self._idle.setdefault(conn.key, [])
        if not reusable or not conn.usable or len(idle) >= self.per_upstream:
            await conn.close()
            return
        conn._expiry = asyncio.get_running_loop().call_later(self.idle_timeout, self._expire, conn)
        idle.append(conn)

    def _expire(self, conn: Connection) -> None:
        idle = self._idle.get(conn.key, [])
        if conn in idle:
            idle.remove(conn)
            conn.writer.close()
        if not idle:
            self._idle.pop(conn.key, None)

    async def close(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                if conn._expiry is not None:
                    conn._expiry.cancel()
                await conn.close()
