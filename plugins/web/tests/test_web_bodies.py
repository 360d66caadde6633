"""Bodies read on the event loop before the application: replayed whole, bounded, timed out."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from rosetta_web.bodies import BodyFirst


class Echo:
    """An ASGI app recording the body it receives."""

    def __init__(self) -> None:
        self.body = b""
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        while True:
            message = await receive()
            self.body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def call(app: Any, method: str, chunks: list[bytes], delay: float = 0.0) -> list[Message]:
    sent: list[Message] = []
    pending = list(chunks)

    async def receive() -> Message:
        if delay:
            await asyncio.sleep(delay)
        if not pending:
            return {"type": "http.disconnect"}
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app({"type": "http", "method": method, "path": "/"}, receive, send))
    return sent


def test_a_body_in_pieces_reaches_the_application_whole() -> None:
    echo = Echo()
    sent = call(BodyFirst(echo), "POST", [b"one ", b"two ", b"three"])
    assert echo.body == b"one two three" and sent[0]["status"] == 200


def test_a_body_over_the_limit_is_cut_for_the_application_to_refuse() -> None:
    echo = Echo()
    call(BodyFirst(echo, limit=10), "PUT", [b"x" * 8, b"y" * 8, b"z" * 8])
    assert echo.body == b"x" * 8 + b"y" * 8  # the rest is never read


def test_a_body_that_trickles_in_too_slowly_is_408_and_never_reaches_the_application() -> None:
    echo = Echo()
    sent = call(BodyFirst(echo, timeout=0.2), "POST", [b"a", b"b", b"c", b"d"], delay=0.1)
    assert sent[0]["status"] == 408 and echo.calls == 0


def test_requests_without_a_body_pass_straight_through() -> None:
    echo = Echo()
    call(BodyFirst(echo, timeout=0.01), "GET", [b""], delay=0.05)
    assert echo.calls == 1
