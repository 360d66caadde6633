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
upstream answers 101, turns the connection into a byte splice until either side closes.

Client connections are kept alive when both sides' framing allows it; upstream connections are
kept in a bounded pool (:class:`~rosetta_proxy.pool.UpstreamPool`) and reused the same way. An
upstream that sends no response head within ``read_timeout`` gets the client a 504; one whose
body stalls that long has the client's connection cut. Tokens never reach the logs: the query
string is not logged.

:class:`ProxyServer` runs the asyncio server on a thread of its own, so it can be started and
closed from synchronous code (the kernel, tests).
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
from rosetta_proxy.tokens import Tokens

log = logging.getLogger(__name__)

COOKIE_NAME = "rosetta_proxy"
OPEN_PATH = "/_rosetta/open"
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


def _connection_tokens(headers: Headers) -> set[str]:
    return http.tokens(http.header_values(headers, "connection"))


def _end_to_end(headers: Headers, *, keep_upgrade: bool = False) -> Headers:
    """``headers`` without hop-by-hop fields, those named by ``Connection`` and ``Proxy-*``."""
    named = _connection_tokens(headers)
    drop = (_HOP_BY_HOP | named) - ({"upgrade"} if keep_upgrade else set())
    return [(k, v) for k, v in headers if k.lower() not in drop and not k.lower().startswith("proxy-")]


def _without_proxy_cookie(headers: Headers) -> Headers:
    out: Headers = []
    for name, value in headers:
        if name.lower() == "cookie":
            kept = [p for p in value.split(";") if p.strip().partition("=")[0] != COOKIE_NAME]
            value = ";".join(kept).strip()
            if not value:
                continue
        out.append((name, value))
    return out


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
        loop = asyncio.new_event_loop()
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
        hosts = request.get("host")
        if not self.tasks_domain or len(hosts) != 1 or hosts[0].startswith("["):
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

    def _upstream_headers(self, request: Request, client: str, route: Route, websocket: bool) -> Headers:
        headers = _without_proxy_cookie(_end_to_end(request.headers))
        headers = [
            (k, v)
            for k, v in headers
            if k.lower() not in ("content-length", "expect", "forwarded")
            and not k.lower().startswith("x-forwarded-")
        ]
        if request.framing.chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        elif request.get("content-length"):
            headers.append(("Content-Length", str(request.framing.length)))
        # the client's own X-Forwarded-* are dropped above: they could not be trusted
        headers.append(("X-Forwarded-For", client))
        headers.append(("X-Forwarded-Proto", "https" if self.secure else "http"))
        if request.get("host"):
            headers.append(("X-Forwarded-Host", request.get("host")[0]))
        if route.strip_prefix:
            headers.append(("X-Forwarded-Prefix", route.prefix.rstrip("/")))
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
        websocket = (
            request.method == "GET"
            and "upgrade" in _connection_tokens(request.headers)
            and "websocket" in http.tokens(request.get("upgrade"))
        )
        if "100-continue" in http.tokens(request.get("expect")):
            # answered here: the request is accepted as soon as it is authenticated
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        head = http.serialize_head(
            f"{request.method} {target} HTTP/1.1",
            self._upstream_headers(request, client, route, websocket),
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
            if response.status == 101:
                if not websocket:
                    return await self._refuse(writer, client, request, path, 502, "Bad Gateway\n")
                headers = [
                    *_end_to_end(response.headers),
                    ("Connection", "Upgrade"),
                    ("Upgrade", "websocket"),
                ]
                writer.write(http.serialize_head(f"HTTP/1.1 101 {response.reason}", headers))
                await writer.drain()
                await _splice(reader, writer, up_reader, up_writer)
                return False
            # an HTTP/1.0 client cannot read chunked: it gets the body decoded, then the close
            chunked_out = framing.chunked and request.minor == 1
            keep = (
                request.minor == 1
                and "close" not in _connection_tokens(request.headers)
                and not framing.until_close
            )
            # an interface must not set (or clear) the proxy's cookie: it would log its user out
            headers = [
                (k, v)
                for k, v in _end_to_end(response.headers)
                if k.lower() != "set-cookie" or v.partition("=")[0].strip() != COOKIE_NAME
            ]
            if chunked_out:
                headers.append(("Transfer-Encoding", "chunked"))
            headers.append(("Connection", "keep-alive" if keep else "close"))
            writer.write(http.serialize_head(f"HTTP/1.1 {response.status} {response.reason}", headers))
            try:
                await http.copy_body(
                    up_reader, writer, framing, chunked_out=chunked_out, read_timeout=self.read_timeout
                )
            except (BadMessage, TimeoutError) as exc:
                why = "stalled" if isinstance(exc, TimeoutError) else f"cut short: {exc}"
                log.warning("task %s: upstream body %s", route.task_id, why)
                raise _Done from None
            reusable = (
                not websocket
                and response.minor == 1
                and not framing.until_close
                and "close" not in _connection_tokens(response.headers)
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
    """Copy bytes both ways until one side closes, then give the other a grace period to finish."""

    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await src.read(http.CHUNK):
                dst.write(data)
                await dst.drain()
            if dst.can_write_eof():
                dst.write_eof()

    tasks = {asyncio.create_task(pipe(reader, up_writer)), asyncio.create_task(pipe(up_reader, writer))}
    try:
        _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if pending:
            await asyncio.wait(pending, timeout=CLOSE_GRACE)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


_REASONS = {
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    502: "Bad Gateway",
    504: "Gateway Timeout",
}
