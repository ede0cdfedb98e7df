"""The lesson report: pure numbers, small-count suppression, access by role, audit, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from policies.wire import parse_summary
from service import audit
from service.accounts import users
from service.actors import Actor
from service.devices import registry as devices
from service.errors import Forbidden, NotFound
from service.ingest import summaries as ingest
from service.models import DeviceLessonSummary, LessonAggregate
from service.reports.lesson_report import lesson_report
from service.reports.numbers import report_numbers, suppress_small_counts
from service.retention.purge import purge, school_year_start
from service.schools import registry as schools
from tests.support.clock import LESSON_END, LESSON_START, FakeClock
from tests.support.collector import World, enrol, finding, summary


def _numbers(pairs: list[tuple[str, dict[str, Any]]], expected: int = 3) -> dict[str, Any]:
    return report_numbers(
        lesson_start=LESSON_START,
        lesson_end=LESSON_END,
        devices_expected=expected,
        summaries=[(d, parse_summary(s)) for d, s in pairs],
    )


# --- the pure builder ------------------------------------------------------------------------


def test_devices_count_once_and_seconds_add_up() -> None:
    """Two summaries of one device (a restart) count one device and add their seconds."""
    first = summary("l_x", [finding("telegram", 300)], ended=LESSON_START + timedelta(minutes=20))
    second = summary(
        "l_x", [finding("telegram", 120)], started=LESSON_START + timedelta(minutes=20)
    )
    other = summary("l_x", [finding("tiktok", 60, first_bucket=2)])
    numbers = _numbers([("d1", first), ("d1", second), ("d2", other)])
    assert numbers["devices_reporting"] == 2
    assert numbers["categories"] == [{"category": "social_media", "devices": 2, "seconds": 480}]
    assert numbers["families"] == [
        {"category": "social_media", "family": "telegram", "devices": 1, "seconds": 420},
        {"category": "social_media", "family": "tiktok", "devices": 1, "seconds": 60},
    ]
    timeline = numbers["timeline"]
    assert len(timeline) == 10  # 50 minutes in 5-minute buckets
    assert timeline[0]["categories"] == [{"category": "social_media", "devices": 1, "seconds": 300}]
    assert timeline[2]["categories"] == [{"category": "social_media", "devices": 1, "seconds": 60}]
    assert timeline[4]["categories"] == [{"category": "social_media", "devices": 1, "seconds": 120}]
    assert numbers["coverage"]["devices_missing"] == 1
    assert numbers["coverage"]["probes_unavailable"] == {"camera": 2}


def test_report_of_a_lesson_nobody_reported() -> None:
    """No summaries: everyone expected is missing and nothing is counted."""
    numbers = _numbers([], expected=25)
    assert (numbers["devices_reporting"], numbers["coverage"]["devices_missing"]) == (0, 25)
    assert numbers["categories"] == numbers["families"] == []


@pytest.mark.parametrize(
    ("devices", "threshold", "shown"),
    [(0, 3, 0), (1, 3, None), (2, 3, None), (3, 3, 3), (7, 3, 7), (1, 1, 1), (4, 5, None)],
)
def test_suppress_small_counts(devices: int, threshold: int, shown: int | None) -> None:
    """Counts of 1 to threshold-1 devices lose both count and seconds; others stay."""
    report = {
        "categories": [{"category": "c", "devices": devices, "seconds": 10}],
        "families": [{"category": "c", "family": "f", "devices": devices, "seconds": 10}],
        "timeline": [
            {"start": "x", "categories": [{"category": "c", "devices": devices, "seconds": 10}]}
        ],
    }
    out = suppress_small_counts(report, threshold)
    rows = [out["categories"][0], out["families"][0], out["timeline"][0]["categories"][0]]
    assert {r["devices"] for r in rows} == {shown}
    assert {r["seconds"] for r in rows} == {None if shown is None else 10}
    assert report["categories"][0]["devices"] == devices  # the input is not changed


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["d1", "d2", "d3", "d4"]),
            st.sampled_from(["telegram", "tiktok", "youtube"]),
            st.integers(0, 3000),
        ),
        max_size=12,
    )
)
def test_report_invariants(rows: list[tuple[str, str, int]]) -> None:
    """Totals equal the sum of what was sent, each device's seconds counted up to the lesson's
    length (per 5-minute bucket up to the bucket's); no count exceeds the reporting devices."""
    rules = {"youtube": ("a1-video-streaming", "video_streaming")}
    pairs = []
    for device, family, seconds in rows:
        rule, category = rules.get(family, ("a1-social-media", "social_media"))
        pairs.append(
            (device, summary("l_x", [finding(family, seconds, rule=rule, category=category)]))
        )
    numbers = _numbers(pairs, expected=4)
    lesson = 3000  # the 50-minute lesson every summary here covers
    per_family: dict[tuple[str, str, str], int] = {}
    per_category: dict[tuple[str, str], int] = {}
    per_bucket: dict[tuple[str, str, int], int] = {}
    for device, family, seconds in rows:
        category = rules.get(family, ("", "social_media"))[1]
        per_family[(device, category, family)] = per_family.get((device, category, family), 0)
        per_family[(device, category, family)] += seconds
        per_category[(device, category)] = per_category.get((device, category), 0) + seconds
        for i, part in enumerate(finding(family, seconds)["buckets"]):
            per_bucket[(device, category, i)] = per_bucket.get((device, category, i), 0) + part
    assert sum(r["seconds"] for r in numbers["categories"]) == sum(
        min(v, lesson) for v in per_category.values()
    )
    assert sum(r["seconds"] for r in numbers["families"]) == sum(
        min(v, lesson) for v in per_family.values()
    )
    timeline_total = sum(c["seconds"] for b in numbers["timeline"] for c in b["categories"])
    assert timeline_total == sum(min(v, 300) for v in per_bucket.values())
    reporting = numbers["devices_reporting"]
    assert reporting == len({d for d, _, _ in rows})
    assert all(r["devices"] <= reporting for r in numbers["categories"] + numbers["families"])


# --- gathered from storage -------------------------------------------------------------------


def _fill(sessions: sessionmaker[Session], world: World, clock: FakeClock) -> None:
    """Four 3B devices report: three used Telegram, one TikTok."""
    for i in range(4):
        with sessions.begin() as session:
            token = enrol(session, world.code_3b, clock()).token
            device = devices.device_for_token(session, token)
            family = "tiktok" if i == 3 else "telegram"
            items = [summary(world.lesson_3b, [finding(family, 120 * (i + 1))])]
            results = ingest.ingest_batch(
                session,
                device=device,
                items=items,
                now=clock(),
                future_tolerance=timedelta(hours=1),
            )
            assert results[0].status == "accepted"


def _actor(session: Session, name: str | None) -> Actor:
    """A user by name, or (``None``) the operator at the command line."""
    school = schools.school(session)
    if name is None:
        return Actor.operator(school)
    return Actor.of_user(users.by_username(session, name, school=school))


@pytest.mark.parametrize(
    ("viewer", "allowed"),
    [("ann", True), ("root", True), ("bob", False), ("ict", False), (None, True)],
)
def test_who_may_read_a_report(
    sessions: sessionmaker[Session],
    world: World,
    clock: FakeClock,
    viewer: str | None,
    allowed: bool,
) -> None:
    """The lesson's own teacher, admins and the local CLI may; other teachers and IT may not."""
    with sessions.begin() as session:
        who = _actor(session, viewer)
        if allowed:
            report = lesson_report(session, lesson_id=world.lesson_3b, actor=who, now=clock())
            assert report["lesson"]["id"] == world.lesson_3b
        else:
            with pytest.raises(Forbidden):
                lesson_report(session, lesson_id=world.lesson_3b, actor=who, now=clock())
    with sessions.begin() as session:
        views = audit.entries(session, action="report.view")
    assert len(views) == (1 if allowed else 0)


@pytest.mark.parametrize("viewer", ["ann", "root", None])
def test_small_counts_are_suppressed_for_every_role(
    sessions: sessionmaker[Session], world: World, clock: FakeClock, viewer: str | None
) -> None:
    """The single TikTok device is hidden from the teacher, the admin and the command line alike:
    the report operation applies the rule itself, so no surface or role reads it exactly."""
    _fill(sessions, world, clock)
    with sessions.begin() as session:
        report = lesson_report(
            session, lesson_id=world.lesson_3b, actor=_actor(session, viewer), now=clock()
        )
    fam = {r["family"]: r for r in report["families"]}
    assert fam["telegram"]["devices"] == 3 and fam["telegram"]["seconds"] == 120 + 240 + 360
    assert fam["tiktok"]["devices"] is None and fam["tiktok"]["seconds"] is None
    assert report["suppressed_below"] == 3
    assert report["devices_expected"] == report["devices_reporting"] == 4


def test_another_schools_lesson_is_not_found(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """Another school's admin or operator learns nothing of a lesson, not even that it exists."""
    with sessions.begin() as session:
        other = schools.school(session, "Other school")
        for actor in (Actor.operator(other), Actor("user", "x", other.id, "admin", 999)):
            with pytest.raises(NotFound):
                lesson_report(session, lesson_id=world.lesson_3b, actor=actor, now=clock())
        assert audit.entries(session, action="report.view") == []


@pytest.mark.usefixtures("world")
def test_unknown_lesson_is_not_found(sessions: sessionmaker[Session], clock: FakeClock) -> None:
    """A report for a lesson that does not exist raises NotFound."""
    with sessions.begin() as session, pytest.raises(NotFound):
        lesson_report(session, lesson_id="l_nothing", actor=_actor(session, None), now=clock())


# --- retention -------------------------------------------------------------------------------


def test_purge_keeps_the_report_numbers(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """After the retention period the summaries are gone and the report reads the same."""
    _fill(sessions, world, clock)
    with sessions.begin() as session:
        before = lesson_report(
            session, lesson_id=world.lesson_3b, actor=_actor(session, None), now=clock()
        )
    clock.now = LESSON_END + timedelta(days=27)
    with sessions.begin() as session:
        early = purge(session, now=clock())
    assert (early.ran, early.lessons_frozen, early.summaries_deleted) == (True, 0, 0)
    clock.now = LESSON_END + timedelta(days=28, seconds=1)
    with sessions.begin() as session:
        result = purge(session, now=clock())
    assert (result.lessons_frozen, result.summaries_deleted) == (2, 4)
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(DeviceLessonSummary)) == 0
        after = lesson_report(
            session, lesson_id=world.lesson_3b, actor=_actor(session, None), now=clock()
        )
    assert after["source"] == "aggregate" and before["source"] == "summaries"
    assert {k: v for k, v in after.items() if k != "source"} == {
        k: v for k, v in before.items() if k != "source"
    }


def test_summary_after_the_purge_is_rejected(
    sessions: sessionmaker[Session], world: World, clock: FakeClock
) -> None:
    """A late summary for a lesson past retention is refused, so frozen numbers stay true."""
    with sessions.begin() as session:
        token = enrol(session, world.code_3b, clock()).token
    clock.now = LESSON_END + timedelta(days=29)
    with sessions.begin() as session:
        purge(session, now=clock())
    with sessions.begin() as session:
        device = devices.device_for_token(session, token)
        results = ingest.ingest_batch(
            session,
            device=device,
            items=[summary(world.lesson_3b)],
            now=clock(),
            future_tolerance=timedelta(hours=1),
        )
    assert results[0].status == "rejected"
    assert "retention" in (results[0].reason or "")


@pytest.mark.usefixtures("world")
def test_purge_removes_last_school_year(sessions: sessionmaker[Session], clock: FakeClock) -> None:
    """On 1 August the previous school year's lessons and numbers are deleted."""
    clock.now = datetime(2027, 7, 31, 12, tzinfo=UTC)
    with sessions.begin() as session:
        assert purge(session, now=clock()).lessons_deleted == 0
        assert session.scalar(select(func.count()).select_from(LessonAggregate)) == 2
    clock.now = datetime(2027, 8, 1, 12, tzinfo=UTC)
    with sessions.begin() as session:
        assert purge(session, now=clock()).lessons_deleted == 2
        assert session.scalar(select(func.count()).select_from(LessonAggregate)) == 0


@pytest.mark.parametrize(
    ("now", "start"),
    [
        (datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 7, 31, 22, tzinfo=UTC)),
        (datetime(2026, 7, 31, 21, 59, tzinfo=UTC), datetime(2025, 7, 31, 22, tzinfo=UTC)),
        (datetime(2026, 7, 31, 22, 0, tzinfo=UTC), datetime(2026, 7, 31, 22, tzinfo=UTC)),
    ],
)
def test_school_year_start(now: datetime, start: datetime) -> None:
    """The school year starts on 1 August at midnight, school time."""
    assert school_year_start(now, "Europe/Amsterdam") == start


def test_purge_runs_once_across_processes(db_url: str, sessions: sessionmaker[Session]) -> None:
    """On PostgreSQL a second purge while one is running skips; on SQLite (one process, one
    writer at a time) purges simply run one after the other."""
    now = datetime(2026, 12, 30, tzinfo=UTC)
    if db_url.startswith("sqlite"):
        for _ in range(2):
            with sessions.begin() as session:
                assert purge(session, now=now).ran
        return
    with sessions.begin() as first:
        assert purge(first, now=now).ran
        with sessions.begin() as second:
            assert not purge(second, now=now).ran
    with sessions.begin() as third:
        assert purge(third, now=now).ran
