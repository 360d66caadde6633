"""The server-rendered pages (Jinja2 templates in ``templates/``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from rosetta_web.auth import identify, kernel_of, options_of


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``template`` rendered with ``context`` plus what every page shows: ``site`` (the options),
    ``identity`` (the signed-in user or ``None``) and ``csrf`` (the token forms carry)."""
    identity = identify(request)
    base = {
        "site": options_of(request),
        "identity": identity,
        "csrf": identity.csrf(kernel_of(request)) if identity is not None else "",
    }
    response: Response = request.app.state.templates.TemplateResponse(
        request, template, {**base, **(context or {})}, status_code=status, headers=headers
    )
    return response


def error_page(
    request: Request, status: int, message: str, *, headers: Mapping[str, str] | None = None
) -> Response:
    """The error page for ``status`` with ``message``."""
    return render(
        request, "error.html", {"status": status, "message": message}, status=status, headers=headers
    )


def home(request: Request) -> Response:
    """``GET /``: the main page (the site's welcome text)."""
    return render(request, "home.html")


def routes() -> list[BaseRoute]:
    """The pages' routes."""
    return [Route("/", home, methods=["GET"], name="home")]
