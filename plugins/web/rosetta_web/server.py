"""Serving the front on a thread: :class:`WebServer` (uvicorn, one worker, loopback by default)."""

from __future__ import annotations

import threading
import time

import uvicorn
from starlette.applications import Starlette

START_TIMEOUT = 10.0


class WebServer:
    """Runs ``app`` on ``host:port`` from :meth:`start` until :meth:`close` (both idempotent)."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def start(self) -> tuple[str, int]:
        """Start serving; returns the bound (host, port). Raises ``OSError`` when it cannot bind."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.run, name="rosetta-web", daemon=True)
            self._thread.start()
            deadline = time.monotonic() + START_TIMEOUT
            while not self._server.started:
                if not self._thread.is_alive() or time.monotonic() > deadline:
                    raise OSError(f"the web front could not listen on {self._configured()}")
                time.sleep(0.02)
        return self.address

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port) once started."""
        for server in getattr(self._server, "servers", ()):
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                return str(host), int(port)
        return self._configured()

    def _configured(self) -> tuple[str, int]:
        return str(self._server.config.host), int(self._server.config.port)

    def close(self) -> None:
        """Stop serving and wait for the thread (open requests get a few seconds)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._server.should_exit = True
            thread.join(10)
