"""One lesson's report: the one operation behind the report page (and its JSON), the JSON API
``GET /api/v1/lessons/{id}/report`` and ``lessonwatch-service report``.

It checks that the actor may open the lesson (``service.access``), reads the frozen numbers or
counts them from the summaries, applies the small-count rule (``suppress_small_counts``) for
every role and every surface, and writes one ``report.view`` audit entry. Nothing here names a
device: per-device numbers exist only on the audited device view.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import access, audit
from service.actors import Actor
from service.lessons import records as lessons
from service.models import Device, DeviceLessonSummary, Lesson, LessonAggregate, School
from service.reports.numbers import (
    Reporter,
    counted_devices,
    report_numbers,
    suppress_small_counts,
)
from service.reports.stored import readable
from service.timetable_store import holidays

# Lessons counted per batch of ``numbers_of``: their summaries (some 30 a lesson) are read in
# one statement and held in memory together, and the ids stay within both backends' bound
# parameter limits.
BATCH = 500


class GroupSpan(Protocol):
    """What the expected devices need of a lesson: a ``Lesson`` row, or only these columns."""

    @property
    def id(self) -> str: ...
    @property
    def group_id(self) -> int: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...


class LessonSpan(GroupSpan, Protocol):
    """What the report's numbers need of a lesson: its school's devices decide which count."""

    @property
    def school_id(self) -> int: ...


@dataclass(frozen=True)
class StoredRow:
    """One stored summary of a lesson with what the small-count rule reads of its device."""

    id: int
    device_id: str
    summary: dict[str, Any]
    enrolled_at: datetime
    fingerprint: str | None


# --- decide: pure ----------------------------------------------------------------------------


def lesson_numbers(
    lesson: GroupSpan, *, expected: int, rows: Sequence[StoredRow], shared: Collection[str]
) -> dict[str, Any]:
    """The report numbers of one lesson from its stored summaries (in id order), the devices its
    group expected, and the fingerprints shared in its school: the one place the report's
    numbers are made from rows, for a report read live and for the purge freezing them."""
    counted = counted_devices(
        [Reporter(r.device_id, r.enrolled_at, r.fingerprint) for r in rows],
        lesson_start=lesson.start,
        shared=shared,
    )
    summaries, unreadable = readable(
        (r.id, r.device_id, r.summary) for r in rows if r.device_id in counted
    )
    return report_numbers(
        lesson_start=lesson.start,
        lesson_end=lesson.end,
        devices_expected=expected,
        summaries=summaries,
        unreadable=unreadable,
    )


def expected_counts(
    lessons: Sequence[GroupSpan], enrolled: Mapping[int, Sequence[datetime]]
) -> dict[str, int]:
    """Per lesson the devices its report expects: its group's active devices enrolled before the
    lesson ended, from each group's sorted enrolment times."""
    return {
        lesson.id: bisect_left(enrolled.get(lesson.group_id, ()), lesson.end) for lesson in lessons
    }


# --- gather ----------------------------------------------------------------------------------


def live_numbers(session: Session, lesson: LessonSpan) -> dict[str, Any]:
    """The report numbers of one lesson, counted from its summaries."""
    return numbers_of(session, [lesson])[lesson.id]


def numbers_of(session: Session, lessons: Sequence[LessonSpan]) -> dict[str, dict[str, Any]]:
    """Per lesson id the report numbers counted from its summaries, as ``live_numbers`` counts
    them one lesson at a time, in three statements per ``BATCH`` lessons: the purge freezes a
    school day's lessons at once, and four statements a lesson were 90 % of its time."""
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(lessons), BATCH):
        batch = lessons[i : i + BATCH]
        expected = expected_counts(batch, enrolments(session, {x.group_id for x in batch}))
        shared = shared_by_school(session, {x.school_id for x in batch})
        rows = _stored_rows(session, [x.id for x in batch])
        for lesson in batch:
            out[lesson.id] = lesson_numbers(
                lesson,
                expected=expected[lesson.id],
                rows=rows.get(lesson.id, ()),
                shared=shared.get(lesson.school_id, set()),
            )
    return out


def _stored_rows(session: Session, lesson_ids: Sequence[str]) -> dict[str, list[StoredRow]]:
    """The lessons' summaries with their devices, per lesson in id order."""
    s = DeviceLessonSummary
    found = session.execute(
        select(s.lesson_id, s.id, s.device_id, s.summary, Device.enrolled_at, Device.fingerprint)
        .join(Device, Device.id == s.device_id)
        .where(s.lesson_id.in_(lesson_ids))
        .order_by(s.id)
    )
    out: dict[str, list[StoredRow]] = defaultdict(list)
    for lesson_id, row_id, device_id, data, enrolled_at, fingerprint in found:
        out[lesson_id].append(StoredRow(row_id, device_id, data, enrolled_at, fingerprint))
    return out


def enrolments(session: Session, groups: Collection[int]) -> dict[int, list[datetime]]:
    """Per group the sorted enrolment times of its active devices."""
    if not groups:
        return {}
    query = (
        select(Device.group_id, Device.enrolled_at)
        .where(Device.group_id.in_(groups), Device.retired.is_(False))
        .order_by(Device.group_id, Device.enrolled_at)
    )
    out: dict[int, list[datetime]] = defaultdict(list)
    for group_id, enrolled_at in session.execute(query):
        out[group_id].append(enrolled_at)
    return out


def shared_fingerprints(session: Session, school_ids: Collection[int]) -> set[str]:
    """Fingerprints of more than one active device of one of these schools: clones, or made-up
    devices. Such devices do not count in the reports (``numbers.counted_devices``)."""
    return set().union(*shared_by_school(session, school_ids).values())


def shared_by_school(session: Session, school_ids: Collection[int]) -> dict[int, set[str]]:
    """``shared_fingerprints`` per school, so a lesson is judged by its own school's devices."""
    query = (
        select(Device.school_id, Device.fingerprint)
        .where(Device.school_id.in_(school_ids), Device.retired.is_(False))
        .where(Device.fingerprint.is_not(None))
        .group_by(Device.school_id, Device.fingerprint)
        .having(func.count() > 1)
    )
    out: dict[int, set[str]] = defaultdict(set)
    for school_id, fingerprint in session.execute(query):
        if fingerprint:
            out[school_id].add(fingerprint)
    return out


def stored_numbers(session: Session, lesson: Lesson) -> dict[str, Any]:
    """The report numbers: frozen by the retention purge, else counted from the summaries."""
    frozen = session.get(LessonAggregate, lesson.id)
    return frozen.data if frozen is not None else live_numbers(session, lesson)


def lesson_report(
    session: Session, *, lesson_id: str, actor: Actor, now: datetime
) -> dict[str, Any]:
    """The report as every surface shows it: counts of too few devices suppressed."""
    row = lessons.get_lesson(session, lesson_id)
    access.require_lesson(actor, row.lesson, lesson_id)
    school = session.get_one(School, row.lesson.school_id)
    # Nothing is monitored in a holiday of the school's region: the report says why it is empty.
    holiday = holidays.in_holiday(session, school, [row.lesson]).get(lesson_id)
    frozen = session.get(LessonAggregate, lesson_id)
    numbers = frozen.data if frozen is not None else live_numbers(session, row.lesson)
    report: dict[str, Any] = {
        "lesson": row.to_json(),
        "source": "aggregate" if frozen is not None else "summaries",
        **numbers,
        "permissions": [
            {**lessons.permission_json(p), "note": p.note}
            for p in lessons.permissions_for(session, [lesson_id])
        ],
    }
    if holiday is not None:
        report["holiday"] = holiday  # present only then, as in the lesson listings
    audit.record(
        session,
        actor=actor,
        school_id=school.id,
        action="report.view",
        obj=f"lesson:{lesson_id}",
        now=now,
    )
    return suppress_small_counts(report, school.small_count_threshold)
