"""Agent reports received over HTTP: verified, then applied like the scheduler's observations.

:func:`apply_report` is what any front end calls with a request's headers and body (the web
front mounts it; :class:`ReportServer` is a small standalone listener for ``rosetta serve``). A
report that fails a check changes nothing and is answered 403 with the check's name; no secret and
no body is ever logged.
"""

from __future__ import annotations

import http.server
import logging
import threading
from typing import TYPE_CHECKING

from rosetta_core.agent.reports import MAX_BODY, ReportRefused, ReportVerifier
from rosetta_core.engines import Observation, Observed
from rosetta_core.errors import NotFoundError
from rosetta_core.model import Task

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel

log = logging.getLogger(__name__)


def apply_report(kernel: Kernel, verifier: ReportVerifier, headers: dict[str, str], body: bytes) -> Task:
    """Verify a report and apply it to its task; raises :class:`ReportRefused` (nothing changed)."""
    status = verifier.verify(headers, body)
    try:
        task = kernel.store.get_task(status.task)
    except NotFoundError:
        raise ReportRefused("no such task") from None
    if not task.status.is_active:
        return task  # a late report about a task that has ended
    if status.state == "running" and status.port is not None:
        obs = Observation(state=Observed.RUNNING, host=status.host, port=status.port)
    elif status.state == "exited":
        obs = Observation(
            state=Observed.EXITED, exit_code=status.exit_code, detail=f"the container {status.reason}"
        )
    else:
        return task
    return kernel.orchestrator.apply(task, obs, batch=True)


class ReportServer:
    """A listener for agent reports on ``host:port`` (POST only), in a daemon thread."""

    def __init__(self, kernel: Kernel, host: str, port: int) -> None:
        verifier = ReportVerifier(kernel.secret)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= MAX_BODY:
                    self._answer(413 if length else 411, "a report has a body of at most 64 KiB")
                    return
                body = self.rfile.read(length)
                try:
                    apply_report(kernel, verifier, dict(self.headers.items()), body)
                except ReportRefused as exc:
                    self._answer(403, str(exc))
                    return
                except Exception:
                    log.exception("applying an agent report failed")
                    self._answer(500, "the report could not be applied")
                    return
                self._answer(204, "")

            def _answer(self, code: int, text: str) -> None:
                data = text.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("agent report from %s: %s", self.client_address[0], format % args)

        self._server = http.server.ThreadingHTTPServer((host, port), Handler)
        self.address = self._server.server_address
        self._thread = threading.Thread(target=self._server.serve_forever, name="agent-reports", daemon=True)

    def start(self) -> ReportServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
