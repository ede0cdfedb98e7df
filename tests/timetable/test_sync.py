"""Scheduled syncs against a local server replaying recorded Zermelo and iCalendar answers.

The "done when" of issue 6: a cancellation and a moved lesson in the source reach the agents'
config (GET /api/v1/agent/config over HTTP with a device token) at the next scheduled sync of
a serving collector. Also: once across processes, failures recorded without secrets, nothing
stored from a refused answer.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service import db
from service.actors import Actor
from service.app import create_app
from service.devices import enrolment
from service.errors import InvalidRequest
from service.models import Lesson, TimetableSource
from service.schools import registry as schools
from service.settings import Settings
from service.timetable_store import sources, sync
from tests.support.clock import TIMETABLE_NOW, FakeClock
from tests.support.collector import live_server
from tests.timetable.helpers import FIXTURES
from tests.timetable.replay import Replay, replay_server

NOW = TIMETABLE_NOW
TOKEN = "zermelo-token-7f3a9c"
APPOINTMENTS = "/api/v3/appointments"
KEY = Fernet.generate_key().decode()
TIMEOUT = 20.0


def recorded_after() -> list[dict[str, Any]]:
    """The recorded answer, moved in time so its first lesson is in the coming week."""
    data = json.loads((FIXTURES / "zermelo_appointments.json").read_text())["response"]["data"]
    first = min(a["start"] for a in data)
    weeks = -(-(int(NOW.timestamp()) - first) // (7 * 86400))
    shift = weeks * 7 * 86400
    for item in data:
        item["start"] += shift
        item["end"] += shift
    return list(data)


def recorded_before() -> list[dict[str, Any]]:
    """The same week an hour earlier: 5102 not yet cancelled, 5103 not yet moved."""
    data = [copy.deepcopy(a) for a in recorded_after() if a["id"] != 700203]
    for item in data:
        if item["appointmentInstance"] == 5102:
            item.update(cancelled=False, modified=False, changeDescription="")
        if item["id"] == 700103:
            item.update(valid=True, moved=False, modified=False, timeChanged=False)
    return data


def answer(items: list[dict[str, Any]]) -> bytes:
    envelope = {"status": 200, "message": "", "details": "", "eventId": 0, "data": items}
    return json.dumps({"response": {**envelope, "totalRows": len(items)}}).encode()


def start_of(items: list[dict[str, Any]], instance: int) -> str:
    valid = [a for a in items if a["appointmentInstance"] == instance and a["valid"]]
    return datetime.fromtimestamp(valid[0]["start"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def replay() -> Iterator[Replay]:
    with replay_server() as server:
        yield server


def settings_for(db_url: str, **extra: Any) -> Settings:
    # The replay server is on loopback, which the collector refuses unless told otherwise.
    return Settings(
        db=db_url,
        secret_key=KEY,
        purge_interval_seconds=0,
        fetch_allow_hosts="127.0.0.1",
        **extra,
    )


def add_zermelo(
    sessions: sessionmaker[Session], settings: Settings, replay: Replay, name: str = "zermelo"
) -> int:
    with sessions.begin() as session:
        row = sources.add_source(
            session,
            school=schools.school(session),
            settings=settings,
            name=name,
            kind="zermelo",
            now=NOW,
            secret=TOKEN,
            portal=replay.url,
            params={"branchOfSchool": "12"},
        )
        return row.id


def lesson_ids(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions.begin() as session:
        return {uid: ident for uid, ident in session.execute(select(Lesson.uid, Lesson.id)) if uid}


def poll(what: str, check: Any) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow
def test_cancellation_and_move_reach_the_agent_config_at_the_next_sync(
    db_url: str, sessions: sessionmaker[Session], replay: Replay
) -> None:
    """A serving collector syncs on its schedule; devices see the cancelled and moved lessons."""
    before, after = recorded_before(), recorded_after()
    replay.answer(APPOINTMENTS, answer(before), kind="application/json")
    clock = FakeClock(NOW)
    settings = settings_for(db_url, timetable_sync_seconds=1, device_burst=10_000)
    add_zermelo(sessions, settings, replay)
    with sessions.begin() as session:
        code = enrolment.create_code(
            session,
            actor=Actor.operator(schools.school(session)),
            group="h3b",
            uses=1,
            lifetime=timedelta(days=1),
            now=NOW,
        )
    with live_server(create_app(settings, clock=clock), lifespan=True) as live:
        enrolled = requests.post(
            live.url + "/api/v1/agent/enroll",
            json={"code": code, "platform": "linux", "agent_version": "0.1.0"},
            timeout=TIMEOUT,
        ).json()
        auth = {"Authorization": f"Bearer {enrolled['token']}"}

        def config() -> dict[str, dict[str, Any]]:
            answer = requests.get(live.url + "/api/v1/agent/config", headers=auth, timeout=TIMEOUT)
            assert answer.status_code == 200, answer.text
            return {item["id"]: item for item in answer.json()["lessons"]}

        first = poll("the first sync", config)
        ids = lesson_ids(sessions)
        plain, cancelled, moved = (ids[f"{n}/h3b"] for n in (5101, 5102, 5103))
        assert first[cancelled]["cancelled"] is False
        assert first[moved]["start"] == start_of(before, 5103)

        replay.answer(APPOINTMENTS, answer(after), kind="application/json")
        clock.now = NOW + timedelta(hours=1, seconds=1)  # the hourly interval has passed
        second = poll("the next sync", lambda: (c := config())[cancelled]["cancelled"] and c)
        assert second[moved]["start"] == start_of(after, 5103) != start_of(before, 5103)
        assert second[plain] == first[plain]
        assert lesson_ids(sessions)["5103/h3b"] == moved  # moved in place, not removed and added
    calls = replay.requests(APPOINTMENTS)
    assert len(calls) == 2
    for call in calls:
        assert call.headers["authorization"] == f"Bearer {TOKEN}"
        assert call.query["valid"] == ["true"] and call.query["branchOfSchool"] == ["12"]
        assert int(call.query["start"][0]) <= int(NOW.timestamp()) < int(call.query["end"][0])
        assert TOKEN not in json.dumps(call.query)


def test_runs_once_across_processes(
    db_url: str, sessions: sessionmaker[Session], replay: Replay
) -> None:
    """Two collector processes due at the same moment fetch the source once between them."""
    replay.answer(APPOINTMENTS, answer(recorded_after()), kind="application/json")
    replay.delay = 0.5
    settings = settings_for(db_url)
    add_zermelo(sessions, settings, replay)
    engines = [db.make_engine(db_url) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[list[sync.Outcome]] = []

    def process(engine: Any) -> None:
        barrier.wait(TIMEOUT)
        outcomes.append(sync.run_due(db.session_factory(engine), settings, now=NOW))

    threads = [threading.Thread(target=process, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    for engine in engines:
        engine.dispose()
    assert sorted(len(o) for o in outcomes) == [0, 1]
    assert [o.result for found in outcomes for o in found] == ["ok"]
    assert len(replay.requests(APPOINTMENTS)) == 1
    # Not due again within the hour; due after it.
    assert sync.run_due(sessions, settings, now=NOW + timedelta(minutes=59)) == []
    again = sync.run_due(sessions, settings, now=NOW + timedelta(hours=1))
    assert [o.result for o in again] == ["ok"] and again[0].counts["inserted"] == 0


def test_a_claimed_source_is_busy_until_the_claim_expires(
    db_url: str, sessions: sessionmaker[Session], replay: Replay
) -> None:
    """A source another process holds is skipped; a dead process's claim lapses."""
    replay.answer(APPOINTMENTS, answer(recorded_after()), kind="application/json")
    settings = settings_for(db_url)
    source_id = add_zermelo(sessions, settings, replay)
    with sessions.begin() as session:
        assert sources.claim(session, source_id=source_id, now=NOW, hold=sync.CLAIM_HOLD)
    assert sync.sync_one(sessions, settings, source_id=source_id, now=NOW).result == "busy"
    assert replay.requests(APPOINTMENTS) == []
    later = NOW + sync.CLAIM_HOLD
    assert sync.sync_one(sessions, settings, source_id=source_id, now=later).result == "ok"


@pytest.mark.parametrize(
    ("status", "body", "result", "message"),
    [
        (500, b"internal error", "failed", "the server answered HTTP 500"),
        (401, b'{"response": {"status": 401}}', "failed", "the server answered HTTP 401"),
        (200, b"<html>maintenance</html>", "refused", "zermelo:1: not JSON"),
        (
            200,
            b'{"response": {"status": 200, "data": [{"id": 1, "start": "x"}]}}',
            "refused",
            "zermelo: data[0] (id 1): 'start' must be a whole number",
        ),
        (200, b"x" * (10 * 1024 * 1024 + 1), "refused", "larger than the limit"),
    ],
)
def test_a_bad_answer_is_recorded_and_changes_nothing(
    db_url: str,
    sessions: sessionmaker[Session],
    replay: Replay,
    status: int,
    body: bytes,
    result: str,
    message: str,
) -> None:
    """A failed fetch or a refused answer keeps the lessons as they were and says why."""
    replay.answer(APPOINTMENTS, answer(recorded_after()), kind="application/json")
    settings = settings_for(db_url)
    source_id = add_zermelo(sessions, settings, replay)
    assert sync.sync_one(sessions, settings, source_id=source_id, now=NOW).result == "ok"
    kept = lesson_ids(sessions)
    replay.answer(APPOINTMENTS, body, status=status, kind="application/json")
    later = NOW + timedelta(hours=1)
    outcome = sync.sync_one(sessions, settings, source_id=source_id, now=later)
    assert outcome.result == result and message in (outcome.error or ""), outcome
    assert lesson_ids(sessions) == kept
    with sessions.begin() as session:
        row = session.get_one(TimetableSource, source_id)
        assert (row.last_result, row.last_sync_at, row.claimed_until) == (result, later, None)
        assert row.last_error is not None and TOKEN not in row.last_error


def test_an_unreachable_source_fails_without_naming_its_secret(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    """A feed that cannot be reached is a failed sync; the message holds no URL or token."""
    settings = settings_for(db_url)
    with sessions.begin() as session:
        port_closed = "http://127.0.0.1:9/feed.ics?access_token=SEKRET-FEED-TOKEN"
        source_id = sources.add_source(
            session,
            school=schools.school(session),
            settings=settings,
            name="feed",
            kind="ical_url",
            now=NOW,
            secret=port_closed,
            default_group="3B",
        ).id
    outcome = sync.sync_one(sessions, settings, source_id=source_id, now=NOW)
    assert outcome.result == "failed" and "could not fetch" in (outcome.error or "")
    assert "SEKRET" not in (outcome.error or "")


def test_a_source_sealed_with_another_key_fails_clearly(
    db_url: str, sessions: sessionmaker[Session], replay: Replay
) -> None:
    """A collector with a different secret key cannot read the token and says what to do."""
    source_id = add_zermelo(sessions, settings_for(db_url), replay)
    other = Settings(db=db_url, secret_key=Fernet.generate_key().decode())
    outcome = sync.sync_one(sessions, other, source_id=source_id, now=NOW)
    assert outcome.result == "failed"
    assert "cannot be decrypted with this collector's secret key" in (outcome.error or "")
    assert replay.requests(APPOINTMENTS) == []


def test_logs_never_hold_the_token(
    db_url: str,
    sessions: sessionmaker[Session],
    replay: Replay,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Neither a good nor a failing sync logs the token, at any level."""
    caplog.set_level(logging.DEBUG)
    settings = settings_for(db_url)
    add_zermelo(sessions, settings, replay)
    replay.answer(APPOINTMENTS, answer(recorded_after()), kind="application/json")
    assert [o.result for o in sync.run_due(sessions, settings, now=NOW)] == ["ok"]
    replay.answer(APPOINTMENTS, b"{}", kind="application/json")
    later = NOW + timedelta(hours=1)
    assert [o.result for o in sync.run_due(sessions, settings, now=later)] == ["refused"]
    assert "timetable sync of 'zermelo'" in caplog.text
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(
    "url", ["https://school.example/feed ics?t=SEKRET", "https://school.example/\x00?t=SEKRET"]
)
def test_urls_with_spaces_or_control_characters_are_refused(
    sessions: sessionmaker[Session], db_url: str, url: str
) -> None:
    """A feed URL that HTTP could not send is refused when it is added, without quoting it."""
    with sessions.begin() as session, pytest.raises(InvalidRequest) as caught:
        sources.add_source(
            session,
            school=schools.school(session),
            settings=settings_for(db_url),
            name="feed",
            kind="ical_url",
            now=NOW,
            secret=url,
        )
    assert "SEKRET" not in caught.value.message
