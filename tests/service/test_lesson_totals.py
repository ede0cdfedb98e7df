"""Per-lesson totals equal the report's numbers on both backends: on first read, after a late
upload, an erasure or a retired device, and across the retention purge; only lessons whose
summaries changed are counted again."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from service.actors import Actor
from service.demo import data as demo_data
from service.devices.subject_access import erase_device
from service.ingest import summaries as ingest
from service.lessons import records as lessons
from service.models import (
    Device,
    DeviceLessonSummary,
    Lesson,
    LessonAggregate,
    LessonTotals,
    User,
)
from service.reports import totals as lesson_totals
from service.reports.lesson_report import expected_counts, stored_numbers
from service.retention import purge as retention
from service.schools import registry as schools
from tests.support.clock import DEMO_NOW, utc
from tests.support.collector import add_device, finding, retire, summary
from tests.support.sql import recorded, touching

NOW = utc(10)
SHOWN = ("devices_expected", "devices_reporting", "categories")
FAMILIES = {
    "telegram": ("a1-social-media", "social_media"),
    "tiktok": ("a1-social-media", "social_media"),
    "youtube": ("a1-video-streaming", "video_streaming"),
    "snipping_tool": ("a1-recording", "screen_recording"),
}


def report_view(session: Session, lesson: Lesson) -> dict[str, Any]:
    """What the lesson's own report says, in the totals' terms."""
    numbers = stored_numbers(session, lesson)
    return {key: numbers[key] for key in SHOWN}


def every_lesson(session: Session) -> list[Lesson]:
    return list(session.scalars(select(Lesson).order_by(Lesson.start, Lesson.id)))


def kept_marks(session: Session) -> dict[str, tuple[int, int]]:
    """Per kept lesson: how many summaries and the newest id its totals were counted from."""
    rows = session.execute(
        select(LessonTotals.lesson_id, LessonTotals.summaries, LessonTotals.last_summary_id)
    )
    return {lesson_id: (count, last) for lesson_id, count, last in rows}


def read_and_compare(
    session: Session, sessions: sessionmaker[Session]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The totals of every lesson, checked equal to the report; and the SQL they took."""
    rows = every_lesson(session)
    with recorded(sessions) as statements:
        totals = lesson_totals.for_lessons(session, rows, expected=True)
    assert totals == {row.id: report_view(session, row) for row in rows}
    return totals, statements


def upload(
    session: Session, device: Device, lesson: Lesson, now: datetime, family: str, seconds: int
) -> str:
    """One summary through the real ingestion; its status."""
    rule, category = FAMILIES[family]
    item = summary(
        lesson.id,
        [finding(family, seconds, rule=rule, category=category)],
        started=lesson.start,
        ended=lesson.end,
    )
    [result] = ingest.ingest_batch(
        session, device=device, items=[item], now=now, future_tolerance=timedelta(hours=1)
    )
    return result.status


@dataclass(frozen=True)
class Small:
    """A group of its own (in a database other tests' data may share), without the demo's
    password hashing: an admin, lessons three hours ago and later, devices."""

    admin_id: int
    lesson_ids: list[str]
    device_ids: list[str]


def small_world(
    sessions: sessionmaker[Session], *, lessons_n: int = 2, devices_n: int = 4
) -> Small:
    tag = uuid.uuid4().hex[:8]
    with sessions.begin() as session:
        school = schools.school(session)
        admin = User(
            school_id=school.id,
            username=f"admin-{tag}",
            role="admin",
            password_hash="not-used",
            created_at=NOW,
        )
        session.add(admin)
        start = NOW - timedelta(hours=3)
        rows = [
            lessons.add_lesson(
                session,
                school=school,
                group=f"G{tag}",
                start=start + timedelta(minutes=5 * k),
                end=start + timedelta(minutes=5 * k + 50),
                now=NOW,
            )
            for k in range(lessons_n)
        ]
        device_ids = [
            add_device(session, rows[0], enrolled_at=NOW - timedelta(days=1)).id
            for _ in range(devices_n)
        ]
        session.flush()
        return Small(admin.id, [row.id for row in rows], device_ids)


# --- the demo school through a year's events --------------------------------------------------


def test_totals_equal_the_report_through_uploads_erasure_retiring_and_purges(
    demo_sessions: sessionmaker[Session],
) -> None:
    """Table of events on the demo school; after each, every lesson's totals equal its report,
    and only the lessons the event touched are counted again."""
    sessions, now = demo_sessions, DEMO_NOW  # the run's demo template, seeded at DEMO_NOW
    # First read: every lesson with summaries is counted once and kept, in one write.
    with sessions.begin() as session:
        totals, sql = read_and_compare(session, sessions)
        reported = session.scalar(select(func.count(func.distinct(DeviceLessonSummary.lesson_id))))
        assert reported and reported > 50
        assert len(kept_marks(session)) == reported
        assert len(touching(sql, "lesson_totals")) == 2  # read the kept rows, write the new ones
        assert sum(1 for n in totals.values() if n["categories"]) > 50, "demo has findings"
    # Second read: nothing is counted or written again, and no summary is decoded.
    with sessions.begin() as session:
        before = kept_marks(session)
        _, sql = read_and_compare(session, sessions)
        assert not [s for s in sql if "INSERT" in s or "DELETE" in s]
        assert not [s for s in sql if "device_lesson_summaries.summary" in s]
        assert kept_marks(session) == before
    # A late upload after the totals were kept: that lesson alone is counted again.
    with sessions.begin() as session:
        group = schools.group(session, schools.school(session, demo_data.SCHOOL), "3B")
        late, device = _silent_pair(session, group.id)
        assert upload(session, device, late, now, "snipping_tool", 120) == "accepted"
    with sessions.begin() as session:
        _, sql = read_and_compare(session, sessions)
        after = kept_marks(session)
        assert {k for k in after if after[k] != before[k]} == {late.id}
        assert after[late.id][0] == before[late.id][0] + 1
        assert len([s for s in sql if "device_lesson_summaries.summary" in s]) == 1
    # An erasure: the device's lessons are counted again without it.
    with sessions.begin() as session:
        admin = session.scalars(select(User).where(User.role == "admin")).first()
        assert admin is not None
        erased = device.id
        its_lessons = set(
            session.scalars(
                select(DeviceLessonSummary.lesson_id).where(DeviceLessonSummary.device_id == erased)
            )
        )
        assert erase_device(session, actor=Actor.of_user(admin), device_id=erased, now=now) > 0
    with sessions.begin() as session:
        # No kept row counts the erased device, even before the next view recounts.
        assert not its_lessons & set(kept_marks(session))
        before = after
        _, sql = read_and_compare(session, sessions)
        after = kept_marks(session)
        assert {k for k in after if after[k] != before[k]} == its_lessons
    # A retired device: expected devices change, no summary does, nothing is counted again.
    with sessions.begin() as session:
        retired = session.scalars(select(Device).where(Device.group_id == group.id)).first()
        assert retired is not None
        retire(session, retired.id, now)
    with sessions.begin() as session:
        _, sql = read_and_compare(session, sessions)
        assert kept_marks(session) == after
        assert not [s for s in sql if "INSERT" in s]
    # The purge: lessons past retention read their frozen numbers and lose their totals.
    later = now + timedelta(days=14)
    with sessions.begin() as session:
        assert retention.purge(session, now=later).lessons_frozen > 0
    with sessions.begin() as session:
        read_and_compare(session, sessions)
        frozen = set(session.scalars(select(LessonAggregate.lesson_id)))
        assert frozen and not frozen & set(kept_marks(session))
        assert kept_marks(session), "lessons within retention keep their totals"
    # The next school year: lessons, totals and numbers all go.
    with sessions.begin() as session:
        assert retention.purge(session, now=datetime(2027, 8, 2, tzinfo=UTC)).lessons_deleted
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(LessonTotals)) == 0
        assert every_lesson(session) == []


def _silent_pair(session: Session, group_id: int) -> tuple[Lesson, Device]:
    """A finished lesson of the group whose totals are kept, and a device that sent nothing."""
    kept = set(session.scalars(select(LessonTotals.lesson_id)))
    group_devices = list(session.scalars(select(Device).where(Device.group_id == group_id)))
    for lesson in session.scalars(
        select(Lesson).where(Lesson.group_id == group_id, Lesson.end < NOW).order_by(Lesson.start)
    ):
        sent = set(
            session.scalars(
                select(DeviceLessonSummary.device_id).where(
                    DeviceLessonSummary.lesson_id == lesson.id
                )
            )
        )
        silent = [d for d in group_devices if d.id not in sent]
        if lesson.id in kept and silent:
            return lesson, silent[0]
    raise AssertionError("the demo has silent devices")


def test_a_lesson_nobody_reported_has_empty_totals_and_no_row(
    sessions: sessionmaker[Session],
) -> None:
    """Without summaries the totals are the report's zeroes, and nothing is kept for it."""
    with sessions.begin() as session:
        school = schools.school(session)
        lesson = lessons.add_lesson(
            session, school=school, group="1A", start=NOW, end=NOW + timedelta(hours=1), now=NOW
        )
        totals = lesson_totals.for_lessons(session, [lesson], expected=True)
        assert totals == {lesson.id: report_view(session, lesson)}
        assert totals[lesson.id] == {
            "devices_reporting": 0,
            "categories": [],
            "devices_expected": 0,
        }
        assert kept_marks(session) == {}


def test_many_lessons_are_read_in_chunks(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """More lessons than one IN list holds are read chunk by chunk, with the same numbers."""
    world = small_world(sessions, lessons_n=20, devices_n=3)
    with sessions.begin() as session:
        for k, lesson_id in enumerate(world.lesson_ids):
            lesson = session.get_one(Lesson, lesson_id)
            for d, device_id in enumerate(world.device_ids[: 1 + k % 3]):
                family = sorted(FAMILIES)[(k + d) % len(FAMILIES)]
                device = session.get_one(Device, device_id)
                assert upload(session, device, lesson, NOW, family, 60 * k) == "accepted"
    with sessions.begin() as session:
        whole, _ = read_and_compare(session, sessions)
    monkeypatch.setattr(lesson_totals, "CHUNK", 7)
    with sessions.begin() as session:
        session.execute(delete(LessonTotals))
        chunked, sql = read_and_compare(session, sessions)
        assert chunked == whole
        assert len(touching(sql, "lesson_aggregates")) == 3  # 20 lessons in chunks of 7


def one_device_reported(sessions: sessionmaker[Session]) -> Lesson:
    """A small world's first lesson, with one device's TikTok summary."""
    world = small_world(sessions)
    with sessions.begin() as session:
        lesson = session.get_one(Lesson, world.lesson_ids[0])
        device = session.get_one(Device, world.device_ids[0])
        assert upload(session, device, lesson, NOW, "tiktok", 300) == "accepted"
        return lesson


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("version", lesson_totals.VERSION + 1),  # counted by another version of this module
        ("summaries", 2),  # a summary erased since (or one more)
        ("last_summary_id", 0),  # an erasure and an upload since: as many, another newest id
        ("last_received_at", NOW - timedelta(days=1)),  # SQLite reused the erased newest id
    ],
)
def test_kept_totals_are_counted_again_when_any_part_of_the_mark_differs(
    sessions: sessionmaker[Session], column: str, value: object
) -> None:
    """Each part of the kept fingerprint, and the version, is compared: one that differs makes
    the lesson counted again (its kept numbers, spoiled here, are not trusted)."""
    lesson = one_device_reported(sessions)
    with sessions.begin() as session:
        read_and_compare(session, sessions)
        row = session.get_one(LessonTotals, lesson.id)
        kept = (row.version, row.summaries, row.last_summary_id, row.last_received_at)
        setattr(row, column, value)
        row.data = {"devices_reporting": 999, "categories": []}
    with sessions.begin() as session:
        read_and_compare(session, sessions)
        again = session.get_one(LessonTotals, lesson.id)
        assert (
            again.version,
            again.summaries,
            again.last_summary_id,
            again.last_received_at,
        ) == kept
        assert again.data["devices_reporting"] == 1


def test_unchanged_kept_totals_are_trusted(sessions: sessionmaker[Session]) -> None:
    """With the fingerprint unchanged the kept numbers are read as they are: spoiled by hand,
    they show (which is why only ``lesson_totals`` writes them)."""
    lesson = one_device_reported(sessions)
    with sessions.begin() as session:
        lesson_totals.for_lessons(session, [lesson])
        session.get_one(LessonTotals, lesson.id).data = {"devices_reporting": 7, "categories": []}
    with sessions.begin() as session:
        lesson = session.get_one(Lesson, lesson.id)
        assert lesson_totals.for_lessons(session, [lesson])[lesson.id]["devices_reporting"] == 7


# --- pure parts -------------------------------------------------------------------------------

END = NOW + timedelta(hours=1)


@pytest.mark.parametrize(
    ("enrolled", "expected"),
    [
        # nobody enrolled in the group
        ([], 0),
        # enrolled before the lesson ended count, at or after its end do not
        ([NOW - timedelta(days=3), NOW, END - timedelta(seconds=1)], 3),
        ([NOW, END], 1),
        ([END, END + timedelta(days=1)], 0),
    ],
)
def test_expected_devices_are_those_enrolled_before_the_lesson_ended(
    enrolled: list[datetime], expected: int
) -> None:
    """As the report counts them: a device enrolled during the lesson is expected, one enrolled
    as it ended is not."""
    lesson = Lesson(id="l_x", group_id=5, start=NOW, end=END)
    other = Lesson(id="l_y", group_id=6, start=NOW, end=END)
    counts = expected_counts([lesson, other], {5: enrolled})
    assert counts == {"l_x": expected, "l_y": 0}


def test_fingerprint_of_rows() -> None:
    """How many, the newest id and the newest receipt, whatever the order."""
    rows = [
        lesson_totals.Stored(7, "d1", NOW + timedelta(minutes=5), {}),
        lesson_totals.Stored(3, "d2", NOW + timedelta(minutes=9), {}),
    ]
    assert lesson_totals.fingerprint_of(rows) == lesson_totals.Fingerprint(
        2, 7, NOW + timedelta(minutes=9)
    )


# --- any order of uploads, erasures and views -------------------------------------------------

STEP = st.one_of(
    st.tuples(
        st.just("upload"),
        st.integers(0, 3),
        st.integers(0, 1),
        st.sampled_from(sorted(FAMILIES)),
        st.integers(0, 900),
    ),
    st.tuples(st.just("erase"), st.integers(0, 3)),
    st.tuples(st.just("view")),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, max_size=14))
def test_totals_follow_any_order_of_uploads_erasures_and_views(
    sessions: sessionmaker[Session], steps: list[tuple[Any, ...]]
) -> None:
    """Whatever happens between views, each view's totals equal the lessons' reports. Each
    example gets a group of its own in the shared database; the clock moves on every step, as a
    real one does (see the module docstring of ``service.lesson_totals``)."""
    world = small_world(sessions)
    clock = NOW
    for step in [*steps, ("view",)]:
        clock += timedelta(seconds=1)
        with sessions.begin() as session:
            if step[0] == "upload":
                _, d, k, family, seconds = step
                device = session.get(Device, world.device_ids[d])
                if device is not None:  # else erased
                    lesson = session.get_one(Lesson, world.lesson_ids[k])
                    assert upload(session, device, lesson, clock, family, seconds) == "accepted"
            elif step[0] == "erase":
                if session.get(Device, world.device_ids[step[1]]) is not None:
                    actor = Actor.of_user(session.get_one(User, world.admin_id))
                    erase_device(
                        session, actor=actor, device_id=world.device_ids[step[1]], now=clock
                    )
            else:
                rows = [session.get_one(Lesson, lid) for lid in world.lesson_ids]
                totals = lesson_totals.for_lessons(session, rows, expected=True)
                assert totals == {row.id: report_view(session, row) for row in rows}


def test_warm_keeps_the_totals_of_ended_lessons_ahead_of_their_first_view(
    sessions: sessionmaker[Session],
) -> None:
    """The serve process's periodic step: ended lessons with summaries get their totals kept,
    newest first and bounded per run, so a later view counts nothing; a lesson still running
    is left for its views."""
    world = small_world(sessions, lessons_n=3, devices_n=2)
    with sessions.begin() as session:
        rows = [session.get_one(Lesson, lesson_id) for lesson_id in world.lesson_ids]
        for device_id in world.device_ids:
            device = session.get_one(Device, device_id)
            for row in rows:
                assert upload(session, device, row, NOW, "telegram", 60) == "accepted"
        oldest, middle, newest = sorted(rows, key=lambda r: r.end)
        ids = {r.id for r in rows}
        # "now" falls after the middle lesson's end and before the newest's end.
        between = middle.end + (newest.end - middle.end) / 2
    with sessions.begin() as session:
        assert lesson_totals.warm(session, now=between, limit=1) == 1
        first = set(kept_marks(session)) & ids
    assert first == {middle.id}, "newest ended lesson first"
    with sessions.begin() as session:
        assert lesson_totals.warm(session, now=between) == 1
        assert set(kept_marks(session)) & ids == {oldest.id, middle.id}
    with sessions.begin() as session:
        ended = [session.get_one(Lesson, oldest.id), session.get_one(Lesson, middle.id)]
        with recorded(sessions) as sql:
            totals = lesson_totals.for_lessons(session, ended)
        assert not [s for s in sql if "device_lesson_summaries.summary" in s]
        assert totals == {
            row.id: {k: v for k, v in report_view(session, row).items() if k != "devices_expected"}
            for row in ended
        }


def test_a_fingerprint_shared_in_another_school_does_not_hide_a_device_from_its_own(
    sessions: sessionmaker[Session],
) -> None:
    """A device counts unless its fingerprint is shared within its own school, as the report
    judges it; a recount of both schools' lessons at once must not pool their fingerprints
    (older agents sent an unkeyed fingerprint, the same for a machine id in any school)."""
    world = small_world(sessions, lessons_n=1, devices_n=1)
    tag = uuid.uuid4().hex[:8]
    same = "f" * 64
    with sessions.begin() as session:
        mine = session.get(Device, world.device_ids[0])
        assert mine is not None
        mine.fingerprint = same
        other = schools.school(session, f"Other {tag}")
        theirs = lessons.add_lesson(
            session,
            school=other,
            group=f"H{tag}",
            start=NOW - timedelta(hours=3),
            end=NOW - timedelta(hours=2),
            now=NOW,
        )
        clones = [
            add_device(session, theirs, enrolled_at=NOW - timedelta(days=1), fingerprint=same)
            for _ in range(2)
        ]
        lesson = session.get(Lesson, world.lesson_ids[0])
        assert lesson is not None
        assert upload(session, mine, lesson, NOW, "telegram", 300) == "accepted"
        for clone in clones:
            assert upload(session, clone, theirs, NOW, "telegram", 300) == "accepted"
    with sessions.begin() as session:
        both = [session.get(Lesson, lesson.id), session.get(Lesson, theirs.id)]
        assert all(row is not None for row in both)
        totals = lesson_totals.for_lessons(session, both, expected=True)  # type: ignore[arg-type]
        assert totals[lesson.id] == report_view(session, lesson)
        assert totals[lesson.id]["devices_reporting"] == 1  # counted in its own school
        assert totals[theirs.id] == report_view(session, theirs)
        assert totals[theirs.id]["devices_reporting"] == 0  # clones within theirs: not counted
