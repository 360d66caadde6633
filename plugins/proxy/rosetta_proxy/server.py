"""The proxy server: one listening port, every task route under ``/t/<task-id>/``.

With a tasks domain, a request whose ``Host`` is ``<task-id>.<domain>`` (a known task) goes to that
task with its path as is, and its cookie is host-only with ``Path=/``; any other ``Host`` falls
back to path routing.

For each request the server, in order: parses the head strictly (400 and close on anything
ambiguous), refuses paths that could escape the task prefix (400), finds the route (404),
authenticates (the single-use link at ``/t/<id>/_rosetta/open?token=...`` sets the cookie; then
the cookie: none or invalid -> 401 or a redirect to the login URL; another user's -> 403), and
forwards the request with hop-by-hop headers removed, ``X-Forwarded-*`` set and the proxy's own
cookie taken out. Bodies are streamed both ways in bounded chunks. A WebSocket upgrade, once the
upstream answers 101, turns the connection into a byte splice until either side closes (the two
transports relay to each other directly: no task nor stream buffer per message).

Client connections are kept alive when both sides' framing allows it; upstream connections are
kept in a bounded pool (:class:`~rosetta_proxy.pool.UpstreamPool`) and reused the same way. An
upstream that sends no response head within ``read_timeout`` gets the client a 504; one whose
body stalls that long has the client's connection cut. Tokens never reach the logs: the query
string is not logged.

:class:`ProxyServer` runs the asyncio server on a uvloop event loop on a thread of its own, so it
can be started and closed from synchronous code (the kernel, tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import urllib.parse
from collections.abc import Sequence

import attrs

from rosetta_proxy import http
from rosetta_proxy.http import BadMessage, Headers, Request
from rosetta_proxy.pool import Connection, UpstreamPool
from rosetta_proxy.routes import Route, RouteTable
from rosetta_proxy.tokens import OPEN_PATH, Tokens

log = logging.getLogger(__name__)

COOKIE_NAME = "rosetta_proxy"
IDLE_TIMEOUT = 75.0
CONNECT_TIMEOUT = 10.0
# seconds an upstream may take to send a response head, and then each piece of its body
READ_TIMEOUT = 300.0
# a WebSocket half closed by one side gets this long to finish its closing handshake
CLOSE_GRACE = 5.0

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection"}
)
_TASK_PATH = re.compile(r"/t/([^/]+)(/.*)?")


class _Done(Exception):
    """A response was sent that ends the connection."""


class _ClientBody(Exception):
    """The client's request body is malformed (the client gets a 400)."""


def _escapes(path: str) -> bool:
    """Whether ``path`` could resolve outside itself once decoded (dot segments, encoded separators)."""
    lowered = path.lower()
    if "\\" in path or any(bad in lowered for bad in ("%2f", "%5c", "%00")):
        return True
    return any(segment in (".", "..") for segment in urllib.parse.unquote(path).split("/"))


def _connection_tokens(message: Request | http.Response) -> set[str]:
    return http.tokens(message.get("connection"))


# never forwarded upstream: hop-by-hop, the framing (set anew), and what the proxy itself sets
_NOT_UPSTREAM = _HOP_BY_HOP | {"content-length", "expect", "forwarded"}


def _request_headers(request: Request, connection: set[str]) -> Headers:
    """The request's end-to-end fields to send upstream, without the proxy's cookie.

    Dropped: hop-by-hop fields and those ``connection`` (the ``Connection`` tokens) names,
    ``Proxy-*``, the framing, ``Expect``, and the client's own ``Forwarded`` and ``X-Forwarded-*``.
    """
    drop = _NOT_UPSTREAM | connection if connection else _NOT_UPSTREAM
    out: Headers = []
    for name, value in request.headers:
        lname = name.lower()
        if lname in drop or lname.startswith(("proxy-", "x-forwarded-")):
            continue
        if lname == "cookie":
            value = _without_proxy_cookie(value)
            if not value:
                continue
        out.append((name, value))
    return out


def _response_headers(response: http.Response, connection: set[str]) -> Headers:
    """The response's end-to-end fields to send the client, without a ``Set-Cookie`` of the proxy's.

    An interface must not set (or clear) the proxy's cookie: it would log its user out.
    """
    drop = _HOP_BY_HOP | connection if connection else _HOP_BY_HOP
    out: Headers = []
    for name, value in response.headers:
        lname = name.lower()
        if lname in drop or lname.startswith("proxy-"):
            continue
        if lname == "set-cookie" and value.partition("=")[0].strip() == COOKIE_NAME:
            continue
        out.append((name, value))
    return out


def _without_proxy_cookie(value: str) -> str:
    """A ``Cookie`` value without the proxy's own cookie (empty when nothing else is left)."""
    if COOKIE_NAME not in value:
        return value
    kept = [p for p in value.split(";") if p.strip().partition("=")[0] != COOKIE_NAME]
    return ";".join(kept).strip()


def _proxy_cookies(request: Request) -> list[str]:
    found = []
    for header in request.get("cookie"):
        for pair in header.split(";"):
            name, _, value = pair.strip().partition("=")
            if name == COOKIE_NAME:
                found.append(value)
    return found


class ProxyServer:
    """The proxy on ``host:port`` (port 0: any free port; see :attr:`address` once started).

    ``secure``: the proxy is reached over HTTPS (through a TLS front): cookies get ``Secure`` and
    upstreams see ``X-Forwarded-Proto: https``. ``login_url``: where unauthenticated requests are
    redirected (with ``next=<path>``, or ``next=<url>`` on a task's subdomain); empty: they get 401.
    ``tasks_domain``: ``<task-id>.<tasks_domain>`` reaches a task at its root; empty: path routing only.
    """

    def __init__(
        self,
        routes: RouteTable,
        tokens: Tokens,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        secure: bool = False,
        login_url: str = "",
        read_timeout: float = READ_TIMEOUT,
        pool_size: int = 8,
        pool_idle: float = 30.0,
        tasks_domain: str = "",
    ) -> None:
        self.tasks_domain = tasks_domain.lower().rstrip(".")
        self.routes, self.tokens = routes, tokens
        self.read_timeout = read_timeout
        self.pool = UpstreamPool(per_upstream=pool_size, idle_timeout=pool_idle)
        self.host, self.port = host, port
        self.secure, self.login_url = secure, login_url
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None

    # ---------------------------------------------------------------- lifecycle

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``; only valid after :meth:`start`."""
        if self._server is None:
            raise RuntimeError("the proxy server is not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    def start(self) -> tuple[str, int]:
        """Listen and serve on a thread of its own; returns the bound address. Raises ``OSError``."""
        if self._thread is not None:
            return self.address
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="rosetta-proxy", daemon=True)
        self._thread.start()
        ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self.address

    def close(self) -> None:
        """Stop listening, end every connection and the thread. Idempotent."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = self._loop = self._server = None

    def _run(self, ready: threading.Event) -> None:
        # uvloop: the event loop and its transports in C (less time per request); imported here,
        # so that a one-off command that never serves does not load it
        import uvloop

        loop = uvloop.new_event_loop()
        try:
            server = loop.run_until_complete(
                asyncio.start_server(self._serve, self.host, self.port, limit=http.MAX_HEAD)
            )
        except BaseException as exc:
            self._error = exc
            loop.close()
            ready.set()
            return
        self._loop, self._server = loop, server
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown(server))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _shutdown(self, server: asyncio.Server) -> None:
        server.close()
        for task in self._connections:
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self.pool.close()
        await server.wait_closed()

    # ---------------------------------------------------------------- connections

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        client = peer[0] if isinstance(peer, tuple) else "unknown"
        try:
            while True:
                try:
                    async with asyncio.timeout(IDLE_TIMEOUT):
                        request = await http.read_request(reader)
                except BadMessage as exc:
                    log.info("%s bad request: %s", client, exc)
                    await self._simple(writer, 400, "Bad Request\n")
                    break
                if request is None:
                    break
                try:
                    if not await self._handle(request, reader, writer, client):
                        break
                except _Done:
                    break
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # only close() cancels a connection; ending quietly keeps Python 3.11's stream
            # callback from logging the cancelled task as an error
            pass
        except Exception:
            # a bug must end this connection only; tracebacks carry no tokens (no locals)
            log.exception("%s: the proxy connection failed", client)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _simple(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: str,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Send a small response of the proxy's own; the connection is closed after it."""
        data = body.encode()
        head = [*headers, ("Content-Type", "text/plain; charset=utf-8")]
        head += [("Content-Length", str(len(data))), ("Connection", "close")]
        writer.write(http.serialize_head(f"HTTP/1.1 {status} {_REASONS.get(status, '')}", head) + data)
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def _refuse(
        self,
        writer: asyncio.StreamWriter,
        client: str,
        request: Request,
        path: str,
        status: int,
        body: str,
        headers: Sequence[tuple[str, str]] = (),
    ) -> bool:
        log.info("%s %s %s -> %d", client, request.method, path, status)
        await self._simple(writer, status, body, headers)
        return False

    async def _handle(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: str
    ) -> bool:
        """Answer one request; returns whether the connection may serve another."""
        path, _, query = request.target.partition("?")
        if _escapes(path):
            return await self._refuse(writer, client, request, path, 400, "Bad Request\n")
        route = self._subdomain_route(request)
        if route is not None:
            return await self._handle_subdomain(request, reader, writer, client, route, path, query)
        match = _TASK_PATH.fullmatch(path)
        route = self.routes.get(match[1]) if match else None
        if match is None or route is None:
            return await self._refuse(writer, client, request, path, 404, "Not Found\n")
        rest = match[2]
        if rest is None:
            return await self._refuse(writer, client, request, path, 302, "", [("Location", route.prefix)])
        if rest == OPEN_PATH:
            return await self._open(request, writer, client, route, path, query, route.prefix, route.prefix)
        if not await self._authorized(request, writer, client, route, path, path):
            return False
        upstream_path = rest if route.strip_prefix else path
        target = f"{upstream_path}?{query}" if query else upstream_path
        return await self._forward(request, reader, writer, client, route, target, path)

    def _subdomain_route(self, request: Request) -> Route | None:
        """The route of the task the ``Host`` names as ``<task-id>.<tasks_domain>``, or ``None``."""
        if not self.tasks_domain:
            return None
        hosts = request.get("host")
        if len(hosts) != 1 or hosts[0].startswith("["):
            return None
        name, colon, port = hosts[0].strip().lower().partition(":")
        label, dot, domain = name.rstrip(".").partition(".")
        if not dot or domain != self.tasks_domain or (colon and not port.isdigit()):
            return None
        return self.routes.get(label)

    async def _handle_subdomain(
        self,
        request: Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: str,
        route: Route,
        path: str,
        query: str,
    ) -> bool:
        """A request on the task's own subdomain: the path goes upstream as is, the cookie is for ``/``."""
        home = "/" if route.strip_prefix else route.prefix
        if path == OPEN_PATH:
            return await self._open(request, writer, client, route, path, query, home, "/")
        scheme = "https" if self.secure else "http"
        url = f"{scheme}://{request.get('host')[0]}{path}"
        if not await self._authorized(request, writer, client, route, path, url):
            return False
        # no prefix to strip nor announce: the task is at the root of its origin
        at_root = attrs.evolve(route, strip_prefix=False) if route.strip_prefix else route
        return await self._forward(request, reader, writer, client, at_root, request.target, path)

    async def _authorized(
        self,
        request: Request,
        writer: asyncio.StreamWriter,
        client: str,
        route: Route,
        path: str,
        next_url: str,
    ) -> bool:
        """Whether a cookie grants ``route`` to its owner; if not, the refusal is sent (401/302/403)."""
        granted = [g for g in map(self.tokens.check_cookie, _proxy_cookies(request)) if g is not None]
        if not granted:
            return await self._unauthorized(request, writer, client, path, next_url)
        if not any(g.task_id == route.task_id and g.owner == route.owner for g in granted):
            return await self._refuse(writer, client, request, path, 403, "Forbidden\n")
        return True

    async def _open(
        self,
        request: Request,
        writer: asyncio.StreamWriter,
        client: str,
        route: Route,
        path: str,
        query: str,
        home: str,
        cookie_path: str,
    ) -> bool:
        tokens = urllib.parse.parse_qs(query).get("token", [])
        grant = self.tokens.redeem_link(tokens[0]) if len(tokens) == 1 else None
        if grant is None or grant.task_id != route.task_id:
            return await self._refuse(
                writer, client, request, path, 401, "This link is invalid, expired or used.\n"
            )
        if grant.owner != route.owner:
            return await self._refuse(writer, client, request, path, 403, "Forbidden\n")
        cookie = (
            f"{COOKIE_NAME}={self.tokens.mint_cookie(route.task_id, route.owner)}; Path={cookie_path}; "
            f"Max-Age={int(self.tokens.cookie_ttl)}; HttpOnly; SameSite=Lax"
        )
        if self.secure:
            cookie += "; Secure"
        headers = [("Location", home), ("Set-Cookie", cookie), ("Cache-Control", "no-store")]
        return await self._refuse(writer, client, request, path, 302, "", headers)

    async def _unauthorized(
        self, request: Request, writer: asyncio.StreamWriter, client: str, path: str, next_url: str
    ) -> bool:
        if not self.login_url:
            return await self._refuse(writer, client, request, path, 401, "Unauthorized\n")
        sep = "&" if "?" in self.login_url else "?"
        location = f"{self.login_url}{sep}next={urllib.parse.quote(next_url, safe='/')}"
        return await self._refuse(writer, client, request, path, 302, "", [("Location", location)])

    # ---------------------------------------------------------------- forwarding

    def _upstream_headers(
        self, request: Request, client: str, route: Route, websocket: bool, connection: set[str]
    ) -> Headers:
        headers = _request_headers(request, connection)
        if request.framing.chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        elif "content-length" in request.fields:
            headers.append(("Content-Length", str(request.framing.length)))
        # the client's own X-Forwarded-* are dropped above: they could not be trusted
        headers.append(("X-Forwarded-For", client))
        headers.append(("X-Forwarded-Proto", "https" if self.secure else "http"))
        hosts = request.get("host")
        if hosts:
            headers.append(("X-Forwarded-Host", hosts[0]))
        if route.strip_prefix:
            headers.append(("X-Forwarded-Prefix", route.prefix.rstrip("/")))
        if route.authorization is not None and "authorization" not in request.fields:
            headers.append(("Authorization", route.authorization))
        if websocket:
            headers += [("Connection", "Upgrade"), ("Upgrade", "websocket")]
        return headers

    async def _forward(
        self,
        request: Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: str,
        route: Route,
        target: str,
        path: str,
    ) -> bool:
        connection = _connection_tokens(request)
        websocket = (
            request.method == "GET"
            and "upgrade" in connection
            and "websocket" in http.tokens(request.get("upgrade"))
        )
        if "expect" in request.fields and "100-continue" in http.tokens(request.get("expect")):
            # answered here: the request is accepted as soon as it is authenticated
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        head = http.serialize_head(
            f"{request.method} {target} HTTP/1.1",
            self._upstream_headers(request, client, route, websocket, connection),
        )
        # a reused connection the upstream closed meanwhile is retried once on a fresh one, when
        # nothing of the request could have been consumed: it has no body
        retry = not request.framing.chunked and not request.framing.length
        conn: Connection | None = None
        reusable = False
        try:
            for fresh in (False, True):
                try:
                    conn = await self.pool.acquire(
                        route.host, route.port, timeout=CONNECT_TIMEOUT, fresh=fresh
                    )
                except (OSError, TimeoutError) as exc:
                    log.warning(
                        "task %s: upstream %s:%d unreachable: %s", route.task_id, route.host, route.port, exc
                    )
                    return await self._refuse(writer, client, request, path, 502, "Bad Gateway\n")
                try:
                    response = await self._exchange(conn, head, request, reader)
                    break
                except _ClientBody:
                    return await self._refuse(writer, client, request, path, 400, "Bad Request\n")
                except TimeoutError:
                    log.warning("task %s: the upstream sent no response in time", route.task_id)
                    return await self._refuse(writer, client, request, path, 504, "Gateway Timeout\n")
                except (BadMessage, ConnectionError) as exc:
                    if conn.reused and retry and not fresh:
                        await self.pool.release(conn, reusable=False)
                        conn = None
                        continue
                    log.warning("task %s: bad upstream response: %s", route.task_id, exc)
                    return await self._refuse(writer, client, request, path, 502, "Bad Gateway\n")
            assert conn is not None
            up_reader, up_writer = conn.reader, conn.writer
            framing = http.response_framing(response, request.method)
            log.info("%s %s %s -> %d", client, request.method, path, response.status)
            up_connection = _connection_tokens(response)
            if response.status == 101:
                if not websocket:
                    return await self._refuse(writer, client, request, path, 502, "Bad Gateway\n")
                headers = [
                    *_response_headers(response, up_connection),
                    ("Connection", "Upgrade"),
                    ("Upgrade", "websocket"),
                ]
                writer.write(http.serialize_head(f"HTTP/1.1 101 {response.reason}", headers))
                await writer.drain()
                await _splice(reader, writer, up_reader, up_writer)
                return False
            # an HTTP/1.0 client cannot read chunked: it gets the body decoded, then the close
            chunked_out = framing.chunked and request.minor == 1
            keep = request.minor == 1 and "close" not in connection and not framing.until_close
            headers = _response_headers(response, up_connection)
            if chunked_out:
                headers.append(("Transfer-Encoding", "chunked"))
            headers.append(("Connection", "keep-alive" if keep else "close"))
            out_head = http.serialize_head(f"HTTP/1.1 {response.status} {response.reason}", headers)
            if framing.length is None:
                writer.write(out_head)  # a stream (events, a chunked body): its head goes at once
                out_head = b""
            try:
                await http.copy_body(
                    up_reader,
                    writer,
                    framing,
                    chunked_out=chunked_out,
                    read_timeout=self.read_timeout,
                    prefix=out_head,
                )
            except (BadMessage, TimeoutError) as exc:
                why = "stalled" if isinstance(exc, TimeoutError) else f"cut short: {exc}"
                log.warning("task %s: upstream body %s", route.task_id, why)
                raise _Done from None
            reusable = (
                not websocket
                and response.minor == 1
                and not framing.until_close
                and "close" not in up_connection
            )
            return keep
        finally:
            if conn is not None:
                await self.pool.release(conn, reusable=reusable)

    async def _exchange(
        self, conn: Connection, head: bytes, request: Request, reader: asyncio.StreamReader
    ) -> http.Response:
        """Send the request (head and body) on ``conn`` and read the final response head.

        Raises :class:`_ClientBody` when the client's body is malformed, ``TimeoutError`` when the
        upstream sends no head within ``read_timeout``, :class:`BadMessage` or ``ConnectionError``
        when the upstream fails.
        """
        conn.writer.write(head)
        try:
            await http.copy_body(reader, conn.writer, request.framing, chunked_out=request.framing.chunked)
        except BadMessage:
            raise _ClientBody from None
        async with asyncio.timeout(self.read_timeout):
            response = await http.read_response(conn.reader)
            while response.status < 200 and response.status != 101:
                response = await http.read_response(conn.reader)  # interim responses are dropped
        return response


async def _splice(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    """Copy bytes both ways until one side closes, then give the other a grace period to finish.

    The two transports are relayed at the protocol level: what arrives on one is written to the
    other from the event loop's callback, with no task nor stream buffer per message, and reading
    pauses while the other side's write buffer is full. Bytes the streams had already buffered
    are sent first. Both connections are left to their owners to close.
    """
    loop = asyncio.get_running_loop()
    first, both = loop.create_future(), loop.create_future()
    client = _Relay(writer, up_writer.transport, first, both)
    upstream = _Relay(up_writer, writer.transport, first, both)
    client.start(reader)
    upstream.start(up_reader)
    try:
        await first
        await asyncio.wait_for(asyncio.shield(both), CLOSE_GRACE)
    except TimeoutError:
        pass
    finally:
        client.stop()
        upstream.stop()


class _Relay(asyncio.Protocol):
    """One direction of a splice: the protocol of the transport of ``writer``, writing to ``peer``.

    ``first`` is resolved when either direction ends (end of input or a lost connection),
    ``both`` when the two have. ``connection_lost`` is passed on to the stream's own protocol, so
    the stream's ``wait_closed`` still returns.
    """

    def __init__(
        self,
        writer: asyncio.StreamWriter,
        peer: asyncio.WriteTransport,
        first: asyncio.Future[None],
        both: asyncio.Future[None],
    ) -> None:
        self.transport = writer.transport
        self.stream_protocol = self.transport.get_protocol()
        self.peer, self.first, self.both = peer, first, both
        self.done = False

    def start(self, reader: asyncio.StreamReader) -> None:
        """Take the transport over from ``reader``: its buffered bytes go first, then the rest."""
        self.transport.set_protocol(self)
        # a stream keeps what it read ahead privately; it is this side's first data
        buffered: bytearray = reader._buffer  # type: ignore[attr-defined]
        if buffered:
            self.data_received(bytes(buffered))
            buffered.clear()
        if reader.at_eof() or reader.exception() is not None or self.transport.is_closing():
            self._end()
        elif isinstance(self.transport, asyncio.ReadTransport) and not self.transport.is_reading():
            self.transport.resume_reading()  # the stream may have paused it when its buffer was full

    def stop(self) -> None:
        """Give the transport back to its stream's protocol (which then sees it closed)."""
        if self.transport.get_protocol() is self:
            self.transport.set_protocol(self.stream_protocol)

    def data_received(self, data: bytes) -> None:
        if not self.peer.is_closing():
            self.peer.write(data)

    def eof_received(self) -> bool:
        if self.peer.can_write_eof() and not self.peer.is_closing():
            self.peer.write_eof()
        self._end()
        return True  # keep the transport: the other direction may still be going

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()
        self.stream_protocol.connection_lost(exc)

    def pause_writing(self) -> None:
        # this side's write buffer is full: stop reading what fills it
        if isinstance(self.peer, asyncio.ReadTransport) and not self.peer.is_closing():
            self.peer.pause_reading()

    def resume_writing(self) -> None:
        if isinstance(self.peer, asyncio.ReadTransport) and not self.peer.is_closing():
            self.peer.resume_reading()

    def _end(self) -> None:
        if self.done:
            return
        self.done = True
        if not self.first.done():
            self.first.set_result(None)
        elif not self.both.done():
            self.both.set_result(None)


_REASONS = {
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    502: "Bad Gateway",
    504: "Gateway Timeout",
}
