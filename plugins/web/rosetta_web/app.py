"""The Starlette application: :func:`create_app`.

Routes: the pages (:mod:`rosetta_web.pages`) at ``/``, the REST API (:mod:`rosetta_web.api`) under
``/api/v1/``, static files under ``/static/``. Every endpoint is a plain function (Starlette runs
it on its thread pool), because the kernel blocks. An error the endpoint did not handle becomes
the API's error shape under ``/api/`` and an error page elsewhere.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from rosetta_core.errors import RosettaError
from rosetta_web import api, pages
from rosetta_web.bodies import BodyFirst
from rosetta_web.errors import error_body
from rosetta_web.options import WebOptions

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
API_PREFIX = "/api/v1"


def create_app(kernel: Kernel, options: WebOptions | None = None) -> Starlette:
    """The web front over a started ``kernel`` (which must have the ``auth-local`` plugin)."""
    app = Starlette(
        routes=[
            Mount(API_PREFIX, routes=api.routes(), name="api"),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
            *pages.routes(),
        ],
        exception_handlers={HTTPException: _http_error, RosettaError: _error, Exception: _error},
        middleware=[Middleware(BodyFirst)],
    )
    app.state.kernel = kernel
    app.state.options = options or WebOptions()
    app.state.templates = Jinja2Templates(directory=HERE / "templates")  # autoescapes .html
    return app


def _error(request: Request, exc: Exception) -> Response:
    status, body = error_body(exc)
    if status == 500:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    headers = {"Retry-After": str(int(getattr(exc, "retry_after", 0)) or 1)} if status == 429 else None
    return _answer(request, status, body, headers)


def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such path, a method the path does not take) in the same shapes."""
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = {404: "no such page", 405: "this path does not take that method"}.get(
        exc.status_code, exc.detail
    )
    body = {"error": {"status": exc.status_code, "code": code, "message": message, "fields": {}}}
    return _answer(request, exc.status_code, body, exc.headers)


def _answer(
    request: Request, status: int, body: dict[str, Any], headers: Mapping[str, str] | None
) -> Response:
    if request.url.path.startswith(API_PREFIX + "/") or request.url.path == API_PREFIX:
        return JSONResponse(body, status_code=status, headers=headers)
    return pages.error_page(request, status, body["error"]["message"], headers=headers)
