"""One lesson's report: the one operation behind the report page (and its JSON), the JSON API
``GET /api/v1/lessons/{id}/report`` and ``lessonwatch-service report``.

It checks that the actor may open the lesson (``service.access``), reads the frozen numbers or
counts them from the summaries, applies the small-count rule (``suppress_small_counts``) for
every role and every surface, and writes one ``report.view`` audit entry. Nothing here names a
device: per-device numbers exist only on the audited device view.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

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


def live_numbers(session: Session, lesson: Lesson) -> dict[str, Any]:
    expected = session.scalar(
        select(func.count())
        .select_from(Device)
        .where(
            Device.group_id == lesson.group_id,
            Device.retired.is_(False),
            Device.enrolled_at < lesson.end,
        )
    )
    s = DeviceLessonSummary
    rows = session.execute(
        select(s.id, s.device_id, s.summary, Device.enrolled_at, Device.fingerprint)
        .join(Device, Device.id == s.device_id)
        .where(s.lesson_id == lesson.id)
        .order_by(s.id)
    ).all()
    counted = counted_devices(
        [Reporter(r.device_id, r.enrolled_at, r.fingerprint) for r in rows],
        lesson_start=lesson.start,
        shared=shared_fingerprints(session, [lesson.school_id]),
    )
    summaries, unreadable = readable(
        (r.id, r.device_id, r.summary) for r in rows if r.device_id in counted
    )
    return report_numbers(
        lesson_start=lesson.start,
        lesson_end=lesson.end,
        devices_expected=expected or 0,
        summaries=summaries,
        unreadable=unreadable,
    )


def shared_fingerprints(session: Session, school_ids: Collection[int]) -> set[str]:
    """Fingerprints of more than one active device of one of these schools: clones, or made-up
    devices. Such devices do not count in the reports (``numbers.counted_devices``)."""
    query = (
        select(Device.fingerprint)
        .where(Device.school_id.in_(school_ids), Device.retired.is_(False))
        .where(Device.fingerprint.is_not(None))
        .group_by(Device.school_id, Device.fingerprint)
        .having(func.count() > 1)
    )
    return {fp for fp in session.scalars(query) if fp}


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
