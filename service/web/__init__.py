"""The web pages for teachers, school leaders and admins (issue 5), in front of the collector.

Every page's data is built once by a framework-free function in ``service.web.pages`` that
returns a dict; the route in ``service.web.routes`` renders it with a Jinja2 template, or returns
the same dict as JSON when the request sends ``Accept: application/json``.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from service.ratelimit import Limiter
from service.web.render import environments
from service.web.routes import router
from service.web.settings import WebSettings

__all__ = ["WebSettings", "install"]


def install(app: FastAPI, settings: WebSettings) -> None:
    """Add the pages, their settings, templates and static files to the collector's app."""
    app.state.web_settings = settings
    # Password guessing across many accounts from one address (the lock-out is per account).
    app.state.signin_limiter = Limiter(
        per_minute=settings.signin_per_minute, burst=settings.signin_burst
    )
    app.state.web_templates = environments()
    app.include_router(router())
    static = resources.files("service.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
