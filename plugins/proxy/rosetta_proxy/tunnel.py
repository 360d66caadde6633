"""The ``proxy`` tunnel: opening a task adds its route to the proxy; closing removes it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from rosetta_core.model import Computing, Task
from rosetta_core.tunnels import Endpoint
from rosetta_proxy.options import ProxyOptions
from rosetta_proxy.routes import Route, RouteTable
from rosetta_proxy.server import OPEN_PATH, ProxyServer
from rosetta_proxy.tokens import Tokens


class ProxyTunnel:
    """Makes task interfaces reachable through one :class:`~rosetta_proxy.server.ProxyServer`.

    ``open`` is idempotent and the route is live as soon as it returns (the server reads the route
    table on every request); ``close`` of an unknown task is a no-op. The server itself is started
    by :meth:`start` (the tunnel works without it: routes wait in the table).
    ``strip_prefix``: the default for new routes (per route through :meth:`open_route`).
    """

    name = "proxy"

    def __init__(
        self,
        secret: str | Callable[[], str],
        options: ProxyOptions | None = None,
        *,
        strip_prefix: bool = False,
    ) -> None:
        self.options = options or ProxyOptions()
        self.routes = RouteTable()
        self.tokens = Tokens(secret, link_ttl=self.options.link_ttl, cookie_ttl=self.options.cookie_ttl)
        self.strip_prefix = strip_prefix
        host, port = self.options.address
        self.server = ProxyServer(
            self.routes,
            self.tokens,
            host=host,
            port=port,
            secure=self.options.secure_cookies,
            login_url=self.options.login_url,
        )
        self._endpoints: dict[str, Endpoint] = {}
        self._lock = threading.Lock()

    def start(self) -> tuple[str, int]:
        """Start the proxy server (idempotent); returns the address it listens on."""
        return self.server.start()

    def close_all(self) -> None:
        """Stop the server and forget every route."""
        self.server.close()
        with self._lock:
            for task_id in list(self._endpoints):
                self.routes.remove(task_id)
            self._endpoints.clear()

    def open(self, task: Task, computing: Computing) -> Endpoint:
        return self.open_route(task, strip_prefix=self.strip_prefix)

    def open_route(self, task: Task, *, strip_prefix: bool) -> Endpoint:
        """Add (or keep) the route of ``task``; raises ``ValueError`` when it has no interface address."""
        if task.interface_host is None or task.interface_port is None:
            raise ValueError(f"task {task.id} has no interface address yet")
        with self._lock:
            endpoint = self._endpoints.get(task.id)
            if endpoint is None:
                self.routes.add(
                    Route(
                        task_id=task.id,
                        owner=task.owner,
                        host=task.interface_host,
                        port=task.interface_port,
                        strip_prefix=strip_prefix,
                    )
                )
                host, port = self.options.address
                url = f"{self.options.public_url}/t/{task.id}/"
                endpoint = self._endpoints[task.id] = Endpoint(host=host, port=port, url=url)
            return endpoint

    def endpoint(self, task_id: str) -> Endpoint | None:
        with self._lock:
            return self._endpoints.get(task_id)

    def close(self, task_id: str) -> None:
        with self._lock:
            self._endpoints.pop(task_id, None)
            self.routes.remove(task_id)

    def open_link(self, task: Task) -> str:
        """A single-use link (valid ``link_ttl`` seconds) that gives the task's owner the cookie.

        Hand it only to ``task.owner``, right after checking who they are; it is a bearer secret.
        """
        token = self.tokens.mint_link(task.id, task.owner)
        return f"{self.options.public_url}/t/{task.id}{OPEN_PATH}?token={token}"
