"""Builders shared by the collector tests: summaries in the wire format, a settable clock,
and a real uvicorn server on a loopback port."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session

from service import enrolment

LESSON_START = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
LESSON_END = LESSON_START + timedelta(minutes=50)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Live:
    url: str
    app: FastAPI


@contextmanager
def live_server(app: FastAPI, timeout: float = 20.0) -> Iterator[Live]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread, for the test's length."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield Live(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout)


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
