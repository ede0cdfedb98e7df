"""The agent API's answers to requests without an Origin header (every agent's) carry the
headers Starlette's CORSMiddleware would give them, without running it (``service.app``)."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Message, Receive, Scope, Send

from service.app import vary_origin

NAMES = st.sampled_from([b"vary", b"content-type", b"etag", b"x-a", b"Vary"])
HEADERS = st.lists(st.tuples(NAMES, st.sampled_from([b"Accept", b"a, b", b"", b"x"])), max_size=6)


def _through_cors(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    sent: list[Message] = []

    async def app(_scope: Scope, _receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    cors = CORSMiddleware(app, allow_origins=["chrome-extension://x"], allow_methods=["GET"])
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/agent/reports",
        "headers": [],
    }
    asyncio.run(cors(scope, receive, send))
    return list(sent[0]["headers"])


@given(HEADERS)
def test_vary_origin_gives_what_corsmiddleware_gives_a_request_without_origin(
    headers: list[tuple[bytes, bytes]],
) -> None:
    assert vary_origin(headers) == _through_cors(headers)
