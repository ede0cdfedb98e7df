"""The FastAPI application, built by ``create_app(settings)``; nothing happens at import.

Building the app opens the database and applies the migrations. Serving it starts one
background thread that runs the retention purge every ``purge_interval_seconds``; with several
processes on PostgreSQL the advisory lock in ``retention.purge`` lets only one run at a time.
A second thread syncs the timetable sources that are due (``service.timetable_store.sync``).
More routers (web pages, timetable import, group-chat register) are added with
``app.include_router`` in ``create_app``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from service import credentials, db
from service.api import agent, health, lessons
from service.api import groupchats as groupchat_api
from service.errors import RateLimited, ServiceError
from service.reports import totals as lesson_totals
from service.retention import purge as retention
from service.runtime import Runtime, utc_now
from service.settings import Settings
from service.timetable_store import sync
from service.web import WebSettings
from service.web import install as install_web
from service.web.headers import SecurityHeaders, security_headers

log = logging.getLogger("lessonwatch.service")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def error_response(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers or None
    )


class ExtensionCors:
    """CORS for the browser extension on the agent API only (docs/browser.md).

    The extension's worker calls the collector with fetch; without a host permission the
    browser applies CORS, so the collector allows the extension's own origins, on
    ``/api/v1/agent/`` and nowhere else (never the pages, which carry sign-in cookies). That
    keeps the extension free of host permissions, whose patterns would also cover every
    pupil's tabs."""

    PREFIX = "/api/v1/agent/"

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match"],
            expose_headers=["ETag", "Retry-After"],
            max_age=3600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.PREFIX):
            await self.app(scope, receive, send)
        elif any(name == b"origin" for name, _ in scope["headers"]):
            await self.cors(scope, receive, send)
        else:
            # Not a CORS request (every agent's, and the extension's in paired mode): of
            # CORSMiddleware's work only its ``Vary: Origin`` applies, added here without
            # the parsed headers objects it builds for every request (a cost on every report;
            # docs/performance.md, Ingestion).
            async def send_varied(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = vary_origin(message.get("headers") or [])
                await send(message)

            await self.app(scope, receive, send_varied)


def vary_origin(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The response headers with ``Origin`` added to ``Vary`` as CORSMiddleware adds it to a
    response to a request without an Origin header: one ``vary`` header, the values before it
    joined, in the place of the first (or last if there was none)."""
    out: list[tuple[bytes, bytes]] = []
    values: list[bytes] = []
    place = None
    for name, value in headers:
        if name == b"vary":  # ASGI response header names are lower-case, as Starlette reads them
            if place is None:
                place = len(out)
                out.append((b"vary", b""))
            values.append(value)
        else:
            out.append((name, value))
    joined = b", ".join([*values, b"Origin"])
    if place is None:
        out.append((b"vary", joined))
    else:
        out[place] = (b"vary", joined)
    return out


def release(app: FastAPI) -> None:
    """Close what the app holds open: the report writer's own connection (PostgreSQL) and the
    engine's pool. The lifespan's end calls it; so does whoever serves the app without one."""
    intake = getattr(app.state, "intake", None)
    if intake is not None:
        intake.close()
    app.state.runtime.engine.dispose()


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    web: WebSettings | None = None,
    verifier: credentials.Verifier | None = None,
) -> FastAPI:
    engine = db.make_engine(settings.db)
    db.migrate(engine)
    rt = Runtime(settings=settings, engine=engine, sessions=db.session_factory(engine), clock=clock)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        worker = None
        if settings.purge_interval_seconds:
            worker = threading.Thread(
                target=purge_loop, args=(rt, stop), name="lessonwatch-purge", daemon=True
            )
            worker.start()
        syncer = None
        if settings.timetable_sync_seconds:
            syncer = threading.Thread(
                target=timetable_loop, args=(rt, stop), name="lessonwatch-timetable", daemon=True
            )
            syncer.start()
        try:
            yield
        finally:
            stop.set()
            for thread in (worker, syncer):
                if thread is not None:
                    thread.join(timeout=30)
            release(_app)

    # Swagger UI and ReDoc load their scripts from a public CDN: off unless asked for (issue 14).
    docs = settings.api_docs
    app = FastAPI(
        title="lessonwatch collector",
        version="1",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    app.state.runtime = rt
    app.include_router(health.router)
    app.include_router(agent.router)
    app.include_router(lessons.router)
    app.include_router(groupchat_api.router)
    # The web pages read LESSONWATCH_WEB_* when the caller gives no settings (see docs/web.md).
    install_web(app, web if web is not None else WebSettings(), verifier=verifier)
    _add_error_handlers(app)
    app.add_middleware(
        SecurityHeaders, docs_paths=frozenset({"/docs", "/redoc"} if docs else set())
    )
    if settings.extension_origins:
        app.add_middleware(ExtensionCors, origins=settings.extension_origins)
    if settings.trusted_proxy_list:
        # Added last, so it runs first: the scheme it sets decides HSTS and Secure cookies.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_list)
    _document_raw_bodies(app)
    return app


def purge_loop(rt: Runtime, stop: threading.Event) -> None:
    while not stop.wait(rt.settings.purge_interval_seconds):
        try:
            with rt.sessions.begin() as session:
                result = retention.purge(session, now=rt.clock())
            log.info("retention purge: %s", result)
            if not result.ran:
                continue  # another collector process holds the job; it warms the totals too
            with rt.sessions.begin() as session:
                warmed = lesson_totals.warm(session, now=rt.clock())
            log.info("lesson totals kept for %d more lessons", warmed)
        except Exception:
            # The purge runs again next interval; a failure must not stop the server.
            log.exception("retention purge failed")


def timetable_loop(rt: Runtime, stop: threading.Event) -> None:
    while not stop.wait(rt.settings.timetable_sync_seconds):
        try:
            sync.run_due(rt.sessions, rt.settings, now=rt.clock())
        except Exception:
            # Sources are tried again next time; a failure must not stop the server.
            log.exception("timetable sync failed")


def _add_error_handlers(app: FastAPI) -> None:
    async def service_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceError)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else {}
        return error_response(exc.status, exc.code, exc.message, **headers)

    async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid"}
        where = ".".join(str(p) for p in first["loc"])
        return error_response(422, "invalid_request", f"{where}: {first['msg']}")

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail))

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # An answer the client can quote and the operator can find in the log, rather than a
        # connection that just ends.
        request_id = uuid.uuid4().hex[:16]
        log.error(
            "unexpected error, request %s: %s %s",
            request_id,
            request.method,
            request.url.path,
            exc_info=exc,
        )
        return JSONResponse(
            {
                "error": {
                    "code": "internal_error",
                    "message": f"the collector failed; see its log for request {request_id}",
                    "request_id": request_id,
                }
            },
            status_code=500,
            # Starlette answers this from its outermost middleware, outside SecurityHeaders.
            headers={"X-Request-Id": request_id, **security_headers(request.url.scheme)},
        )

    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def _document_raw_bodies(app: FastAPI) -> None:
    """Add the models of the bodies the API routes read themselves, and the group-chat API's
    security scheme, to the OpenAPI schema."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            _, defs = models_json_schema(
                [
                    (m, "validation")
                    for m in (*agent.DOCUMENTED_MODELS, *groupchat_api.DOCUMENTED_MODELS)
                ],
                ref_template="#/components/schemas/{model}",
            )
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {}).update(defs.get("$defs", {}))
            components.setdefault("securitySchemes", {}).update(groupchat_api.SECURITY_SCHEMES)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
