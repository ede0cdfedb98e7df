"""The purge freezes exactly what each lesson's report showed: every field of every lesson's
report is the same before and after its summaries are deleted, on SQLite and PostgreSQL.

The purge counts many lessons in a batch (``lesson_report.numbers_of``) while a report read
live counts its one lesson; both go through ``lesson_report.lesson_numbers``, and these tests
are what would show the two drifting apart: the demo school next to a second school built to
hold every case the numbers distinguish, and a hypothesis property over generated lessons.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.actors import Actor
from service.lessons import records as lessons
from service.models import DeviceLessonSummary, Lesson, LessonAggregate, School
from service.reports.lesson_report import lesson_report
from service.retention.purge import purge
from service.schools import registry as schools
from tests.support.clock import DEMO_NOW
from tests.support.collector import add_device, finding, summary

# Past every demo lesson's retention (28 days), within the same school year.
PURGE_AT = DEMO_NOW + timedelta(days=45)
FAMILIES = (
    ("telegram", "a1-social-media", "social_media"),
    ("youtube", "a1-video-streaming", "video_streaming"),
    ("snipping_tool", "a1-recording", "screen_recording"),
)


def reports(session: Session, lesson_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each lesson's report as its school's operator reads it, without the field that says
    where its numbers came from (``source``: summaries before the purge, aggregate after)."""
    out = {}
    for lesson_id in lesson_ids:
        school = session.get_one(School, session.get_one(Lesson, lesson_id).school_id)
        report = lesson_report(
            session, lesson_id=lesson_id, actor=Actor.operator(school), now=PURGE_AT
        )
        out[lesson_id] = {k: v for k, v in report.items() if k != "source"}
    return out


def as_bytes(found: dict[str, dict[str, Any]]) -> bytes:
    return json.dumps(found, sort_keys=True).encode()


def purged_reports(
    sessions: sessionmaker[Session],
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The report of every lesson not frozen yet, before and after a purge that freezes them."""
    with sessions.begin() as session:
        frozen = select(LessonAggregate.lesson_id)
        due = select(Lesson.id).where(Lesson.end < PURGE_AT, Lesson.id.not_in(frozen))
        ids = list(session.scalars(due))
        before = reports(session, ids)
    with sessions.begin() as session:
        result = purge(session, now=PURGE_AT)
    assert result.lessons_frozen == len(ids)
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(DeviceLessonSummary)) == 0
        assert set(ids) <= set(session.scalars(frozen))
        after = reports(session, ids)
    return before, after


def hourly_lessons(
    session: Session, school: School, group: str, start: datetime, n: int
) -> list[Lesson]:
    """``n`` lessons of 50 minutes of ``group``, one an hour from ``start``."""
    return [
        lessons.add_lesson(
            session,
            school=school,
            group=group,
            start=start + timedelta(hours=k),
            end=start + timedelta(hours=k, minutes=50),
            now=DEMO_NOW,
        )
        for k in range(n)
    ]


def store(session: Session, device_id: str, lesson: Lesson, data: dict[str, Any]) -> None:
    """A summary row as ingestion stores it (or, with a bad ``data``, as an older collector
    did: the report leaves such a row out and counts it as unreadable)."""
    session.add(
        DeviceLessonSummary(
            report_id=str(uuid.uuid4()),
            device_id=device_id,
            lesson_id=lesson.id,
            received_at=lesson.end + timedelta(minutes=1),
            started_at=lesson.start,
            ended_at=lesson.end,
            seconds_monitored=int((lesson.end - lesson.start).total_seconds()),
            gaps=int(data.get("coverage", {}).get("gaps", 0)),
            dropped=int(data.get("dropped", 0)),
            summary=data,
        )
    )


def second_school(session: Session) -> list[str]:
    """A school beside the demo one with every case the numbers tell apart; its lesson ids."""
    school = schools.school(session, f"Tweede school {uuid.uuid4().hex[:6]}")
    start = DEMO_NOW - timedelta(days=2)
    busy, empty, lone = hourly_lessons(session, school, "2C", start, 3)
    before = start - timedelta(days=30)
    pupils = [add_device(session, busy, enrolled_at=before).id for _ in range(4)]
    clones = [
        add_device(session, busy, enrolled_at=before, fingerprint="fp-c").id for _ in range(2)
    ]
    late = add_device(session, busy, enrolled_at=busy.start + timedelta(minutes=10)).id
    gone = add_device(session, busy, enrolled_at=before, retired=True).id
    telegram = finding("telegram", 400)
    # Restarted mid-lesson: two summaries of one device, one from 20 minutes in.
    store(
        session,
        pupils[0],
        busy,
        summary(busy.id, [telegram], started=busy.start, ended=busy.start + timedelta(minutes=20)),
    )
    second = summary(
        busy.id,
        [finding("tiktok", 200, first_bucket=1)],
        started=busy.start + timedelta(minutes=20),
        ended=busy.end,
    )
    store(session, pupils[0], busy, second)
    for device in pupils[1:3]:
        store(
            session, device, busy, summary(busy.id, [telegram], started=busy.start, ended=busy.end)
        )
    # One device with video: a count too small to show.
    store(
        session,
        pupils[3],
        busy,
        summary(
            busy.id,
            [finding("youtube", 120, rule="a1-video-streaming", category="video_streaming")],
            started=busy.start,
            ended=busy.end,
            gaps=2,
        ),
    )
    for device in (*clones, late, gone):
        store(
            session, device, busy, summary(busy.id, [telegram], started=busy.start, ended=busy.end)
        )
    unreadable = summary(busy.id, started=busy.start, ended=busy.end)
    unreadable["started_at"] = "1-01-01T00:00:00Z"
    store(session, pupils[1], busy, unreadable)
    store(
        session, pupils[2], lone, summary(lone.id, [telegram], started=lone.start, ended=lone.end)
    )
    # Granted ten minutes in, withdrawn at half past: the report lists it either way.
    permission = lessons.grant_permission(
        session,
        lesson=busy,
        categories=["social_media"],
        now=busy.start + timedelta(minutes=10),
        note="project",
    )
    permission.withdrawn_at = busy.start + timedelta(minutes=30)
    session.flush()
    return [busy.id, empty.id, lone.id]


def test_every_report_reads_the_same_before_and_after_the_purge(
    demo_sessions: sessionmaker[Session],
) -> None:
    """The demo school and a second school: each lesson's report, field for field and byte for
    byte, is what it was while its summaries were there."""
    with demo_sessions.begin() as session:
        busy, empty, lone = second_school(session)
    before, after = purged_reports(demo_sessions)
    assert as_bytes(after) == as_bytes(before)
    assert after == before
    # The data held the cases it was built for, so the equality above tested them.
    shown = before[busy]
    # Clones and the late device do not count; the retired one does, as it reported.
    assert shown["devices_expected"] == 7 and shown["devices_reporting"] == 5
    assert shown["coverage"]["unreadable"] == 1 and shown["coverage"]["gaps"] == 2
    assert {"category": "video_streaming", "devices": None, "seconds": None} in shown["categories"]
    assert shown["permissions"][0]["withdrawn_at"] is not None
    assert before[empty]["devices_reporting"] == 0
    assert before[lone]["categories"] == [
        {"category": "social_media", "devices": None, "seconds": None}
    ]
    demo = [r for lesson_id, r in before.items() if lesson_id not in (busy, empty, lone)]
    assert sum(1 for r in demo if r["devices_reporting"]) > 50, "the demo's lessons have summaries"


@st.composite
def lesson_summaries(draw: st.DrawFn) -> list[list[tuple[int, list[tuple[int, int, int]], int]]]:
    """Per lesson, per summary: which of six devices sent it, its findings as (family, seconds,
    first bucket), and how many minutes into the lesson it started."""
    one = st.tuples(
        st.integers(0, 5),
        st.lists(
            st.tuples(st.integers(0, 2), st.integers(0, 600), st.integers(0, 8)),
            max_size=3,
            unique_by=lambda f: f[0],  # a summary lists a family once
        ),
        st.integers(-5, 45),
    )
    return draw(st.lists(st.lists(one, max_size=8), min_size=1, max_size=4))


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=lesson_summaries(), threshold=st.integers(1, 4))
def test_generated_lessons_read_the_same_after_the_purge(
    demo_sessions: sessionmaker[Session],
    drawn: list[list[tuple[int, list[tuple[int, int, int]], int]]],
    threshold: int,
) -> None:
    """Any mix of devices (two of them clones, one enrolled during the lessons), restarts,
    findings and small counts: every report reads the same after the purge. Each example adds
    a school of its own; the lessons of earlier examples are frozen already."""
    with demo_sessions.begin() as session:
        school = schools.school(session, f"Gegenereerd {uuid.uuid4().hex[:8]}")
        school.small_count_threshold = threshold
        start = DEMO_NOW - timedelta(days=3)
        rows = hourly_lessons(session, school, "1A", start, len(drawn))
        first = rows[0]
        enrolled = [start - timedelta(days=1)] * 5 + [start + timedelta(hours=1, minutes=5)]
        prints = [None, None, None, "fp-x", "fp-x", None]
        devices = [
            add_device(session, first, enrolled_at=at, fingerprint=fp).id
            for at, fp in zip(enrolled, prints, strict=True)
        ]
        for lesson, sent in zip(rows, drawn, strict=True):
            for device, found, minutes in sent:
                began = lesson.start + timedelta(minutes=minutes)
                items = [
                    finding(
                        FAMILIES[f][0],
                        seconds,
                        rule=FAMILIES[f][1],
                        category=FAMILIES[f][2],
                        first_bucket=bucket,
                    )
                    for f, seconds, bucket in found
                ]
                data = summary(lesson.id, items, started=began, ended=began + timedelta(minutes=50))
                store(session, devices[device], lesson, data)
    before, after = purged_reports(demo_sessions)
    assert as_bytes(after) == as_bytes(before)
    assert not [r for r in before.values() if r["coverage"]["unreadable"]], "all parse"
    assert not [r for r in before.values() if r["coverage"]["unreadable"]], "all parse"
