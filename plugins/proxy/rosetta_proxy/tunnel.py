"""The ``proxy`` tunnel: opening a task adds its route to the proxy; closing removes it."""

from __future__ import annotations

import base64
import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from rosetta_core.model import AuthConvention, Computing, Software, Task
from rosetta_core.tunnels import Endpoint
from rosetta_proxy.options import ProxyOptions
from rosetta_proxy.routes import Route, RouteTable
from rosetta_proxy.tokens import OPEN_PATH, Tokens
from rosetta_proxy.transport import Transports

if TYPE_CHECKING:
    from rosetta_proxy.server import ProxyServer


def task_authorization(task: Task, convention: AuthConvention) -> str | None:
    """The ``Authorization`` value that signs the task's owner in to its interface, or ``None``.

    The task's token is the interface's password (``AUTH_PASS``): ``password`` software gets
    ``token <token>`` (the scheme Jupyter servers take; other servers ignore the header, and their
    own login still asks for the password, which the owner can see), ``user_password`` software
    HTTP Basic with the owner's name.
    """
    if task.auth_token is None:
        return None
    if convention is AuthConvention.PASSWORD:
        return f"token {task.auth_token}"
    if convention is AuthConvention.USER_PASSWORD:
        pair = f"{task.owner}:{task.auth_token}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")
    return None


class ProxyTunnel:
    """Makes task interfaces reachable through one :class:`~rosetta_proxy.server.ProxyServer`.

    ``open`` is idempotent and the route is live as soon as it returns (the server reads the route
    table on every request); ``close`` of an unknown task is a no-op. The server itself is started
    by :meth:`start` (the tunnel works without it: routes wait in the table).
    ``software``: looks up a task's software by name (the plugin passes the kernel's store); then
    :meth:`open` keeps the ``/t/<task-id>/`` prefix for software that ``keeps_prefix`` (it serves
    under ``BASE_URL`` itself) and strips it for other software. Without it, or when the software is
    not found, ``strip_prefix`` is the default (per route through :meth:`open_route`).
    ``transports``: how the proxy reaches a task's interface (the plugin passes
    :class:`~rosetta_proxy.transport.Transports`, which follows the resource's ``transport``
    option); without it, the interface's own address.
    """

    name = "proxy"

    def __init__(
        self,
        secret: str | Callable[[], str],
        options: ProxyOptions | None = None,
        *,
        strip_prefix: bool = False,
        software: Callable[[str], Software | None] | None = None,
        transports: Transports | None = None,
    ) -> None:
        self.options = options or ProxyOptions()
        self.routes = RouteTable()
        self.tokens = Tokens(secret, link_ttl=self.options.link_ttl, cookie_ttl=self.options.cookie_ttl)
        self.strip_prefix = strip_prefix
        self._software = software
        self._transports = transports
        self._endpoints: dict[str, Endpoint] = {}
        self._lock = threading.Lock()

    @functools.cached_property
    def server(self) -> ProxyServer:
        """The proxy server (made on first use: asyncio and the server's modules are imported
        only by a process that serves or tests it)."""
        from rosetta_proxy.server import ProxyServer

        host, port = self.options.address
        return ProxyServer(
            self.routes,
            self.tokens,
            host=host,
            port=port,
            secure=self.options.secure_cookies,
            login_url=self.options.login_url,
            read_timeout=self.options.read_timeout,
            pool_size=self.options.upstream_pool,
            pool_idle=self.options.upstream_idle,
            tasks_domain=self.options.tasks_domain,
        )

    def start(self) -> tuple[str, int]:
        """Start the proxy server (idempotent); returns the address it listens on.

        With ``listen`` on port 0, ``options`` then name the port the server got, so endpoint URLs
        and links made afterwards lead to it.
        """
        host, port = self.server.start()
        if self.options.address[1] == 0:
            listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            self.options = attrs.evolve(self.options, listen=listen)
        return host, port

    def serve(self) -> str:
        """Start the server for a long-running process (``rosetta serve``); returns the users' URL.

        This is the kernel's duck-typed ``serve()`` of a tunnel that serves users itself
        (:meth:`rosetta_core.connections.Connections.serve`); the server stops with the kernel.
        """
        self.start()
        return self.options.public_url

    def close_all(self) -> None:
        """Stop the server and forget every route."""
        if "server" in self.__dict__:  # made: it may be running
            self.server.close()
        with self._lock:
            for task_id in list(self._endpoints):
                self.routes.remove(task_id)
            self._endpoints.clear()

    def open(self, task: Task, computing: Computing) -> Endpoint:
        """Open the route of ``task``: the prefix is stripped unless its software ``keeps_prefix``."""
        with self._lock:  # open again after every reconcile pass: no store read for an open route
            if task.id in self._endpoints:
                return self._endpoints[task.id]
        software = self._software(task.software) if self._software is not None else None
        strip = self.strip_prefix if software is None else not software.keeps_prefix
        authorization = task_authorization(task, software.auth) if software is not None else None
        upstream = self._transports.upstream(task, computing) if self._transports is not None else None
        return self.open_route(task, strip_prefix=strip, upstream=upstream, authorization=authorization)

    def open_route(
        self,
        task: Task,
        *,
        strip_prefix: bool,
        upstream: tuple[str, int] | None = None,
        authorization: str | None = None,
    ) -> Endpoint:
        """Add (or keep) the route of ``task`` to ``upstream`` (default: its interface address),
        sending ``authorization`` upstream on the owner's behalf (see
        :func:`task_authorization`); raises ``ValueError`` when it has no interface address.

        The endpoint's URL is ``{public_url}/t/<task-id>/``; with ``tasks_domain`` it is on the task's
        subdomain: its root when the prefix is stripped, else ``/t/<task-id>/`` there.
        """
        if task.interface_host is None or task.interface_port is None:
            raise ValueError(f"task {task.id} has no interface address yet")
        with self._lock:
            endpoint = self._endpoints.get(task.id)
            if endpoint is None:
                to_host, to_port = upstream or (task.interface_host, task.interface_port)
                self.routes.add(
                    Route(
                        task_id=task.id,
                        owner=task.owner,
                        host=to_host,
                        port=to_port,
                        strip_prefix=strip_prefix,
                        authorization=authorization,
                    )
                )
                host, port = self.options.address
                url = self._origin(task.id) + (
                    "/" if strip_prefix and self.options.tasks_domain else f"/t/{task.id}/"
                )
                endpoint = self._endpoints[task.id] = Endpoint(host=host, port=port, url=url)
            return endpoint

    def endpoint(self, task_id: str) -> Endpoint | None:
        with self._lock:
            return self._endpoints.get(task_id)

    def close(self, task_id: str) -> None:
        with self._lock:
            self._endpoints.pop(task_id, None)
            self.routes.remove(task_id)
        if self._transports is not None:
            self._transports.release(task_id)

    def open_link(self, task: Task) -> str:
        """A single-use link (valid ``link_ttl`` seconds) that gives the task's owner the cookie.

        With ``tasks_domain`` it is on the task's subdomain (``<origin>/_rosetta/open?token=...``)
        and the cookie it sets is host-only there; otherwise under ``/t/<task-id>/``.

        Hand it only to ``task.owner``, right after checking who they are; it is a bearer secret.
        """
        token = self.tokens.mint_link(task.id, task.owner)
        if self.options.tasks_domain:
            return f"{self._origin(task.id)}{OPEN_PATH}?token={token}"
        return f"{self.options.public_url}/t/{task.id}{OPEN_PATH}?token={token}"

    def _origin(self, task_id: str) -> str:
        """Where the task's URL starts: its subdomain with ``tasks_domain``, else the public URL."""
        if self.options.tasks_domain:
            return self.options.task_origin(task_id)
        return self.options.public_url
