"""The reports route's bare ASGI endpoint (service.api.reports) called as a server calls it, on
the real app and database: it reads the body and the headers the way a Starlette ``Request``
did, and answers with the same bytes a ``JSONResponse`` gave."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import ClientDisconnect

from service.app import create_app, release
from service.models import DeviceLessonSummary
from service.settings import Settings
from tests.support.clock import FakeClock
from tests.support.collector import World, enrol, finding, summary

Message = dict[str, Any]


@pytest.fixture
def app(db_url: str, clock: FakeClock) -> Iterator[FastAPI]:
    built = create_app(Settings(db=db_url, purge_interval_seconds=0), clock=clock)
    yield built
    release(built)  # the lifespan would, which these calls do not run


def call(
    app: FastAPI, headers: Sequence[tuple[bytes, bytes]], messages: Sequence[Message]
) -> list[Message]:
    """What the app sent for one POST whose body arrives as ``messages``."""
    pending = list(messages)
    sent: list[Message] = []

    async def receive() -> Message:
        assert pending, "the endpoint read past the end of the request"
        return pending.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/agent/reports",
        "raw_path": b"/api/v1/agent/reports",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"collector"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))
    return sent


def chunks(body: bytes, parts: int) -> list[Message]:
    size = -(-len(body) // parts)
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return [
        {"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1}
        for i, piece in enumerate(pieces)
    ]


def stored(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        return session.execute(select(func.count()).select_from(DeviceLessonSummary)).scalar_one()


def test_a_body_in_several_chunks_is_stored_and_answered_as_compact_json(
    app: FastAPI, world: World, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    with sessions.begin() as session:
        token = enrol(session, world.code_3b, clock()).token
    item = summary(world.lesson_3b, [finding()])
    body = json.dumps({"reports": [item]}).encode()
    headers = [
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/json"),
    ]

    start, answer = call(app, headers, chunks(body, 3))

    assert start["status"] == 200
    sent_headers = dict(start["headers"])
    assert sent_headers[b"content-type"] == b"application/json"
    assert sent_headers[b"content-length"] == str(len(answer["body"])).encode()
    expected = {"results": [{"report_id": item["report_id"], "status": "accepted", "reason": None}]}
    assert answer["body"] == json.dumps(expected, separators=(",", ":")).encode()
    assert stored(sessions) == 1


def test_a_client_that_hangs_up_mid_body_has_nothing_stored(
    app: FastAPI, world: World, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    with sessions.begin() as session:
        token = enrol(session, world.code_3b, clock()).token
    body = json.dumps({"reports": [summary(world.lesson_3b)]}).encode()
    first = chunks(body, 2)[0]
    headers = [(b"authorization", f"Bearer {token}".encode())]

    # As with a Starlette Request: the app's outermost middleware answers 500 and re-raises,
    # for the server to log and close the connection.
    with pytest.raises(ClientDisconnect):
        call(app, headers, [first, {"type": "http.disconnect"}])

    assert stored(sessions) == 0


@pytest.mark.parametrize("valid_first", [True, False], ids=["valid-first", "invalid-first"])
def test_the_first_authorization_header_is_the_one_checked(
    app: FastAPI,
    world: World,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    valid_first: bool,
) -> None:
    with sessions.begin() as session:
        token = enrol(session, world.code_3b, clock()).token
    valid, invalid = f"Bearer {token}".encode(), b"Bearer lwd_not-a-token"
    pair = [valid, invalid] if valid_first else [invalid, valid]
    headers = [(b"authorization", value) for value in pair]
    body = json.dumps({"reports": [summary(world.lesson_3b)]}).encode()

    start, _ = call(app, headers, chunks(body, 1))

    assert start["status"] == (200 if valid_first else 401)
    assert stored(sessions) == (1 if valid_first else 0)


def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body(
    app: FastAPI, world: World, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    with sessions.begin() as session:
        token = enrol(session, world.code_3b, clock()).token
    limit = app.state.runtime.settings.max_body_bytes
    headers = [
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-length", str(limit + 1).encode()),
    ]

    start, answer = call(app, headers, [])  # receive() would fail the test

    assert start["status"] == 413
    assert json.loads(answer["body"])["error"]["code"] == "body_too_large"
