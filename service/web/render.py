"""The Jinja2 environment (autoescaping everything) and the HTML-or-JSON answer of a page."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response


def environment() -> Environment:
    return Environment(
        loader=PackageLoader("service.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def render(
    request: Request,
    env: Environment,
    template: str,
    page: dict[str, Any],
    chrome: dict[str, Any],
    status: int = 200,
) -> Response:
    if wants_json(request):
        return JSONResponse(page, status_code=status)
    html = env.get_template(template).render(page=page, **chrome)
    return HTMLResponse(html, status_code=status)
