"""What the reliability suites share: PostgreSQL reachability, fresh schemas, a school with a
lesson that has just ended and enrolled devices, and counting what was stored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url

from service import credentials, db
from service.accounts import users
from service.actors import Actor
from service.devices import enrolment
from service.lessons import records as lessons
from service.models import DeviceLessonSummary, User
from service.schools import registry as schools
from tests.support.actors import operator_for
from tests.support.ports import wait_listening


def schema_url(base: str, schema: str) -> str:
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def migrate(url: str) -> None:
    engine = db.make_engine(url)
    try:
        db.migrate(engine)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class School:
    """What the suites post against: a lesson that has just ended and devices of its group."""

    url: str
    lesson_id: str
    lesson_start: datetime
    lesson_end: datetime
    device_tokens: tuple[str, ...]
    admin_token: str
    code: str


def make_school(url: str, devices: int = 2) -> School:
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now - timedelta(minutes=50), now
    engine = db.make_engine(url)
    try:
        with db.session_factory(engine).begin() as session:
            school = schools.school(session)
            admin = User(
                school_id=school.id,
                username="root",
                role="admin",
                password_hash="not-used-here",
                created_at=now,
            )
            session.add(admin)
            session.flush()
            lesson = lessons.add_lesson(
                session, school=school, group="3B", start=start, end=end, now=now, teacher=admin
            )
            code = enrolment.create_code(
                session,
                actor=Actor.operator(school),
                group="3B",
                uses=1000,
                lifetime=timedelta(days=1),
                now=now,
            )
            tokens = tuple(
                enrolment.enroll(
                    session,
                    code=code,
                    platform="linux",
                    agent_version="0.1.0",
                    label=None,
                    fingerprint=None,
                    now=now,
                ).token
                for _ in range(devices)
            )
            admin_token = users.create_token(
                session, actor=operator_for(admin), user=admin, now=now
            )
        assert all(t.startswith(credentials.DEVICE_TOKEN_PREFIX) for t in tokens)
        return School(url, lesson.id, start, end, tokens, admin_token, code)
    finally:
        engine.dispose()


def stored_ids(url: str) -> Counter[str]:
    """How often each report id is stored (a double would count 2)."""
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return Counter(conn.scalars(select(DeviceLessonSummary.report_id)))
    finally:
        engine.dispose()


class CollectorProcess:
    """``lessonwatch-service serve`` as a real subprocess on a fixed loopback port, which a test
    can kill and start again as a supervisor would (``Restart=always``)."""

    def __init__(self, db_url: str, port: int, env: dict[str, str] | None = None) -> None:
        self.db_url, self.port = db_url, port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, "LESSONWATCH_PURGE_INTERVAL_SECONDS": "0", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop)

    def start(self, timeout: float = 60.0) -> None:
        script = Path(sys.executable).with_name("lessonwatch-service")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "service"]
        self.proc = subprocess.Popen(
            [*command, "serve", "--port", str(self.port), "--db", self.db_url],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env=self.env,
        )
        # Listening by this very process, not just an answer on the port: another worker's
        # server may have taken the port while this one was down (tests/support/ports.py).
        if not wait_listening(self.proc, self.port, timeout=timeout):
            self.log.seek(0)
            raise RuntimeError(f"collector did not start: {self.log.read()[-2000:]!r}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()
