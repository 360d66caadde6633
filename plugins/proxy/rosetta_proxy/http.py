"""A strict HTTP/1.1 message parser and body streamers over asyncio streams.

Strictness is what makes request smuggling impossible: a request whose framing could be read two
ways (``Content-Length`` and ``Transfer-Encoding``, two lengths, a coding other than ``chunked``,
folded header lines, bare line feeds, junk in the request line) is refused with
:class:`BadMessage`, and the server then closes the connection. Bodies are never held whole:
they are copied in chunks of at most :data:`CHUNK` bytes, and chunked bodies are re-encoded.
"""

from __future__ import annotations

import asyncio
import re

import attrs

CHUNK = 64 * 1024
MAX_HEAD = 64 * 1024
MAX_HEADERS = 100

_TCHARS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rf"({_TCHARS}) (/[\x21-\x7e]*) HTTP/1\.([01])")
_STATUS_LINE = re.compile(r"HTTP/1\.([01]) ([1-9][0-9]{2})(?: [\t\x20-\x7e\x80-\xff]*)?")
_HEADER = re.compile(rf"({_TCHARS}):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*")
_CHUNK_SIZE = re.compile(r"([0-9A-Fa-f]{1,16})[ \t]*(?:;[\t\x20-\x7e]*)?")


class BadMessage(Exception):
    """The message is not strict HTTP/1.1; the connection must be closed after a 400."""


Headers = list[tuple[str, str]]
_NONE: list[str] = []  # the values of an absent field, shared: callers must not change them


@attrs.frozen
class Framing:
    """How a body is delimited: ``length`` bytes, ``chunked``, or (responses) until close."""

    length: int | None = None
    chunked: bool = False

    @property
    def until_close(self) -> bool:
        return self.length is None and not self.chunked


NO_BODY = Framing(length=0)


def index(headers: Headers) -> dict[str, list[str]]:
    """Lower-cased field name -> its values in order (built once per message: lookups are hot)."""
    fields: dict[str, list[str]] = {}
    for name, value in headers:
        lname = name.lower()
        if lname in fields:
            fields[lname].append(value)
        else:
            fields[lname] = [value]
    return fields


@attrs.frozen
class Request:
    """A parsed request head. ``headers`` keep their order and case."""

    method: str
    target: str
    minor: int
    headers: Headers
    framing: Framing
    fields: dict[str, list[str]] = attrs.field(
        eq=False, repr=False, default=attrs.Factory(lambda self: index(self.headers), takes_self=True)
    )

    def get(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive); the list must not be changed."""
        return self.fields.get(name.lower(), _NONE)


@attrs.frozen
class Response:
    """A parsed response head."""

    minor: int
    status: int
    reason: str
    headers: Headers
    fields: dict[str, list[str]] = attrs.field(
        eq=False, repr=False, default=attrs.Factory(lambda self: index(self.headers), takes_self=True)
    )

    def get(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive); the list must not be changed."""
        return self.fields.get(name.lower(), _NONE)


def header_values(headers: Headers, name: str) -> list[str]:
    lname = name.lower()
    return [v for k, v in headers if k.lower() == lname]


def tokens(values: list[str]) -> set[str]:
    """The lower-cased comma-separated tokens of header values (``Connection``, ``Upgrade``)."""
    return {t.strip().lower() for v in values for t in v.split(",") if t.strip()}


async def read_head(reader: asyncio.StreamReader) -> list[str] | None:
    """The lines of the next message head, or ``None`` when the peer closed before sending any."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise BadMessage("incomplete message head") from None
    except asyncio.LimitOverrunError:
        raise BadMessage("message head too large") from None
    text = raw[:-4].decode("latin-1")
    pairs = text.count("\r\n")
    if text.count("\r") != pairs or text.count("\n") != pairs:
        raise BadMessage("bare CR or LF in the message head")
    lines = text.split("\r\n")
    if len(lines) > MAX_HEADERS + 1:
        raise BadMessage("too many header fields")
    return lines


def _headers(lines: list[str]) -> Headers:
    headers: Headers = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            raise BadMessage("obsolete line folding")
        match = _HEADER.fullmatch(line)
        if match is None:
            raise BadMessage("malformed header field")
        headers.append((match[1], match[2]))
    return headers


def _framing(fields: dict[str, list[str]]) -> Framing | None:
    """The framing the header fields declare, or ``None`` when they declare none."""
    codings = fields.get("transfer-encoding")
    lengths = fields.get("content-length")
    if codings and lengths:
        raise BadMessage("both Content-Length and Transfer-Encoding")
    if codings:
        if len(codings) != 1 or codings[0].lower() != "chunked":
            raise BadMessage("a transfer coding other than chunked")
        return Framing(chunked=True)
    if lengths:
        if len(lengths) != 1 or not lengths[0].isdigit() or not lengths[0].isascii() or len(lengths[0]) > 18:
            raise BadMessage("duplicate or invalid Content-Length")
        return Framing(length=int(lengths[0]))
    return None


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request head, ``None`` at a clean end of the connection; raises :class:`BadMessage`."""
    lines = await read_head(reader)
    if lines is None:
        return None
    match = _REQUEST_LINE.fullmatch(lines[0])
    if match is None:
        raise BadMessage("malformed request line")
    headers = _headers(lines[1:])
    fields = index(headers)
    minor = int(match[3])
    if minor == 0 and "transfer-encoding" in fields:
        raise BadMessage("Transfer-Encoding in an HTTP/1.0 request")
    hosts = fields.get("host", _NONE)
    if len(hosts) > 1 or (minor == 1 and not hosts):
        raise BadMessage("missing or duplicate Host")
    return Request(match[1], match[2], minor, headers, _framing(fields) or NO_BODY, fields)


async def read_response(reader: asyncio.StreamReader) -> Response:
    """The next response head; raises :class:`BadMessage` (also when the upstream closed first)."""
    lines = await read_head(reader)
    if lines is None:
        raise BadMessage("the upstream closed the connection")
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise BadMessage("malformed status line")
    reason = lines[0][13:]
    headers = _headers(lines[1:])
    return Response(int(match[1]), int(match[2]), reason, headers, index(headers))


def response_framing(response: Response, method: str) -> Framing:
    """How the body of ``response`` to a ``method`` request is delimited (RFC 9112, 6.3)."""
    if method == "HEAD" or response.status < 200 or response.status in (204, 304):
        return NO_BODY
    return _framing(response.fields) or Framing()


def serialize_head(first_line: str, headers: Headers) -> bytes:
    lines = [first_line, *(f"{k}: {v}" for k, v in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


async def copy_body(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    framing: Framing,
    *,
    chunked_out: bool,
    read_timeout: float | None = None,
    prefix: bytes = b"",
) -> None:
    """Copy one body from ``reader`` to ``writer`` in bounded chunks, waiting for the writer to drain.

    ``chunked_out``: encode what is written with the chunked coding (required whenever the input
    is chunked: chunk extensions and trailers are dropped, never passed through).
    ``prefix`` (a message head) is written with the first piece of the body, in one write, so it
    waits for that piece (give it only for bodies that come at once, not for streamed events).
    Raises :class:`BadMessage` on a malformed chunked body or an early end of a delimited one, and
    ``TimeoutError`` when ``read_timeout`` is set and a read waits longer than that for data.
    """
    if read_timeout is not None:
        reader = _TimedReader(reader, read_timeout)  # type: ignore[assignment]
    pending = prefix  # one write for a head and a small body: a system call less per response

    async def put(data: bytes) -> None:
        nonlocal pending
        piece = b"%x\r\n%b\r\n" % (len(data), data) if chunked_out else data
        if pending:
            piece, pending = pending + piece, b""
        writer.write(piece)
        await writer.drain()

    if framing.chunked:
        while True:
            line = await _line(reader)
            match = _CHUNK_SIZE.fullmatch(line)
            if match is None:
                raise BadMessage("malformed chunk size")
            size = int(match[1], 16)
            if size == 0:
                while await _line(reader):  # trailer fields: read and drop
                    pass
                break
            while size:
                data = await reader.read(min(size, CHUNK))
                if not data:
                    raise BadMessage("body ended early")
                size -= len(data)
                await put(data)
            if await _line(reader):
                raise BadMessage("chunk not followed by CRLF")
    elif framing.length is not None:
        left = framing.length
        while left:
            data = await reader.read(min(left, CHUNK))
            if not data:
                raise BadMessage("body ended early")
            left -= len(data)
            await put(data)
    else:
        while data := await reader.read(CHUNK):
            await put(data)
    if chunked_out:
        writer.write(pending + b"0\r\n\r\n")
        await writer.drain()
    elif pending:
        writer.write(pending)
        await writer.drain()


class _TimedReader:
    """The reads ``copy_body`` makes, each bounded by ``timeout`` seconds."""

    def __init__(self, reader: asyncio.StreamReader, timeout: float) -> None:
        self._reader, self._timeout = reader, timeout

    async def read(self, n: int) -> bytes:
        async with asyncio.timeout(self._timeout):
            return await self._reader.read(n)

    async def readuntil(self, separator: bytes) -> bytes:
        async with asyncio.timeout(self._timeout):
            return await self._reader.readuntil(separator)


async def _line(reader: asyncio.StreamReader) -> str:
    try:
        raw = await reader.readuntil(b"\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        raise BadMessage("malformed chunked body") from None
    return raw[:-2].decode("latin-1")
