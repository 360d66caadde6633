"""The strict parser on its own: what it accepts, what it refuses, how bodies are re-framed."""

from __future__ import annotations

import asyncio

import pytest

from rosetta_proxy import http
from rosetta_proxy.http import BadMessage, Framing


def parse(data: bytes) -> http.Request | None:
    async def run() -> http.Request | None:
        reader = asyncio.StreamReader(limit=http.MAX_HEAD)
        reader.feed_data(data)
        reader.feed_eof()
        return await http.read_request(reader)

    return asyncio.run(run())


def test_a_plain_request() -> None:
    request = parse(b"GET /t/a/?x=1 HTTP/1.1\r\nHost: h\r\nX-A:  spaced  \r\n\r\n")
    assert request is not None
    assert (request.method, request.target, request.minor) == ("GET", "/t/a/?x=1", 1)
    assert request.get("x-a") == ["spaced"] and request.framing == Framing(length=0)


def test_framing() -> None:
    chunked = parse(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n")
    assert chunked is not None and chunked.framing.chunked
    sized = parse(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n")
    assert sized is not None and sized.framing == Framing(length=12)


def test_a_clean_end_is_none() -> None:
    assert parse(b"") is None


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: h\r\n",  # cut short
        b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: \xd9\xa1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length : 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"Host: h\r\n\r\n",
        b"GET /" + b"a" * http.MAX_HEAD + b" HTTP/1.1\r\nHost: h\r\n\r\n",
    ],
)
def test_refused(data: bytes) -> None:
    with pytest.raises(BadMessage):
        parse(data)


def copy(data: bytes, framing: Framing, *, chunked_out: bool) -> bytes:
    """What :func:`http.copy_body` writes for ``data`` (through a real socket pair)."""

    async def run() -> bytes:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        received = bytearray()
        done = asyncio.Event()

        async def sink(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            received.extend(await r.read())
            w.close()
            await w.wait_closed()
            done.set()

        server = await asyncio.start_server(sink, "127.0.0.1", 0)
        _, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
        try:
            await http.copy_body(reader, writer, framing, chunked_out=chunked_out)
        finally:
            writer.close()
            await writer.wait_closed()
            await done.wait()
            server.close()
            await server.wait_closed()
        return bytes(received)

    return asyncio.run(run())


def test_chunked_bodies_are_re_encoded_without_extensions_or_trailers() -> None:
    data = b"5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\nNEXT"
    assert copy(data, Framing(chunked=True), chunked_out=True) == b"5\r\nhello\r\n0\r\n\r\n"


def test_length_bodies_stop_at_their_length() -> None:
    assert copy(b"helloNEXT", Framing(length=5), chunked_out=False) == b"hello"


@pytest.mark.parametrize(
    "data", [b"zz\r\n", b"5\r\nhel", b"5\r\nhello", b"5\r\nhelloXX\r\n0\r\n\r\n", b"5\n"]
)
def test_bad_chunked_bodies(data: bytes) -> None:
    with pytest.raises(BadMessage):
        copy(data, Framing(chunked=True), chunked_out=True)


def test_response_framing() -> None:
    ok = http.Response(1, 200, "OK", [("Content-Length", "3")])
    assert http.response_framing(ok, "GET") == Framing(length=3)
    assert http.response_framing(ok, "HEAD") == http.NO_BODY
    assert http.response_framing(http.Response(1, 204, "", []), "GET") == http.NO_BODY
    assert http.response_framing(http.Response(1, 200, "", []), "GET").until_close
