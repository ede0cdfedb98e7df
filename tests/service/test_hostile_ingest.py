"""Hostile devices (issue 14, parts 1 and 2): summaries that would poison the reads, overflow
the parser in a shared group commit, or add up past their lesson are refused item by item, and
rows an older collector stored anyway are quarantined on every read instead of answering 500."""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.actors import Actor
from service.devices import registry as devices
from service.devices import subject_access
from service.ingest import bounds
from service.ingest import summaries as ingest
from service.models import Device, DeviceLessonSummary, Lesson, School, User
from service.reports import attention, numbers
from service.reports.lesson_report import live_numbers
from service.reports.stored import readable
from service.retention import purge as retention
from service.web.headers import security_headers
from service.web.i18n import translator
from service.web.pages.report import report_page
from service.web.pages.trend import group_trend
from tests.service.test_intake_http import device_of, post, tokens, wait_until, writes_held
from tests.service.test_intake_http import live as live  # the same collector on loopback
from tests.support.clock import LESSON_END, LESSON_START, FakeClock
from tests.support.collector import Live, World, enrol, finding, summary

TIMEOUT = 60
LESSON_SECONDS = int((LESSON_END - LESSON_START).total_seconds())


@pytest.fixture
def every_count_shown(world: World, sessions: sessionmaker[Session]) -> None:
    """One device is enough to show a number: the tests compare the seconds themselves."""
    with sessions.begin() as session:
        lesson = session.get_one(Lesson, world.lesson_3b)
        session.get_one(School, lesson.school_id).small_count_threshold = 1


pytestmark = pytest.mark.usefixtures("every_count_shown")


def results(answer: requests.Response) -> list[tuple[str, str | None]]:
    assert answer.status_code == 200, answer.text
    return [(r["status"], r["reason"]) for r in answer.json()["results"]]


def report(live: Live, world: World) -> requests.Response:
    return requests.get(
        f"{live.url}/api/v1/lessons/{world.lesson_3b}/report",
        headers={"Authorization": f"Bearer {world.teacher_token}"},
        timeout=TIMEOUT,
    )


def store_as_an_old_collector_did(
    sessions: sessionmaker[Session], device_id: str, lesson_id: str, data: dict[str, Any]
) -> None:
    """A row written past today's checks, as the collectors before issue 14 accepted it."""
    with sessions.begin() as session:
        session.add(
            DeviceLessonSummary(
                report_id=data["report_id"],
                device_id=device_id,
                lesson_id=lesson_id,
                received_at=LESSON_END,
                started_at=LESSON_START,
                ended_at=LESSON_END,
                seconds_monitored=data["coverage"]["seconds_monitored"],
                gaps=0,
                dropped=data["dropped"],
                summary=data,
            )
        )


def every_read(sessions: sessionmaker[Session], lesson_id: str, now: datetime) -> dict[str, Any]:
    """The lesson's numbers after the trend, the attention list, each device's export and the
    purge of every school (a year on: it freezes and deletes everything) have all run without
    an exception."""
    t = translator("nl")
    with sessions.begin() as session:
        lesson = session.get_one(Lesson, lesson_id)
        school = session.get_one(School, lesson.school_id)
        admin = session.scalars(select(User).where(User.role == "admin")).first()
        assert admin is not None
        actor = Actor.of_user(admin)
        group_trend(session, lesson=lesson, school=school, actor=actor, now=now, t=t)
        attention.attention_list(session, actor=actor, filters=attention.Filters(), now=now)
        for device_id in session.scalars(select(Device.id)):
            subject_access.export_device(session, actor=actor, device_id=device_id, now=now)
        found = live_numbers(session, lesson)
    with sessions() as session:
        retention.purge(session, now=now + timedelta(days=400))
        session.rollback()  # the property sends more summaries to the same lesson afterwards
    return found


# --- part 1: a time in year 1 ------------------------------------------------------------------


def year_one(lesson_id: str) -> dict[str, Any]:
    item = summary(lesson_id, [finding()])
    item["started_at"] = "0001-01-01T00:00:00Z"
    item["ended_at"] = "0001-01-01T00:50:00Z"
    return item


def test_a_summary_dated_in_year_one_is_rejected(
    live: Live, world: World, clock: FakeClock
) -> None:
    """The summary that used to be stored as ``1-01-01T00:00:00Z`` is refused: not in the lesson."""
    sessions_token = tokens(live.app.state.runtime.sessions, clock, world.code_3b, 1)[0]
    answer = post(live, sessions_token, [year_one(world.lesson_3b)])
    assert results(answer) == [("rejected", bounds.OUTSIDE_LESSON)]
    assert report(live, world).status_code == 200


def test_a_stored_unreadable_row_is_quarantined_on_every_read(
    live: Live,
    world: World,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A year-1 row as the old collector wrote it back: the report answers 200 and counts it as
    unreadable, and the trend, attention list, export and purge all still run."""
    token = tokens(sessions, clock, world.code_3b, 1)[0]
    assert results(post(live, token, [summary(world.lesson_3b, [finding()])]))[0][0] == "accepted"
    poisoned = year_one(world.lesson_3b)
    poisoned["started_at"] = "1-01-01T00:00:00Z"
    poisoned["ended_at"] = "1-01-01T00:50:00Z"
    store_as_an_old_collector_did(sessions, device_of(sessions, token), world.lesson_3b, poisoned)
    caplog.set_level(logging.WARNING, logger="lessonwatch.service")
    answer = report(live, world)
    assert answer.status_code == 200, answer.text
    assert answer.json()["coverage"]["unreadable"] == 1
    assert answer.json()["coverage"]["seconds_monitored"] == LESSON_SECONDS
    assert "is unreadable and left out" in caplog.text
    with sessions() as session:  # the page says what its numbers leave out, in Dutch
        admin = session.scalars(select(User).where(User.role == "admin")).one()
        page = report_page(session, lesson_id=world.lesson_3b, viewer=admin, now=clock(), lang="nl")
    assert (
        "1 opgeslagen samenvatting kon niet worden gelezen en is weggelaten"
        in (page["coverage_gaps"])
    )
    numbers_after = every_read(sessions, world.lesson_3b, clock())
    assert numbers_after["coverage"]["unreadable"] == 1


# --- part 1: a time that overflows in UTC, in a shared group commit ----------------------------


def test_an_overflowing_time_fails_only_its_item_in_a_shared_group(
    live: Live, db_url: str, world: World, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """``0001-01-01T00:30:00+01:00`` (year 0 in UTC) queued in one group with another device's
    valid upload: the bad item is rejected with a reason, the other request is accepted."""
    first, hostile, honest = tokens(sessions, clock, world.code_3b, 3)
    for token in (first, hostile, honest):
        assert post(live, token, []).json() == {"results": []}
    writes = live.app.state.intake.writes
    bad = summary(world.lesson_3b)
    bad["ended_at"] = "0001-01-01T00:30:00+01:00"
    good = summary(world.lesson_3b, [finding()])
    with ThreadPoolExecutor(max_workers=3) as pool, writes_held(db_url):
        started = writes.groups
        leading = pool.submit(post, live, first, [summary(world.lesson_3b)])
        wait_until(lambda: writes.groups == started + 1, "the first group runs")
        hostile_answer = pool.submit(post, live, hostile, [bad])
        honest_answer = pool.submit(post, live, honest, [good])
        wait_until(lambda: writes.waiting == 2, "both requests wait for the next group")
    assert leading.result().status_code == 200
    assert results(hostile_answer.result()) == [
        ("rejected", "ended_at is outside the years 1 to 9999 in UTC")
    ]
    assert results(honest_answer.result()) == [("accepted", None)]


# --- part 2: one device adding up past its lesson ----------------------------------------------


def claims(lesson_id: str) -> list[tuple[str, dict[str, Any], str]]:
    """(name, summary, the reason it is refused for) for each claim past the lesson."""
    twelve_hours = summary(
        lesson_id, started=LESSON_START, ended=LESSON_START + timedelta(hours=12)
    )
    dropped = summary(lesson_id)
    dropped["dropped"] = 10_000_000
    early = summary(
        lesson_id,
        started=LESSON_START - timedelta(hours=2),
        ended=LESSON_START - timedelta(hours=1),
    )
    episodes = summary(lesson_id, [finding(seconds=10)])
    episodes["findings"][0]["episodes"] = 11
    return [
        ("a 12-hour window", twelve_hours, bounds.OUTSIDE_LESSON),
        ("dropped: 10000000", dropped, bounds.DROPPED),
        ("a window before the lesson", early, bounds.OUTSIDE_LESSON),
        (
            "more episodes than seconds",
            episodes,
            "findings[0].episodes must be at most its seconds",
        ),
    ]


@pytest.mark.parametrize("which", range(4), ids=[c[0] for c in claims("x")])
def test_a_summary_claiming_more_than_its_lesson_is_rejected(
    live: Live, world: World, sessions: sessionmaker[Session], clock: FakeClock, which: int
) -> None:
    """Each claim past the lesson is refused with its reason, and nothing is stored."""
    token = tokens(sessions, clock, world.code_3b, 1)[0]
    _, item, reason = claims(world.lesson_3b)[which]
    assert results(post(live, token, [item])) == [("rejected", reason)]
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(DeviceLessonSummary)) == 0


def test_one_device_cannot_add_up_past_its_lesson(
    live: Live, world: World, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """The attack that showed 229,500 seconds of social media in a 45-minute lesson: 500 copies
    of a full-lesson summary from one device. At most 30 are stored, and the report counts the
    device's seconds once."""
    token = tokens(sessions, clock, world.code_3b, 1)[0]
    full = [finding(seconds=LESSON_SECONDS)]
    items = [summary(world.lesson_3b, full) for _ in range(500)]
    got = results(post(live, token, items))
    most = bounds.MAX_SUMMARIES_PER_LESSON
    assert got[:most] == [("accepted", None)] * most
    assert set(got[most:]) == {("rejected", bounds.TOO_MANY)}
    answer = report(live, world).json()
    assert answer["categories"] == [
        {"category": "social_media", "devices": 1, "seconds": LESSON_SECONDS}
    ]


def test_a_device_sends_at_most_thirty_summaries_per_lesson(
    live: Live, world: World, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Many short windows that do not overlap: the first 30 are stored, the rest refused."""
    token = tokens(sessions, clock, world.code_3b, 1)[0]
    items = [
        summary(
            world.lesson_3b,
            started=LESSON_START + timedelta(minutes=i),
            ended=LESSON_START + timedelta(minutes=i + 1),
        )
        for i in range(45)
    ]
    got = results(post(live, token, items))
    assert got[: bounds.MAX_SUMMARIES_PER_LESSON] == [("accepted", None)] * 30
    assert set(got[bounds.MAX_SUMMARIES_PER_LESSON :]) == {("rejected", bounds.TOO_MANY)}


def test_rows_stored_before_the_checks_are_capped_at_the_lesson(
    live: Live, world: World, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Ten overlapping full-lesson rows of one device, stored by an older collector: the report
    counts the device's seconds, monitored time and dropped count once, capped."""
    token = tokens(sessions, clock, world.code_3b, 1)[0]
    device_id = device_of(sessions, token)
    for _ in range(10):
        item = summary(world.lesson_3b, [finding(seconds=LESSON_SECONDS)])
        item["dropped"] = 10_000_000
        store_as_an_old_collector_did(sessions, device_id, world.lesson_3b, item)
    answer = report(live, world).json()
    assert answer["categories"][0]["seconds"] == LESSON_SECONDS
    assert answer["coverage"]["seconds_monitored"] == LESSON_SECONDS
    assert answer["coverage"]["dropped"] == numbers.MAX_DROPPED
    assert max(c["seconds"] for b in answer["timeline"] for c in b["categories"]) <= 300


def test_the_report_and_the_collector_share_the_dropped_bound() -> None:
    """``reports.numbers`` repeats ingest's bound (it may not import ingest): the two agree."""
    assert numbers.MAX_DROPPED == bounds.MAX_DROPPED


def test_a_retry_of_a_stored_summary_is_still_a_duplicate(
    live: Live, world: World, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """The overlap check leaves a summary's own retry alone: it is answered as a duplicate."""
    token = tokens(sessions, clock, world.code_3b, 1)[0]
    item = summary(world.lesson_3b, [finding()])
    assert results(post(live, token, [item])) == [("accepted", None)]
    assert results(post(live, token, [item])) == [("duplicate", None)]


# --- an unhandled error is a JSON 500 with a request id ----------------------------------------


def test_an_unhandled_error_answers_json_with_a_request_id_that_is_in_the_log(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    """A route that fails unexpectedly answers 500 with a JSON body and a request id, not a
    dropped connection, and the same id is in the log with the traceback."""

    def broken() -> None:
        raise RuntimeError(f"boom {uuid.uuid4()}")

    live.app.add_api_route("/broken-for-test", broken)
    caplog.set_level(logging.ERROR, logger="lessonwatch.service")
    answer = requests.get(live.url + "/broken-for-test", timeout=TIMEOUT)
    assert answer.status_code == 500
    error = answer.json()["error"]
    assert error["code"] == "internal_error"
    assert answer.headers["X-Request-Id"] == error["request_id"]
    assert f"request {error['request_id']}" in caplog.text
    assert "RuntimeError: boom" in caplog.text
    # Answered outside the middleware that adds them, it still carries the security headers.
    for name, value in security_headers("http").items():
        assert answer.headers[name] == value


# --- the property: any sequence of uploads leaves every read working and bounded -------------

ODD_OFFSETS = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
ANY_TIME = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59), timezones=ODD_OFFSETS
)
NEAR_THE_LESSON = st.integers(-30 * 60, 70 * 60).map(lambda s: LESSON_START + timedelta(seconds=s))


@st.composite
def uploads(draw: st.DrawFn) -> tuple[int, list[dict[str, Any]]]:
    """One device's request: copies of one summary (new report ids), any fields in range."""
    start = draw(st.one_of(NEAR_THE_LESSON, ANY_TIME)).replace(microsecond=0)
    span = draw(st.sampled_from([0, 60, 1500, LESSON_SECONDS, LESSON_SECONDS + 600, 12 * 3600]))
    seconds = draw(st.integers(0, span))
    item = summary("placeholder", [finding(seconds=seconds)])
    item["started_at"] = start.isoformat()
    try:
        item["ended_at"] = (start + timedelta(seconds=span)).isoformat()
    except OverflowError:
        item["ended_at"] = start.isoformat()
    item["coverage"]["seconds_monitored"] = draw(st.integers(0, span))
    item["dropped"] = draw(st.sampled_from([0, 1, bounds.MAX_DROPPED, 10_000_000]))
    if seconds:
        item["findings"][0]["episodes"] = draw(st.integers(1, 2 * seconds))
    copies = draw(st.integers(1, 40))
    return draw(st.integers(0, 2)), [
        {**item, "report_id": str(uuid.uuid4())} for _ in range(copies)
    ]


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sent=st.lists(uploads(), min_size=1, max_size=4))
def test_any_uploads_leave_every_read_working_and_no_device_past_its_lesson(
    world: World, sessions: sessionmaker[Session], clock: FakeClock, sent: list[Any]
) -> None:
    """Whatever three devices send (times from year 1 to 9999 at odd offsets, any window, sizes,
    counts, overlapping copies), every item gets an answer; the report, the trend, the
    attention list, the export and the purge all run; no device counts past the lesson."""
    with sessions.begin() as session:
        fleet = [
            session.get_one(Device, device_id)
            for device_id in session.scalars(select(Device.id).order_by(Device.id))
        ]
        while len(fleet) < 3:
            token = enrol(session, world.code_3b, clock()).token
            fleet.append(devices.device_for_token(session, token))
    for which, items in sent:
        for item in items:
            item["lesson_id"] = world.lesson_3b
        with sessions.begin() as session:
            answers = ingest.ingest_batch(
                session,
                device=fleet[which],
                items=items,
                now=clock(),
                future_tolerance=timedelta(hours=1),
            )
        assert len(answers) == len(items)
    found = every_read(sessions, world.lesson_3b, clock())
    reporting = found["devices_reporting"]
    assert found["coverage"]["seconds_monitored"] <= reporting * LESSON_SECONDS
    assert all(c["seconds"] <= reporting * LESSON_SECONDS for c in found["categories"])
    with sessions.begin() as session:
        lesson = session.get_one(Lesson, world.lesson_3b)
        for device in fleet:
            rows = session.execute(
                select(
                    DeviceLessonSummary.id,
                    DeviceLessonSummary.device_id,
                    DeviceLessonSummary.summary,
                ).where(
                    DeviceLessonSummary.lesson_id == lesson.id,
                    DeviceLessonSummary.device_id == device.id,
                )
            )
            own, _ = readable((r[0], r[1], r[2]) for r in rows)
            assert len(own) <= bounds.MAX_SUMMARIES_PER_LESSON
            alone = numbers.report_numbers(
                lesson_start=lesson.start,
                lesson_end=lesson.end,
                devices_expected=1,
                summaries=own,
            )
            assert alone["coverage"]["seconds_monitored"] <= LESSON_SECONDS
            assert all(c["seconds"] <= LESSON_SECONDS for c in alone["categories"])
            for s in (summary for _, summary in own):
                assert lesson.start - bounds.MARGIN <= s.started_at
                assert s.ended_at <= lesson.end + bounds.MARGIN
