"""``POST /api/v1/agent/reports``, the route every device calls once a lesson (docs/api.md).

It is served by ``ReportsEndpoint``, a bare ASGI app, ahead of the agent router's API routes:
Starlette's handling of a route (a ``Request`` with its parsed headers, the exception wrapper
around the endpoint, a ``JSONResponse`` with its own headers object) is CPU on every report
request, and the route needs none of it: two header values, the body and a JSON answer
(docs/performance.md, Ingestion). Errors are raised as before and answered by the
app's exception handlers (``service.app``), which the app's exception middleware applies to
every route. The documented API route (``documented``) runs the same steps from a ``Request``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from service.errors import InvalidRequest
from service.http_body import body_chunks, read_json_chunks
from service.ingest import intake
from service.runtime import Runtime, bearer

# As ``JSONResponse`` renders: the same bytes, from one encoder rather than one per answer.
_ANSWER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_JSON = b"application/json"


async def store_reports(
    state: State, authorization: str, declared: str | None, chunks: AsyncIterator[bytes]
) -> bytes:
    """The answer's body for a report batch: token first, body after (see docs/api.md); both
    steps are shared with the requests that arrive at the same time (``service.ingest.intake``)."""
    rt: Runtime = state.runtime
    pipeline = intake.for_app(state, rt)
    device = await pipeline.device(bearer(authorization))
    rt.limit(rt.device_limiter, device.id)
    raw = await read_json_chunks(declared, chunks, rt.settings.max_body_bytes)
    if not isinstance(raw, dict) or set(raw) != {"reports"} or not isinstance(raw["reports"], list):
        raise InvalidRequest('the body must be {"reports": [ ... ]} and nothing else')
    items = raw["reports"]
    if len(items) > rt.settings.max_batch:
        raise InvalidRequest("at most %(limit)s summaries per batch", limit=rt.settings.max_batch)
    results = await pipeline.store(device, items)
    return _ANSWER.encode({"results": [r.to_json() for r in results]}).encode("utf-8")


class ReportsEndpoint:
    """The route as a bare ASGI app (Starlette's ``Route`` calls an endpoint that is not a
    function this way, after its own path and method checks)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        authorization, declared = _headers(scope)
        body = await store_reports(
            scope["app"].state, authorization, declared, body_chunks(receive)
        )
        length = str(len(body)).encode("latin-1")
        headers = [(b"content-length", length), (b"content-type", _JSON)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _headers(scope: Scope) -> tuple[str, str | None]:
    """The Authorization and Content-Length values, the first of each as ``Request.headers``
    gives them (ASGI servers lower-case the names)."""
    authorization: str | None = None
    declared: str | None = None
    for name, value in scope["headers"]:
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"content-length" and declared is None:
            declared = value.decode("latin-1")
    return authorization or "", declared


async def documented(request: Request) -> Response:
    """The same route for the OpenAPI document; a POST is served by ``ReportsEndpoint``."""
    body = await store_reports(
        request.app.state,
        request.headers.get("authorization", ""),
        request.headers.get("content-length"),
        request.stream(),
    )
    return Response(body, media_type="application/json")
