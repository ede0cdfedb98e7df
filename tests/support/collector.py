"""Builders shared by the collector tests: summaries in the wire format, a settable clock,
and a real uvicorn server on a loopback port."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from service import credentials
from service.actors import Actor
from service.app import release
from service.devices import enrolment
from service.devices import registry as devices
from service.devices.registry import ActiveDevice
from service.models import Device, Lesson, School
from tests.support.clock import LESSON_END, LESSON_START
from tests.support.ports import free_port


def finding(
    family: str = "telegram",
    seconds: int = 300,
    *,
    rule: str = "a1-social-media",
    article: str = "A.1",
    category: str = "social_media",
    first_bucket: int = 0,
) -> dict[str, Any]:
    buckets = [0] * first_bucket
    left = seconds
    while left > 0:
        buckets.append(min(left, 300))
        left -= 300
    return {
        "rule": rule,
        "article": article,
        "category": category,
        "family": family,
        "seconds": seconds,
        "episodes": 1 if seconds else 0,
        "first_minute": first_bucket * 5,
        "buckets": buckets,
    }


def summary(
    lesson_id: str,
    findings: Sequence[dict[str, Any]] = (),
    *,
    started: datetime = LESSON_START,
    ended: datetime = LESSON_END,
    report_id: str | None = None,
    gaps: int = 0,
) -> dict[str, Any]:
    span = int((ended - started).total_seconds())
    return {
        "report_id": report_id or str(uuid.uuid4()),
        "lesson_id": lesson_id,
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ended_at": ended.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "agent_version": "0.1.0",
        "coverage": {
            "seconds_monitored": span,
            "samples": span // 15,
            "gaps": gaps,
            "probes": {"processes": "ok", "capture_files": "ok", "camera": "unavailable"},
        },
        "findings": list(findings),
        "dropped": 0,
    }


@dataclass(frozen=True)
class Live:
    url: str
    app: FastAPI


def serve_in_thread(
    app: Any, timeout: float, **options: Any
) -> tuple[uvicorn.Server, threading.Thread, int]:
    """``app`` under uvicorn in a thread of this process, on a free loopback port, started;
    ``options`` are uvicorn's own (lifespan, proxy headers, keep-alive)."""
    # A port can be taken between choosing and binding it (tests/support/ports.py); uvicorn in
    # this process then stops before it starts, and the next attempt takes another port.
    for _ in range(5):
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started and thread.is_alive():
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)  # waiting for a real server to listen, not for time to pass
        if server.started:
            return server, thread, port
    raise RuntimeError("uvicorn did not start on any of 5 ports")


def _serve(app: Any, timeout: float) -> tuple[uvicorn.Server, threading.Thread, str]:
    # Keep-alive longer than any test: a test's client may sit idle for more than uvicorn's 5 s
    # on a loaded machine, and a request sent as the server closes the connection is reset.
    server, thread, port = serve_in_thread(app, timeout, lifespan="on", timeout_keep_alive=600)
    return server, thread, f"http://127.0.0.1:{port}"


class _Dispatch:
    """One uvicorn server per test worker that serves whichever app the running test put in.

    Stopping uvicorn costs about 0.2 s of fixed sleeps; with a server per test that was minutes
    of every run. The requests still go over real HTTP on loopback, through the same uvicorn.
    """

    def __init__(self) -> None:
        self.app: FastAPI | None = None
        self.url = ""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # the shared server's own; each app's is run below
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if self.app is None:
            raise RuntimeError("a request reached the shared test server between tests")
        await self.app(scope, receive, send)


_shared: _Dispatch | None = None
_shared_lock = threading.Lock()


def _shared_server() -> _Dispatch:
    global _shared
    with _shared_lock:
        if _shared is None:
            dispatch = _Dispatch()
            dispatch.url = _serve(dispatch, 20.0)[2]
            _shared = dispatch
        return _shared


@contextmanager
def live_server(app: FastAPI, timeout: float = 20.0, *, lifespan: bool = False) -> Iterator[Live]:
    """Serve ``app`` with uvicorn on a loopback port for the test's length.

    By default the worker's shared server serves it and the app's lifespan does not run: no
    purge or timetable thread, and the engine is disposed here. A test of those background jobs
    asks for ``lifespan=True`` and gets a server of its own that starts and stops them as in
    production.
    """
    if lifespan:
        server, thread, url = _serve(app, timeout)
        try:
            yield Live(url, app)
        finally:
            server.should_exit = True
            thread.join(timeout)
        return
    shared = _shared_server()
    shared.app = app
    try:
        yield Live(shared.url, app)
    finally:
        shared.app = None
        release(app)


@dataclass(frozen=True)
class World:
    """A school with two groups, a lesson each, and an enrolment code each (plain values)."""

    lesson_3b: str
    lesson_4a: str
    code_3b: str
    code_4a: str
    teacher_token: str
    other_teacher_token: str
    admin_token: str
    it_token: str


def active_fleet(
    sessions: sessionmaker[Session], clock: Callable[[], datetime], code: str, count: int
) -> list[ActiveDevice]:
    """``count`` devices enrolled with ``code``, as the token check gives them to ingestion."""
    with sessions.begin() as session:
        keys = [devices.token_key(enrol(session, code, clock()).token) for _ in range(count)]
    with sessions.begin() as session:
        found = devices.active_devices(session, keys, clock())
    return [found[k] for k in keys]


def enrol(
    session: Session, code: str, now: datetime, fingerprint: str | None = None
) -> enrolment.Enrolled:
    return enrolment.enroll(
        session,
        code=code,
        platform="linux",
        agent_version="0.1.0",
        label=None,
        fingerprint=fingerprint,
        now=now,
    )


def operator_of(session: Session, school_id: int) -> Actor:
    """The command line's actor for one school, as ``lessonwatch-service --school`` runs."""
    return Actor.operator(session.get_one(School, school_id))


def add_device(
    session: Session,
    lesson: Lesson,
    *,
    enrolled_at: datetime,
    fingerprint: str | None = None,
    retired: bool = False,
) -> Device:
    """A device of the lesson's group as enrolment leaves it, without the enrolment code."""
    device = Device(
        id=credentials.new_id("d_"),
        school_id=lesson.school_id,
        group_id=lesson.group_id,
        token_hash=credentials.token_hash(credentials.new_device_token()),
        platform="linux",
        agent_version="0.1.0",
        fingerprint=fingerprint,
        enrolled_at=enrolled_at,
        retired=retired,
    )
    session.add(device)
    session.flush()
    return device


def retire(session: Session, device_id: str, now: datetime) -> None:
    """Retire a device as its school's operator would from the command line."""
    school_id = session.get_one(Device, device_id).school_id
    devices.retire(session, actor=operator_of(session, school_id), device_id=device_id, now=now)
