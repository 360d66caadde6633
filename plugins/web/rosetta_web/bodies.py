"""Request bodies read on the event loop first: :class:`BodyFirst`, an ASGI middleware.

The endpoints are plain functions on a bounded thread pool; one that read its body itself would
hold its thread while a slow client trickles the body in, and a few dozen such clients would
stall every page. This middleware reads the body of every request that may carry one before the
application sees it, within :data:`BODY_TIMEOUT` seconds (else 408, and the request never reaches
a thread), and at most :data:`MAX_READ` bytes (what is over is left unread; the endpoints' own,
smaller limits then answer 413).

:func:`read_body` is how an endpoint, on its worker thread, takes that body within its own limit.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio.from_thread
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rosetta_web.errors import TooLarge

BODY_TIMEOUT = 30.0
MAX_READ = 256 * 1024
_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyFirst:
    """Wraps ``app``: bodies are read here, then replayed to it."""

    def __init__(self, app: ASGIApp, *, timeout: float = BODY_TIMEOUT, limit: int = MAX_READ) -> None:
        self.app = app
        self.timeout = timeout
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        try:
            messages = await asyncio.wait_for(self._read(receive), self.timeout)
        except TimeoutError:
            await _answer(send, 408, b"the request body did not arrive in time")
            return
        await self.app(scope, _replay(messages, receive), send)

    async def _read(self, receive: Receive) -> list[Message]:
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages  # the client went away: the application sees it
            size += len(message.get("body", b""))
            if not message.get("more_body", False) or size > self.limit:
                messages[-1] = {**message, "more_body": False}
                return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    queue = list(messages)

    async def replayed() -> Message:
        # after the body, wait on the real channel (a disconnect) as Starlette expects
        return queue.pop(0) if queue else await receive()

    return replayed


async def _answer(send: Send, status: int, text: bytes) -> None:
    headers: list[tuple[bytes, Any]] = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(text)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})


def read_body(request: Request, limit: int, too_large: type[TooLarge] = TooLarge) -> bytes:
    """The request's body, from an endpoint's worker thread; raises ``too_large`` when it is over
    ``limit`` bytes, by its ``Content-Length`` or as it streams (a missing or false length must
    not let more in)."""
    message = f"the request body is over {limit // 1024} KiB"
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large(message)

    async def read() -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(message)
            chunks.append(chunk)
        return b"".join(chunks)

    return anyio.from_thread.run(read)
