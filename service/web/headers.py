"""Security headers on every answer of the collector: pages, API, static files and errors.

The pages promise that nothing is loaded from elsewhere and no script runs inline; the
Content-Security-Policy makes browsers hold us to it (scripts only from ``/static``). Style
attributes stay allowed (``style-src-attr``): the timetable week places lessons with them, and
an attribute cannot run script. HSTS is sent only when the request came over https, directly or
as reported by a trusted proxy (``trusted_proxies``), since over plain http it means nothing.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}
HSTS = "max-age=31536000"
# For /docs and /redoc only, when an operator turns them on (``api_docs``): FastAPI's pages load
# Swagger UI and ReDoc from jsDelivr and start them with an inline script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com; "
    "worker-src blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def security_headers(scheme: str, csp: str = CSP) -> dict[str, str]:
    """The headers every answer carries for a request made with ``scheme``."""
    headers = HEADERS | {"content-security-policy": csp}
    return headers | {"strict-transport-security": HSTS} if scheme == "https" else headers


class SecurityHeaders:
    """ASGI middleware: adds ``security_headers`` to each response, keeping any the app set."""

    def __init__(self, app: ASGIApp, docs_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope.get("path") in self.docs_paths else CSP
        extra = security_headers(scope.get("scheme", "http"), csp)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                present = {name.decode("latin-1").lower() for name, _ in raw}
                raw += [(k.encode(), v.encode()) for k, v in extra.items() if k not in present]
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, send_with_headers)
