"""The web pages for teachers, school leaders and admins (issue 5), in front of the collector.

Every page's data is built once by a framework-free function in ``service.web.pages`` that
returns a dict; the route in ``service.web.routes`` renders it with a Jinja2 template, or returns
the same dict as JSON when the request sends ``Accept: application/json``.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from service import credentials
from service.ratelimit import Limiter
from service.web.render import environments
from service.web.routes import router
from service.web.settings import WebSettings
from service.web.signin import SignInThrottle

__all__ = ["WebSettings", "install"]


def install(
    app: FastAPI, settings: WebSettings, *, verifier: credentials.Verifier | None = None
) -> None:
    """Add the pages, their settings, templates and static files to the collector's app.

    ``verifier`` checks passwords (argon2 unless a test passes its own); it runs behind a bound
    of ``signin_hash_workers`` checks at once and ``signin_hash_queue`` waiting."""
    app.state.web_settings = settings
    app.state.password_verifier = credentials.BoundedVerifier(
        verifier or credentials.Argon2Verifier(),
        workers=settings.signin_hash_workers,
        queue=settings.signin_hash_queue,
    )
    # Guessing one account's password from one address (issue 14: no lock-out of the account).
    app.state.signin_throttle = SignInThrottle(settings)
    # Password guessing across many accounts from one address (the lock-out is per account).
    app.state.signin_limiter = Limiter(
        per_minute=settings.signin_per_minute, burst=settings.signin_burst
    )
    app.state.web_templates = environments()
    app.include_router(router())
    static = resources.files("service.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
