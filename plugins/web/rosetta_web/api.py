"""The REST API under ``/api/v1/``: JSON in and out, the errors of :mod:`rosetta_web.errors`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route


def health(request: Request) -> JSONResponse:
    """``GET /api/v1/health``: the front answers (no sign-in needed)."""
    return JSONResponse({"status": "ok"})


def routes() -> list[BaseRoute]:
    """The API's routes, relative to ``/api/v1``."""
    return [Route("/health", health, methods=["GET"])]
