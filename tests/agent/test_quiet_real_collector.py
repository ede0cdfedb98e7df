"""Issue 15's recorded run: the agent on a fake clock against the real collector over HTTP.

The collector is the real app (``create_app``) on the same fake clock, served by uvicorn on
loopback; the agent is the real runner, timed by the fake clock and the fake scheduler so a
Friday, its evening, the weekend and Monday pass in a second. Its link is the real HTTP client,
``agent.client.Collector``, in the test's process: the installed service runs the same client in
a short-lived process per contact (``agent.remote``), which sends the same bytes at the same
moments but costs about 0.3 s a contact; tests/agent/test_client.py runs every client case
through both links. Every request the collector receives is recorded with the (fake) moment it
arrived. uvicorn's own ``Date`` header is switched off: it carries the real time, and the agent
would set its clock by it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy.orm import Session

from agent.client import Collector
from agent.config import Overrides
from agent.paths import StatePaths
from agent.runner import Agent, Options
from agent.schedule import CONTACT_LEAD, CONTACT_TAIL
from service import db
from service.actors import Actor
from service.app import create_app
from service.devices import enrolment
from service.lessons import records as lessons
from service.models import User
from service.schools import registry as schools
from service.settings import Settings
from tests.agent.fakes import AMS, FakeProbe, FakeScheduler, ams
from tests.support.clock import FakeClock
from tests.support.collector import serve_in_thread

FRIDAY, MONDAY = date(2026, 11, 27), date(2026, 11, 30)
MINUTE = timedelta(minutes=1)


class Recorded:
    """ASGI wrapper: notes (fake time, path, status) of every request, as an access log would."""

    def __init__(self, app: Any, clock: FakeClock) -> None:
        self.app, self.clock = app, clock
        self.seen: list[tuple[datetime, str, int]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrived = self.clock.now

        async def noted(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.seen.append((arrived, scope["path"], message["status"]))
            await send(message)

        await self.app(scope, receive, noted)


@dataclass
class School:
    url: str
    recorded: Recorded
    code: str
    lesson_ids: dict[str, str]


@pytest.fixture
def school(db_url: str) -> Iterator[School]:
    clock = FakeClock(ams(FRIDAY, "0600"))
    engine = db.make_engine(db_url)
    ids = {}
    with db.session_factory(engine).begin() as session:
        home = schools.school(session)
        home.timezone = "Europe/Amsterdam"
        teacher = _teacher(session, home.id, clock.now)
        for name, day, start, end in (
            ("friday-morning", FRIDAY, "0830", "0920"),
            ("friday-afternoon", FRIDAY, "1400", "1450"),
            ("monday", MONDAY, "1030", "1120"),
        ):
            ids[name] = lessons.add_lesson(
                session,
                school=home,
                group="3B",
                start=ams(day, start),
                end=ams(day, end),
                now=clock.now,
                teacher=teacher,
            ).id
        code = enrolment.create_code(
            session,
            actor=Actor.operator(home),
            group="3B",
            uses=1,
            lifetime=timedelta(days=7),
            now=clock.now,
        )
    engine.dispose()
    # The collector's rate limits run on real time, in which this whole weekend takes a second.
    settings = Settings(db=db_url, purge_interval_seconds=0, device_burst=1_000_000)
    recorded = Recorded(create_app(settings, clock=clock), clock)
    server, thread, port = serve_in_thread(recorded, 20, lifespan="on", date_header=False)
    try:
        yield School(f"http://127.0.0.1:{port}", recorded, code, ids)
    finally:
        server.should_exit = True
        thread.join(20)


def _teacher(session: Session, school_id: int, now: datetime) -> User:
    teacher = User(
        school_id=school_id, username="devries", role="teacher", password_hash="-", created_at=now
    )
    session.add(teacher)
    session.flush()
    return teacher


def test_a_weekend_recorded_at_the_real_collector_has_no_contact_outside_the_windows(
    school: School, tmp_path: Path
) -> None:
    clock: FakeClock = school.recorded.clock
    enrolled = requests.post(
        school.url + "/api/v1/agent/enroll",
        json={"code": school.code, "platform": "linux", "agent_version": "0.1.0"},
        timeout=10,
    )
    assert enrolled.status_code == 201, enrolled.text
    paths = StatePaths(tmp_path / "state").ensure()
    paths.token.write_text(enrolled.json()["token"])
    moment = clock.now.timestamp()  # enrolled now, on the fake clock
    os.utime(paths.token, (moment, moment))
    scheduler = FakeScheduler(clock)
    running: list[Any] = ["Telegram"]
    options = Options(
        overrides=Overrides(sample_seconds=600),  # this test is about requests, not samples
        rand=lambda: 0.5,
        probes=lambda compiled: [FakeProbe(running)],
        clock=clock,
        scheduler=lambda: scheduler,
        link=Collector,
    )
    agent = Agent(paths, school.url, enrolled.json()["token"], options)
    agent.start()
    try:
        scheduler.run_until(ams(MONDAY, "1800"))
    finally:
        agent.shutdown()

    agent_requests = [
        (at, path, status)
        for at, path, status in school.recorded.seen
        if path != "/api/v1/agent/enroll"
    ]
    windows = [
        (ams(FRIDAY, "0830") - CONTACT_LEAD, ams(FRIDAY, "1450") + 2 * MINUTE + CONTACT_TAIL),
        (ams(MONDAY, "1030") - CONTACT_LEAD, ams(MONDAY, "1120") + 2 * MINUTE + CONTACT_TAIL),
    ]
    outside = [r for r in agent_requests if not any(s <= r[0] < e for s, e in windows)]
    # Outside the windows only the fresh enrolment's first config (in the quarter hour after
    # enrolment) and Monday's once-a-school-day morning contact; nothing at the weekend.
    assert sorted({at for at, _, _ in outside}) == [ams(FRIDAY, "0600"), ams(MONDAY, "0700")]
    assert not [r for r in agent_requests if r[0].astimezone(AMS).weekday() >= 5]
    configs = [status for _, path, status in agent_requests if path == "/api/v1/agent/config"]
    assert 304 in configs and 200 in configs  # unchanged polls answered 304 by the collector
    # Each lesson's summary reached the collector inside its day's window, accepted.
    uploads = [
        (at, status) for at, path, status in agent_requests if path == "/api/v1/agent/reports"
    ]
    assert all(status == 200 for _, status in uploads), uploads
    assert any(ams(FRIDAY, "1450") <= at < windows[0][1] for at, _ in uploads)
    assert any(ams(MONDAY, "1120") <= at < windows[1][1] for at, _ in uploads)
